"""Frame resizing for IMAGE batches (torch only).

All functions take ComfyUI-layout frames ``[F, H, W, C]`` (channels last) and
work in chunks of frames, so that a resize never holds more than the output
tensor plus one chunk of intermediates, whatever the clip length.

Methods
-------
``"nearest"``, ``"nearest-exact"``, ``"bilinear"``, ``"bicubic"``, ``"area"``
    ``torch.nn.functional.interpolate``. ``bilinear``/``bicubic`` use torch's
    antialias filter when shrinking (``antialias=True``, the default).
    ``area`` is an adaptive average (a box filter) when shrinking and behaves
    like nearest when enlarging.
``"lanczos"``
    A separable Lanczos-3 filter whose support widens with the shrink factor
    (the same construction as PIL's ``LANCZOS``, which ComfyUI's
    ``common_upscale(..., "lanczos", ...)`` uses), computed in float without
    ComfyUI's intermediate uint8 rounding. Each axis is one matrix product
    (a sparse CSR matrix on CPU, dense on GPU). Also accepted as
    ``"lanczos-like antialias"``.

``bicubic`` and ``lanczos`` can overshoot; by default (``clamp=True``) their
output is clamped to ``[0, 1]``, the IMAGE value range.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

from .pixels import uint8_to_float

__all__ = [
    "RESIZE_METHODS",
    "resize_frames",
    "cover_crop",
    "center_crop_box",
    "scale_short_side",
    "auto_chunk_size",
    "pad_with_last_frame",
]

RESIZE_METHODS = ("nearest", "nearest-exact", "bilinear", "bicubic", "area", "lanczos")

ProgressFn = Callable[[int, int], None]

# Budget (in float32 elements) for one chunk's intermediates: ~64 MiB.
_CHUNK_ELEMENTS = 16 * 1024 * 1024


def scale_short_side(h: int, w: int, short: int) -> Tuple[int, int]:
    """Size ``(h2, w2)`` whose shorter side is ``short``, aspect preserved.

    Same arithmetic as ComfyUI's ``ResizeImageMaskNode`` "scale shorter
    dimension": the long side becomes ``round((long / short_side) * short)``
    (Python's round, i.e. ties to even). A square stays square.
    """
    h, w, short = int(h), int(w), int(short)
    if h <= 0 or w <= 0 or short <= 0:
        raise ValueError(f"scale_short_side: sizes must be positive, got h={h}, w={w}, short={short}")
    if h < w:
        return short, round((w / h) * short)
    if w < h:
        return round((h / w) * short), short
    return short, short


def center_crop_box(src_h: int, src_w: int, width: int, height: int) -> Tuple[int, int, int, int]:
    """Crop box ``(y, x, h, w)`` of the source that has the target's aspect.

    Identical to ComfyUI ``common_upscale(..., crop="center")``: the margin
    ``round((old - old * ratio) / 2)`` is removed from both sides of the
    longer axis.
    """
    old_aspect = src_w / src_h
    new_aspect = width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((src_w - src_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((src_h - src_h * (old_aspect / new_aspect)) / 2)
    return y, x, src_h - 2 * y, src_w - 2 * x


def auto_chunk_size(src_hw: Tuple[int, int], dst_hw: Tuple[int, int], channels: int = 3) -> int:
    """Frames per chunk so that one chunk's float32 working set stays ~64 MiB."""
    per_frame = (src_hw[0] * src_hw[1] + 2 * dst_hw[0] * dst_hw[1]
                 + dst_hw[0] * src_hw[1]) * max(1, channels)
    return max(1, _CHUNK_ELEMENTS // max(1, per_frame))


def resize_frames(
    frames: torch.Tensor,
    width: int,
    height: int,
    method: str = "bilinear",
    *,
    antialias: bool = True,
    clamp: bool = True,
    chunk_size: Optional[int] = None,
    progress: Optional[ProgressFn] = None,
) -> torch.Tensor:
    """Resize ``frames [F, H, W, C]`` to ``[F, height, width, C]``.

    ``frames`` may be floating point (kept in its dtype) or uint8 (scaled to
    float32 in [0, 1]). The output is allocated once; frames are processed
    ``chunk_size`` at a time (default: :func:`auto_chunk_size`).
    ``progress(done, total)`` is called after every chunk. When the size
    already matches and no dtype change is needed, ``frames`` is returned as is
    (no copy).
    """
    _check_frames(frames)
    width, height = _check_size(width, height)
    method = _check_method(method)
    n, src_h, src_w, c = frames.shape
    out_dtype = frames.dtype if frames.is_floating_point() else torch.float32
    if (src_h, src_w) == (height, width) and frames.dtype == out_dtype:
        if progress is not None:
            progress(n, n)
        return frames
    out = torch.empty((n, height, width, c), dtype=out_dtype, device=frames.device)
    step = chunk_size or auto_chunk_size((src_h, src_w), (height, width), c)
    plan = _LanczosPlan((src_h, src_w), (height, width), frames.device) if method == "lanczos" else None
    for start in range(0, n, step):
        stop = min(n, start + step)
        out[start:stop] = _resize_chunk(frames[start:stop], width, height, method, antialias, clamp, plan)
        if progress is not None:
            progress(stop, n)
    return out


def cover_crop(
    frames: torch.Tensor,
    width: int,
    height: int,
    method: str = "bilinear",
    **kwargs,
) -> torch.Tensor:
    """Scale to cover ``width x height`` preserving aspect, then center crop.

    Implemented like ComfyUI ``common_upscale(crop="center")``: the centred
    source region with the target aspect (:func:`center_crop_box`) is taken as a
    view, then resized, which is the same picture as cover-scaling followed by a
    centre crop but never materialises the oversize intermediate. Keyword
    arguments go to :func:`resize_frames`.
    """
    _check_frames(frames)
    width, height = _check_size(width, height)
    y, x, h, w = center_crop_box(frames.shape[1], frames.shape[2], width, height)
    full = (h, w) == tuple(frames.shape[1:3])
    region = frames if full else frames[:, y:y + h, x:x + w, :]
    return resize_frames(region, width, height, method, **kwargs)


def pad_with_last_frame(frames: torch.Tensor, length: int) -> torch.Tensor:
    """``frames`` ``[F, ...]`` extended to ``length`` frames by repeating its last frame
    (a new tensor), or ``frames`` itself when it already has ``length`` frames or more
    (longer clips are not trimmed). Used where a clip that ran out must still fill the
    requested length: the control video, the frames the VAE encodes, the CLI's control."""
    missing = length - frames.shape[0]
    if missing <= 0:
        return frames
    return torch.cat([frames, frames[-1:].expand(missing, *frames.shape[1:])], dim=0)


# --------------------------------------------------------------------------- helpers


def _check_frames(frames: torch.Tensor) -> None:
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4:
        shape = tuple(frames.shape) if hasattr(frames, "shape") else type(frames).__name__
        raise ValueError(f"expected frames as a tensor [F, H, W, C], got {shape}")
    if min(frames.shape[1:]) <= 0:
        raise ValueError(f"frames have an empty dimension: {tuple(frames.shape)}")


def _check_size(width, height) -> Tuple[int, int]:
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    return width, height


def _check_method(method: str) -> str:
    method = str(method).lower()
    if method in ("lanczos-like antialias", "lanczos3"):
        method = "lanczos"
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}; choose one of {', '.join(RESIZE_METHODS)}")
    return method


def _resize_chunk(chunk, width, height, method, antialias, clamp, plan=None) -> torch.Tensor:
    """Resize one chunk ``[n, H, W, C]`` -> ``[n, height, width, C]`` (float)."""
    x = chunk if chunk.is_floating_point() else uint8_to_float(chunk)
    if method == "lanczos":
        y = plan(x.to(torch.float32))
    else:
        nchw = x.permute(0, 3, 1, 2)
        if nchw.dtype in (torch.float16, torch.bfloat16) and nchw.device.type == "cpu":
            nchw = nchw.float()
        kwargs = {}
        if method in ("bilinear", "bicubic"):
            kwargs = {"align_corners": False, "antialias": antialias}
        y = F.interpolate(nchw, size=(height, width), mode=method, **kwargs).permute(0, 2, 3, 1)
    if clamp and method in ("bicubic", "lanczos"):
        y = y.clamp(0.0, 1.0)
    return y


def _lanczos_kernel(x: torch.Tensor, a: int = 3) -> torch.Tensor:
    """Lanczos window ``sinc(x) * sinc(x / a)`` for ``|x| < a``, else 0."""
    out = torch.sinc(x) * torch.sinc(x / a)
    return torch.where(x.abs() < a, out, torch.zeros_like(out))


def _lanczos_taps(in_size: int, out_size: int, a: int = 3):
    """Banded filter: ``(index [out, K], weight [out, K])`` along one axis.

    PIL's construction: output pixel ``i`` is centred at ``(i + 0.5) * scale``
    in input coordinates; the kernel is stretched by ``max(scale, 1)`` (which
    is what antialiases a shrink); taps outside the image are dropped and the
    weights renormalised.
    """
    scale = in_size / out_size
    support_scale = max(scale, 1.0)
    support = a * support_scale
    taps = int(math.ceil(support)) * 2 + 1
    centers = (torch.arange(out_size, dtype=torch.float64) + 0.5) * scale
    first = torch.floor(centers - support + 0.5).clamp(min=0).to(torch.int64)
    idx = first[:, None] + torch.arange(taps, dtype=torch.int64)[None, :]
    dist = (idx.to(torch.float64) - centers[:, None] + 0.5) / support_scale
    weight = _lanczos_kernel(dist, a)
    weight = torch.where(idx < in_size, weight, torch.zeros_like(weight))
    weight = weight / weight.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return idx.clamp(max=in_size - 1), weight


def _lanczos_matrix(in_size: int, out_size: int, device) -> torch.Tensor:
    """The filter of one axis as an ``[out, in]`` float32 matrix: sparse (CSR)
    on CPU, where it is much faster than a dense product, dense elsewhere."""
    idx, weight = _lanczos_taps(in_size, out_size)
    dense = torch.zeros(out_size, in_size, dtype=torch.float64).scatter_add_(1, idx, weight)
    dense = dense.to(torch.float32)
    if torch.device(device).type == "cpu":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
            return dense.to_sparse_csr()
    return dense.to(device)


class _LanczosPlan:
    """Both axis matrices for one (in size -> out size) resize, built once."""

    def __init__(self, src_hw: Tuple[int, int], dst_hw: Tuple[int, int], device):
        self.rows = _lanczos_matrix(src_hw[0], dst_hw[0], device) if src_hw[0] != dst_hw[0] else None
        self.cols = _lanczos_matrix(src_hw[1], dst_hw[1], device) if src_hw[1] != dst_hw[1] else None
        # filter the axis that shrinks more first, so the second pass is cheaper
        self.cols_first = dst_hw[1] * src_hw[0] < dst_hw[0] * src_hw[1]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        passes = [(self.rows, 1), (self.cols, 2)]
        if self.cols_first:
            passes.reverse()
        for matrix, axis in passes:
            if matrix is not None:
                x = _filter_axis(x, matrix, axis)
        return x


def _filter_axis(x: torch.Tensor, matrix: torch.Tensor, axis: int) -> torch.Tensor:
    """``matrix [out, in]`` applied along ``axis`` of ``x [n, H, W, C]``."""
    moved = x.movedim(axis, 0)
    rest = moved.shape[1:]
    flat = moved.reshape(moved.shape[0], -1)
    out = matrix @ flat
    return out.reshape((matrix.shape[0],) + tuple(rest)).movedim(0, axis)
