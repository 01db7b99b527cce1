"""DPT depth head (Depth Anything V2 layout) plus the temporal variant of VDA.

Pure module (torch). Attribute names follow upstream (``head.*`` in VDA,
``depth_head.*`` in DAv2)::

    projects.{0-3}, resize_layers.{0,1,3}, scratch.layer{1-4}_rn (no bias),
    scratch.refinenet{1-4}.{out_conv, resConfUnit{1,2}.conv{1,2}},
    scratch.output_conv1, scratch.output_conv2.{0,2}, [motion_modules.{0-3}]
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .temporal import TemporalModule

PATCH = 14


class ResidualConvUnit(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, 1, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(F.relu(x)))) + x


class FeatureFusionBlock(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1, 1, 0, bias=True)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None, size=None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            x = F.interpolate(x, size=tuple(int(s) for s in size), mode="bilinear", align_corners=True)
        return self.out_conv(x)


class _Scratch(nn.Module):
    def __init__(self, in_channels, features: int):
        super().__init__()
        for i, c in enumerate(in_channels, start=1):
            setattr(self, f"layer{i}_rn", nn.Conv2d(c, features, 3, 1, 1, bias=False))
        for i in range(1, 5):
            setattr(self, f"refinenet{i}", FeatureFusionBlock(features))
        self.output_conv1 = nn.Conv2d(features, features // 2, 3, 1, 1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 1, 1, 1, 0), nn.ReLU()
        )


def _fp32_output_conv(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Upstream runs output_conv2 in fp32 with autocast disabled."""
    dtype = x.dtype
    wdtype = conv[0].weight.dtype  # fp32 weights under autocast; the model's dtype otherwise
    with torch.autocast(device_type=x.device.type, enabled=False):
        return conv(x.to(wdtype)).to(dtype)


class DPTHead(nn.Module):
    """Per-frame DPT head. ``temporal=True`` adds the four VDA motion modules."""

    def __init__(self, in_dim: int, features: int, out_channels, temporal: bool = False,
                 max_frames: int = 32, temporal_heads: int = 8):
        super().__init__()
        oc = list(out_channels)
        self.projects = nn.ModuleList(nn.Conv2d(in_dim, c, 1, 1, 0) for c in oc)
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(oc[0], oc[0], kernel_size=4, stride=4, padding=0),
            nn.ConvTranspose2d(oc[1], oc[1], kernel_size=2, stride=2, padding=0),
            nn.Identity(),
            nn.Conv2d(oc[3], oc[3], kernel_size=3, stride=2, padding=1),
        ])
        self.scratch = _Scratch(oc, features)
        self.temporal = temporal
        if temporal:
            self.motion_modules = nn.ModuleList([
                TemporalModule(oc[2], temporal_heads, max_frames),
                TemporalModule(oc[3], temporal_heads, max_frames),
                TemporalModule(features, temporal_heads, max_frames),
                TemporalModule(features, temporal_heads, max_frames),
            ])

    def _mm(self, i: int, x: torch.Tensor, frames: int) -> torch.Tensor:
        return self.motion_modules[i].apply_frames(x, frames) if self.temporal else x

    def forward(self, tokens, patch_h: int, patch_w: int, frames: int = 1, micro_batch: int = 4) -> torch.Tensor:
        """tokens: 4 tensors (B*T, ph*pw, C) -> depth (B*T, 1, 14*ph, 14*pw), pre-ReLU'd by the conv head."""
        feats = []
        for i, t in enumerate(tokens):
            x = t.permute(0, 2, 1).reshape(t.shape[0], t.shape[-1], patch_h, patch_w)
            feats.append(self.resize_layers[i](self.projects[i](x)))
        l1, l2, l3, l4 = feats
        l3 = self._mm(0, l3, frames)
        l4 = self._mm(1, l4, frames)
        s = self.scratch
        r1, r2, r3, r4 = s.layer1_rn(l1), s.layer2_rn(l2), s.layer3_rn(l3), s.layer4_rn(l4)
        p4 = self._mm(2, s.refinenet4(r4, size=r3.shape[2:]), frames)
        p3 = self._mm(3, s.refinenet3(p4, r3, size=r2.shape[2:]), frames)
        out_hw = (int(patch_h * PATCH), int(patch_w * PATCH))
        outs = []
        n = r1.shape[0]
        step = micro_batch if (micro_batch and n > micro_batch) else n
        for a in range(0, n, step):  # per-frame ops: micro-batching bounds hi-res activations
            p2 = s.refinenet2(p3[a:a + step], r2[a:a + step], size=r1.shape[2:])
            p1 = s.refinenet1(p2, r1[a:a + step])
            y = s.output_conv1(p1)
            y = F.interpolate(y, out_hw, mode="bilinear", align_corners=True)
            outs.append(_fp32_output_conv(s.output_conv2, y))
        return torch.cat(outs, 0) if len(outs) > 1 else outs[0]
