"""Temporal (motion) modules of Video Depth Anything, AnimateDiff style.

Pure module (torch + einops). Attribute names follow the upstream checkpoint
(``head.motion_modules.N.temporal_transformer.*``)::

    norm (GroupNorm 32, eps 1e-6), proj_in, proj_out,
    transformer_blocks.0.attention_blocks.{0,1}.{to_q, to_k, to_v (no bias), to_out.0, pos_encoder.pe},
    transformer_blocks.0.norms.{0,1}, transformer_blocks.0.ff.net.{0.proj, 2}, transformer_blocks.0.ff_norm

Attention runs along time only: sequence = frames, batch = (B * H * W) tokens.
A sinusoidal absolute positional encoding (``pe``, max_len 32, a persistent
buffer) is added to the normed input of each attention before q/k/v.
GroupNorm acts per frame (frames are folded into the batch first).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def sinusoidal_table(max_len: int, dim: int) -> torch.Tensor:
    """(1, max_len, dim): sin on even channels, cos on odd channels."""
    # built on CPU explicitly (cheap, and avoids meta-device reference kernels when the model is built on meta)
    pos = torch.arange(max_len, dtype=torch.float32, device="cpu").unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device="cpu") * (-math.log(10000.0) / dim))
    pe = torch.zeros(1, max_len, dim, device="cpu")
    pe[0, :, 0::2] = torch.sin(pos * div)
    pe[0, :, 1::2] = torch.cos(pos * div)
    return pe


class PositionalEncoding(nn.Module):
    def __init__(self, dim: int, max_len: int):
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(max_len, dim), persistent=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.pe.shape[1]:
            raise ValueError(f"temporal window of {x.shape[1]} frames exceeds max_len {self.pe.shape[1]}")
        return x + self.pe[:, : x.shape[1]].to(x.dtype)


class TemporalAttention(nn.Module):
    def __init__(self, dim: int, heads: int, max_len: int):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.pos_encoder = PositionalEncoding(dim, max_len)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        # x: ((b f), d, c) -> ((b d), f, c)
        d = x.shape[1]
        x = rearrange(x, "(b f) d c -> (b d) f c", f=frames)
        x = self.pos_encoder(x)
        q, k, v = (rearrange(p(x), "n f (h c) -> n h f c", h=self.heads) for p in (self.to_q, self.to_k, self.to_v))
        y = F.scaled_dot_product_attention(q, k, v)
        y = self.to_out[0](rearrange(y, "n h f c -> n f (h c)"))
        return rearrange(y, "(b d) f c -> (b f) d c", d=d)


class GEGLU(nn.Module):
    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[2](self.net[0](x))


class TemporalTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, max_len: int, n_attn: int = 2):
        super().__init__()
        self.attention_blocks = nn.ModuleList(TemporalAttention(dim, heads, max_len) for _ in range(n_attn))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(n_attn))
        self.ff = FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        for attn, norm in zip(self.attention_blocks, self.norms):
            x = attn(norm(x), frames) + x
        return self.ff(self.ff_norm(x)) + x


class TemporalTransformer3D(nn.Module):
    def __init__(self, channels: int, heads: int = 8, max_len: int = 32, n_blocks: int = 1, groups: int = 32):
        super().__init__()
        if channels % groups or channels % heads:
            raise ValueError(f"temporal module channels {channels} must be divisible by {groups} groups and {heads} heads")
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6, affine=True)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList(
            TemporalTransformerBlock(channels, heads, max_len) for _ in range(n_blocks)
        )
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (b, c, f, h, w)
        frames = x.shape[2]
        x = rearrange(x, "b c f h w -> (b f) c h w")
        residual = x
        n, c, h, w = x.shape
        y = self.norm(x).permute(0, 2, 3, 1).reshape(n, h * w, c)
        y = self.proj_in(y)
        for blk in self.transformer_blocks:
            y = blk(y, frames)
        y = self.proj_out(y).reshape(n, h, w, c).permute(0, 3, 1, 2)
        return rearrange(y + residual, "(b f) c h w -> b c f h w", f=frames)


class TemporalModule(nn.Module):
    def __init__(self, channels: int, heads: int = 8, max_len: int = 32):
        super().__init__()
        self.temporal_transformer = TemporalTransformer3D(channels, heads, max_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.temporal_transformer(x)

    def apply_frames(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """(B*T, C, H, W) -> same, attending across the T frames of each clip."""
        y = self.temporal_transformer(rearrange(x, "(b t) c h w -> b c t h w", t=frames))
        return rearrange(y, "b c t h w -> (b t) c h w")
