"""Video Depth Anything model, variant detection and weight loading (torch only).

Public API
----------
``VDAConfig``                       encoder/head configuration (``VDA_CONFIGS`` for vits/vitb/vitl)
``VideoDepthAnything(cfg)``         ``forward(x: (B, T, 3, H, W)) -> (B, T, H, W)`` relative inverse depth
``detect_config(state_dict)``       variant from tensor shapes (``ValueError`` for unknown/mismatched files)
``load_state_dict_file(path)``      ``.safetensors`` / ``.pth`` (``weights_only=True``) -> flat dict of tensors
``load_vda(src, config=None, metric=None, device="cpu", dtype=torch.float32)``
                                    build + strict load; ``src`` is a path or a state dict

The module tree uses the upstream attribute names (``pretrained.*``, ``head.*``)
so official ``video_depth_anything_{vits,vitb,vitl}.pth`` load with
``strict=True`` (351 / 351 / 519 keys). Licences: vits Apache-2.0, vitb/vitl
CC-BY-NC-4.0 (``LICENCES``) -- callers should warn for the latter.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .dinov2 import DINOv2, PATCH, ViTConfig
from .dpt import DPTHead


@dataclass(frozen=True)
class VDAConfig:
    name: str
    vit: ViTConfig
    layers: tuple
    features: int
    out_channels: tuple
    max_frames: int = 32
    metric: bool = False
    temporal: bool = True


VDA_CONFIGS = {
    "vits": VDAConfig("vits", ViTConfig(384, 12, 6), (2, 5, 8, 11), 64, (48, 96, 192, 384)),
    "vitb": VDAConfig("vitb", ViTConfig(768, 12, 12), (2, 5, 8, 11), 128, (96, 192, 384, 768)),
    "vitl": VDAConfig("vitl", ViTConfig(1024, 24, 16), (4, 11, 17, 23), 256, (256, 512, 1024, 1024)),
}

LICENCES = {"vits": "Apache-2.0", "vitb": "CC-BY-NC-4.0", "vitl": "CC-BY-NC-4.0"}
WEIGHT_FILES = {k: f"video_depth_anything_{k}.pth" for k in VDA_CONFIGS}


class VideoDepthAnything(nn.Module):
    def __init__(self, cfg: VDAConfig):
        super().__init__()
        self.cfg = cfg
        self.pretrained = DINOv2(cfg.vit)
        self.head = DPTHead(cfg.vit.dim, cfg.features, cfg.out_channels, temporal=cfg.temporal,
                            max_frames=cfg.max_frames)

    @property
    def metric(self) -> bool:
        return self.cfg.metric

    def forward(self, x: torch.Tensor, encoder_chunk: int = 0) -> torch.Tensor:
        """x: (B, T, 3, H, W), H and W multiples of 14 -> (B, T, H, W) (ReLU'd)."""
        b, t, _, h, w = x.shape
        if h % PATCH or w % PATCH:
            raise ValueError(f"input size {h}x{w} must be a multiple of {PATCH}")
        ph, pw = h // PATCH, w // PATCH
        flat = x.flatten(0, 1)
        if encoder_chunk and flat.shape[0] > encoder_chunk:  # per-frame encoder: chunking is exact
            parts = [self.pretrained.get_intermediate_layers(flat[i:i + encoder_chunk], self.cfg.layers)
                     for i in range(0, flat.shape[0], encoder_chunk)]
            tokens = [torch.cat([p[k] for p in parts], 0) for k in range(len(self.cfg.layers))]
        else:
            tokens = self.pretrained.get_intermediate_layers(flat, self.cfg.layers)
        d = self.head(tokens, ph, pw, t)
        d = F.interpolate(d, size=(h, w), mode="bilinear", align_corners=True)
        return F.relu(d).squeeze(1).unflatten(0, (b, t))


# ----------------------------------------------------------------------------- loading

def _unwrap(sd):
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError("weights file does not contain a flat tensor state dict")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def load_state_dict_file(path) -> dict:
    """Load ``.safetensors`` or ``.pth``/``.pt``/``.bin`` (torch.load weights_only=True) on CPU."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"depth weights not found: {path}")
    if path.lower().endswith(".safetensors"):
        from safetensors.torch import load_file

        return _unwrap(load_file(path, device="cpu"))
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (non-zip) files cannot be mmapped
        sd = torch.load(path, map_location="cpu", weights_only=True)
    return _unwrap(sd)


def _count_blocks(sd, prefix="pretrained.blocks.") -> int:
    idx = {int(k[len(prefix):].split(".")[0]) for k in sd if k.startswith(prefix)}
    return max(idx) + 1 if idx else 0


def detect_config(sd: dict, metric: bool | None = None, name_hint: str = "") -> VDAConfig:
    """Pick the VDA variant from tensor shapes (not the file name)."""
    if any(k.startswith("depth_head.") for k in sd):
        raise ValueError("this is a Depth Anything V2 (per-image) checkpoint, not Video Depth Anything: "
                         "it has 'depth_head.*' keys and no temporal modules")
    if "pretrained.pos_embed" not in sd:
        raise ValueError("not a Video Depth Anything checkpoint: key 'pretrained.pos_embed' is missing "
                         f"(first keys: {sorted(sd)[:5]})")
    if not any(k.startswith("head.motion_modules.") for k in sd):
        raise ValueError("checkpoint has no 'head.motion_modules.*' keys: not a Video Depth Anything checkpoint")
    dim = int(sd["pretrained.pos_embed"].shape[-1])
    depth = _count_blocks(sd)
    for cfg in VDA_CONFIGS.values():
        if cfg.vit.dim == dim and cfg.vit.depth == depth:
            break
    else:
        raise ValueError(f"unrecognised Video Depth Anything variant: embed dim {dim}, {depth} blocks "
                         "(expected vits 384/12, vitb 768/12, vitl 1024/24)")
    feat = sd.get("head.scratch.layer1_rn.weight")
    if feat is not None and int(feat.shape[0]) != cfg.features:
        raise ValueError(f"{cfg.name} checkpoint has DPT features {int(feat.shape[0])}, expected {cfg.features}")
    if metric is None:
        metric = "metric" in name_hint.lower()
    return VDAConfig(cfg.name, cfg.vit, cfg.layers, cfg.features, cfg.out_channels, cfg.max_frames, metric)


def _format_keys(keys, limit=12) -> str:
    keys = list(keys)
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_vda(src, config: VDAConfig | None = None, metric: bool | None = None,
             device="cpu", dtype: torch.dtype = torch.float32) -> VideoDepthAnything:
    """Build the model and load weights strictly. ``src``: path or state dict."""
    name = os.fspath(src) if isinstance(src, (str, os.PathLike)) else ""
    sd = load_state_dict_file(src) if name else _unwrap(src)
    if config is None:
        config = detect_config(sd, metric=metric, name_hint=os.path.basename(name))
    elif metric is not None and metric != config.metric:
        config = VDAConfig(config.name, config.vit, config.layers, config.features, config.out_channels,
                           config.max_frames, metric, config.temporal)
    with torch.device("meta"):
        model = VideoDepthAnything(config)
    # the sinusoidal pe buffers are recomputed, whatever the file holds (or lacks)
    for key, buf in _fresh_pe_buffers(config).items():
        if key in sd and tuple(sd[key].shape) != tuple(buf.shape):
            raise ValueError(f"{key}: shape {tuple(sd[key].shape)} in file, expected {tuple(buf.shape)}")
        sd[key] = buf
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    bad = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
           for k, v in expected.items() if k in sd and tuple(sd[k].shape) != tuple(v.shape)]
    if missing or unexpected or bad:
        msg = [f"weights do not match Video Depth Anything {config.name}"]
        if missing:
            msg.append(f"missing keys ({len(missing)}): {_format_keys(missing)}")
        if unexpected:
            msg.append(f"unexpected keys ({len(unexpected)}): {_format_keys(unexpected)}")
        if bad:
            msg.append(f"shape mismatches ({len(bad)}): {_format_keys(bad, 6)}")
        raise ValueError("; ".join(msg))
    model.load_state_dict(sd, strict=True, assign=True)
    return model.to(device=device, dtype=dtype).eval()


def _fresh_pe_buffers(cfg: VDAConfig) -> dict:
    from .temporal import sinusoidal_table

    if not cfg.temporal:
        return {}
    chans = [cfg.out_channels[2], cfg.out_channels[3], cfg.features, cfg.features]
    out = {}
    for m, c in enumerate(chans):
        for a in range(2):
            out[f"head.motion_modules.{m}.temporal_transformer.transformer_blocks.0."
                f"attention_blocks.{a}.pos_encoder.pe"] = sinusoidal_table(cfg.max_frames, c)
    return out


def build_random(cfg: VDAConfig, seed: int = 0, std: float = 0.02) -> VideoDepthAnything:
    """A model with every parameter randomised (proj_out included; tests / parity checks)."""
    g = torch.Generator().manual_seed(seed)
    model = VideoDepthAnything(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(1.0 + std * torch.randn(p.shape, generator=g))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else 0
                s = (1.0 / fan_in) ** 0.5 if fan_in else std
                p.copy_(s * torch.randn(p.shape, generator=g))
    return model.eval()
