"""Whole-clip depth normalisation to a gray IMAGE (near = white).

Pure module (torch). ``gray = (d - min) / (max - min + 1e-6)`` with min/max
over the *whole clip* at output resolution (global normalisation keeps VDA
flicker-free), repeated to 3 channels. Metric depth (far = large) is inverted
so that near is still white. Two chunked passes: min/max, then write.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..pixels import float_to_uint8_round

EPS = 1e-6


def _upsampled(depth: torch.Tensor, out_hw, a: int, b: int, device) -> torch.Tensor:
    d = depth[a:b].to(device=device, dtype=torch.float32)
    if tuple(d.shape[-2:]) != tuple(out_hw):
        d = F.interpolate(d.unsqueeze(1), size=tuple(out_hw), mode="bilinear", align_corners=True).squeeze(1)
    return d


def clip_minmax(depth: torch.Tensor, out_hw=None, chunk: int = 16, device=None) -> tuple[float, float]:
    """Global (min, max) of the depth upsampled to ``out_hw`` (bilinear, align_corners=True)."""
    out_hw = tuple(depth.shape[-2:]) if out_hw is None else tuple(out_hw)
    lo, hi = float("inf"), float("-inf")
    for a in range(0, depth.shape[0], chunk):
        d = _upsampled(depth, out_hw, a, a + chunk, device or depth.device)
        lo = min(lo, float(d.min()))
        hi = max(hi, float(d.max()))
    return lo, hi


def gray_chunk(depth: torch.Tensor, lo: float, hi: float, a: int, b: int, out_hw, *,
               invert: bool = False, device=None) -> torch.Tensor:
    """Frames ``a:b`` of the gray control: float32 (k, H, W) in [0, 1] on ``device``, near = white."""
    g = ((_upsampled(depth, out_hw, a, b, device or depth.device) - lo) * (1.0 / (hi - lo + EPS))).clamp_(0.0, 1.0)
    return g.neg_().add_(1.0) if invert else g


def depth_to_gray(
    depth: torch.Tensor,
    out_hw=None,
    *,
    invert: bool = False,
    chunk: int = 16,
    device=None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    out: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """depth (N, h, w) -> (N, H, W, 3) in [0, 1] (float32) or 0..255 (uint8) on CPU; near = white.

    ``invert=True`` for metric depth (far = large). NaN-free for constant clips.
    Written ``chunk`` frames at a time into ``out`` (pre-allocated (N, H, W, 3)
    float32 or uint8, any strides) or a new tensor of ``dtype``; uint8 is rounded.
    """
    out_hw = tuple(depth.shape[-2:]) if out_hw is None else tuple(out_hw)
    device = device or depth.device
    lo, hi = clip_minmax(depth, out_hw, chunk, device)
    n = depth.shape[0]
    if out is None:
        out = torch.empty((n, out_hw[0], out_hw[1], 3), dtype=dtype)
    elif tuple(out.shape) != (n, out_hw[0], out_hw[1], 3) or out.dtype not in (torch.float32, torch.uint8):
        raise ValueError(f"out must be float32 or uint8 {(n, out_hw[0], out_hw[1], 3)}, "
                         f"got {out.dtype} {tuple(out.shape)}")
    steps = list(range(0, n, chunk))
    for i, a in enumerate(steps):
        if should_stop is not None and should_stop():
            raise InterruptedError("depth estimation interrupted")
        g = gray_chunk(depth, lo, hi, a, a + chunk, out_hw, invert=invert, device=device)
        if out.dtype == torch.uint8:
            g = float_to_uint8_round(g)  # rounded, like the MP4 writer
        out[a:a + chunk] = g.unsqueeze(-1).expand(-1, -1, -1, 3).to("cpu")
        if progress is not None:
            progress(i + 1, len(steps))
    return out
