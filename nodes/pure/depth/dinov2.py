"""DINOv2 ViT encoder (S/B/L) with the upstream attribute names.

Pure module (torch only). Attribute names follow the upstream checkpoints
(``pretrained.*`` in Video Depth Anything / Depth Anything V2), so state dicts
load with ``strict=True`` without any key remapping:

``cls_token, pos_embed, mask_token, patch_embed.proj.*,
blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2, ls2.gamma}.*, norm.*``

Behaviour notes (DINOv2, github.com/facebookresearch/dinov2, as Video Depth Anything uses it):
- patch 14, trained grid 37x37 (img_size 518), LayerScale, GELU MLP (x4),
  no register tokens, LayerNorm eps 1e-6;
- positional-embedding interpolation is bicubic, *called with scale_factor*
  ``((h0 + 0.1) / M, (w0 + 0.1) / M)`` (no antialias), exactly as upstream;
- attention runs through ``F.scaled_dot_product_attention`` (no N x N matrix).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

PATCH = 14
INTERPOLATE_OFFSET = 0.1


@dataclass(frozen=True)
class ViTConfig:
    dim: int
    depth: int
    heads: int
    img_size: int = 518
    mlp_ratio: float = 4.0


VIT_CONFIGS = {
    "vits": ViTConfig(dim=384, depth=12, heads=6),
    "vitb": ViTConfig(dim=768, depth=12, heads=12),
    "vitl": ViTConfig(dim=1024, depth=24, heads=16),
}


class PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int = PATCH):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


class LayerScale(nn.Module):
    def __init__(self, dim: int, init: float = 1.0):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DINOv2(nn.Module):
    """ViT encoder; ``get_intermediate_layers`` returns normed patch tokens."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_dim = cfg.dim
        grid = cfg.img_size // PATCH
        self.patch_embed = PatchEmbed(cfg.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, cfg.dim))
        self.mask_token = nn.Parameter(torch.zeros(1, cfg.dim))  # unused at inference; kept for strict loading
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)

    def interpolate_pos_encoding(self, n_patches: int, h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
        pos = self.pos_embed
        n_ref = pos.shape[1] - 1
        if n_patches == n_ref and h == w:
            return pos
        pos = pos.float()
        m = int(math.sqrt(n_ref))
        assert m * m == n_ref, "pos_embed is not a square grid"
        h0, w0 = h // PATCH, w // PATCH
        grid = pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2)
        scale = ((h0 + INTERPOLATE_OFFSET) / m, (w0 + INTERPOLATE_OFFSET) / m)
        grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=False)
        if tuple(grid.shape[-2:]) != (h0, w0):
            raise RuntimeError(f"pos-embed interpolation gave {tuple(grid.shape[-2:])}, expected {(h0, w0)}")
        grid = grid.permute(0, 2, 3, 1).reshape(1, h0 * w0, -1)
        return torch.cat((pos[:, :1], grid), dim=1).to(dtype)

    def prepare_tokens(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        t = self.patch_embed(x)
        t = torch.cat((self.cls_token.expand(t.shape[0], -1, -1).to(t.dtype), t), dim=1)
        return t + self.interpolate_pos_encoding(t.shape[1] - 1, h, w, t.dtype)

    def get_intermediate_layers(self, x: torch.Tensor, layers) -> list[torch.Tensor]:
        """Patch tokens (B, N, C) after the final LayerNorm for each tapped block index."""
        wanted = sorted(set(int(i) for i in layers))
        t = self.prepare_tokens(x)
        found = {}
        for i, blk in enumerate(self.blocks):
            t = blk(t)
            if i in wanted:
                found[i] = self.norm(t)[:, 1:]
            if i >= wanted[-1]:
                break
        return [found[int(i)] for i in layers]
