"""Streaming 32/10 windowed inference of Video Depth Anything (upstream semantics).

Pure module (torch). Windowing follows the upstream
Video Depth Anything inference (github.com/DepthAnything/Video-Depth-Anything, video_depth.py).

- ``network_size(h, w, input_size=518)``: the VDA resize rule (ratio > 1.78
  shrinks ``input_size``; lower-bound, aspect kept, multiple of 14 with
  round-half-even, ceil when below the bound).
- ``preprocess(frames, size)``: float [n, H, W, 3] in [0, 1] -> (n, 3, h, w)
  ImageNet-normalised RGB, bicubic (a = -0.75, no antialias, like INTER_CUBIC);
  optional uint8 truncation first (what the YVDA node does).
- ``window_starts(n)``: 0, 22, 44, ... < n; frames past the end repeat the last frame.
- ``scale_shift_lstsq(pred, target)``: closed-form 2x2 normal equations (float64).
- ``crossfade_weights(8)``: k / 7.
- ``infer_windows(net, frames, ...)``: streaming form; every later window's first
  10 inputs are the previous window's inputs at KEYFRAMES; depth of window 0 is the
  reference; later windows are aligned by (s, t) fitted on positions 0-1 against
  [ref0, ref12], positions 2-9 are clipped >= 0 and cross-faded into the last 8
  aligned frames, positions 10-31 appended; ref12 <- aligned position 12.
  The (s, t) fit can run on the keyframe maps upsampled to frame size (``align_hw``,
  as upstream); everything else stays at network resolution (upstream clips after
  upsampling, which differs only where s * d + t < 0). Returns (N, h, w) on CPU.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable

import torch
import torch.nn.functional as F

from ..pixels import float_to_uint8_trunc, uint8_to_float

INFER_LEN = 32
OVERLAP = 10
KEYFRAMES = (0, 12, 24, 25, 26, 27, 28, 29, 30, 31)
INTERP_LEN = 8
STEP = INFER_LEN - OVERLAP  # 22
ALIGN_LEN = OVERLAP - INTERP_LEN  # 2 -> keyframes 0 and 12 are the alignment references

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _multiple_of(x: float, m: int = 14, min_val: int = 0) -> int:
    y = int(round(x / m) * m)  # round-half-even, like np.round
    if y < min_val:
        y = int(math.ceil(x / m) * m)
    return y


def network_size(h: int, w: int, input_size: int = 518) -> tuple[int, int]:
    """(h, w) of the network input for a frame of size (h, w)."""
    ratio = max(h, w) / min(h, w)
    if ratio > 1.78:
        input_size = int(input_size * 1.777 / ratio)
        input_size = round(input_size / 14) * 14
    scale = max(input_size / h, input_size / w)  # lower bound: both sides >= input_size
    return _multiple_of(scale * h, 14, input_size), _multiple_of(scale * w, 14, input_size)


def max_res_size(h: int, w: int, max_res: int) -> tuple[int, int]:
    """YVDA pre-shrink: long side = max_res when larger, both sides rounded then bumped to even."""
    if max_res <= 0 or max(h, w) <= max_res:
        return h, w
    scale = max_res / max(h, w)
    nh, nw = int(round(h * scale)), int(round(w * scale))
    return nh + nh % 2, nw + nw % 2


def padded_length(n: int) -> int:
    return n + (STEP - n % STEP) % STEP + OVERLAP


def window_starts(n: int) -> list[int]:
    return list(range(0, n, STEP))


def crossfade_weights(n: int = INTERP_LEN) -> torch.Tensor:
    return torch.arange(n, dtype=torch.float64) / (n - 1)


def scale_shift_lstsq(pred: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """argmin_{s,t} sum (s * pred + t - target)^2 over all pixels; (1, 0) if singular."""
    p = pred.double().reshape(-1)
    q = target.double().reshape(-1)
    a00 = (p * p).sum()
    a01 = p.sum()
    a11 = float(p.numel())
    b0 = (p * q).sum()
    b1 = q.sum()
    det = float(a00 * a11 - a01 * a01)
    if det == 0.0 or not math.isfinite(det):
        return 1.0, 0.0
    s = float((a11 * b0 - a01 * b1) / det)
    t = float((-a01 * b0 + a00 * b1) / det)
    return s, t


def _fit(pred: torch.Tensor, target: torch.Tensor, align_hw) -> tuple[float, float]:
    if align_hw is not None and tuple(align_hw) != tuple(pred.shape[-2:]):
        def up(m):
            return F.interpolate(m.unsqueeze(1), size=tuple(align_hw), mode="bilinear", align_corners=True)

        pred, target = up(pred), up(target)
    return scale_shift_lstsq(pred, target)


def preprocess(frames: torch.Tensor, size: tuple[int, int], device=None, quantize: bool = True) -> torch.Tensor:
    """frames (n, H, W, 3) float in [0, 1] (or uint8) -> (n, 3, h, w) float32 normalised."""
    x = frames.to(device=device)
    if x.dtype == torch.uint8:
        x = uint8_to_float(x)
    elif quantize:  # YVDA converts IMAGE to uint8 by truncation (in float32)
        x = uint8_to_float(float_to_uint8_trunc(x.float()))
    else:
        x = x.float()
    x = x.permute(0, 3, 1, 2)
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode="bicubic", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def autocast_context(device: torch.device, precision: str):
    """fp32 everywhere; 'fp16'/'bf16' autocast only on CUDA (CPU always runs fp32)."""
    if device.type == "cuda" and precision in ("fp16", "bf16"):
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        return torch.autocast(device_type="cuda", dtype=dtype)
    if precision not in ("fp32", "fp16", "bf16"):
        raise ValueError(f"precision must be fp32, fp16 or bf16, not {precision!r}")
    return contextlib.nullcontext()


def infer_windows(
    net: Callable[[torch.Tensor], torch.Tensor],
    frames: torch.Tensor,
    *,
    size: tuple[int, int] | None = None,
    input_size: int = 518,
    device=None,
    precision: str = "fp32",
    metric: bool = False,
    quantize: bool = True,
    storage_dtype: torch.dtype = torch.float32,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
    frame_hw: tuple[int, int] | None = None,
    align_hw: tuple[int, int] | None = None,
    out: torch.Tensor | None = None,
    sub_chunk: int = 4,
) -> torch.Tensor:
    """Aligned depth (N, h, w) at network resolution, CPU, ``storage_dtype``.

    ``net(x)`` maps (1, 32, 3, h, w) -> (1, 32, h, w). ``frames``: (N, H, W, 3)
    float in [0, 1] (or uint8), any device; only one window is on ``device`` at a time.
    ``prepare`` (optional) maps a gathered chunk of frames to the frames actually fed
    (e.g. a max_res INTER_AREA shrink); ``frame_hw`` is then its output size.
    ``align_hw``: fit scale/shift on the keyframe maps bilinearly upsampled to this
    size (upstream fits at frame size; ``None`` fits at network resolution).
    ``out``: pre-allocated (N, h, w) CPU storage to fill (its dtype wins over ``storage_dtype``).
    It may share memory with ``frames`` as long as frame i's storage overlaps no other
    frame's input: frame i is never read after its depth is written (see below).

    Memory: one (32, 3, h, w) float32 window buffer on ``device`` is reused for every
    window (the 10 keyframe inputs are moved to its front); the new frames of a window
    are gathered, converted and resized ``sub_chunk`` frames at a time straight into it,
    so the input-size float working set is O(sub_chunk), not O(window).
    """
    n = int(frames.shape[0])
    if n == 0:
        raise ValueError("no frames")
    device = torch.device(device) if device is not None else frames.device
    if frame_hw is None:
        frame_hw = (int(frames.shape[1]), int(frames.shape[2]))
    if size is None:
        size = network_size(frame_hw[0], frame_hw[1], input_size)
    h, w = size
    if out is None:
        out = torch.empty((n, h, w), dtype=storage_dtype)
    elif tuple(out.shape) != (n, h, w):
        raise ValueError(f"out must have shape {(n, h, w)}, got {tuple(out.shape)}")
    storage_dtype = out.dtype
    starts = window_starts(n)
    weights = crossfade_weights().to(device=device, dtype=torch.float32).view(-1, 1, 1)
    written = 0

    def emit(maps: torch.Tensor):
        nonlocal written
        k = min(maps.shape[0], n - written)
        if k > 0:
            out[written:written + k] = maps[:k].to("cpu", storage_dtype)
        written += maps.shape[0]

    x = torch.empty((INFER_LEN, 3, h, w), dtype=torch.float32, device=device)  # the window buffer
    sub_chunk = max(1, int(sub_chunk))
    ref = tail = last_x = None
    for wi, s in enumerate(starts):
        if should_stop is not None and should_stop():
            raise InterruptedError("depth estimation interrupted")
        first = 0 if ref is None else OVERLAP
        if first:
            x[:OVERLAP] = x[list(KEYFRAMES)]  # the previous window's keyframe inputs lead this one
        for a in range(first, INFER_LEN, sub_chunk):
            b = min(a + sub_chunk, INFER_LEN)
            if s + a >= n - 1 and last_x is not None:  # past the end: the last frame, converted once
                x[a:b] = last_x
                continue
            idx = torch.clamp(torch.arange(s + a, s + b), max=n - 1)
            part = frames[idx] if prepare is None else prepare(frames[idx])
            x[a:b] = preprocess(part, size, device, quantize)
            del part
            if last_x is None and s + b > n - 1:
                # Every input frame is read once, in order, and never after its depth is
                # emitted -- except the last one, which later windows repeat: keep it
                # converted, so ``frames`` may be overwritten behind the reader (``out``
                # may alias it: the depth of a frame parked in that frame's own slot).
                last_x = x[n - 1 - s].clone()
        with torch.no_grad(), autocast_context(device, precision):
            d = net(x.unsqueeze(0))
        d = d[0].float()
        if ref is None:
            ref = [d[0], d[12]]
            emit(d[: INFER_LEN - INTERP_LEN])
            tail = d[INFER_LEN - INTERP_LEN:]
        else:
            sc, sh = (1.0, 0.0) if metric else _fit(d[:ALIGN_LEN], torch.stack(ref), align_hw)
            post = (d[ALIGN_LEN:OVERLAP] * sc + sh).clamp_min(0)
            emit(tail * (1 - weights) + post * weights)
            new = (d[OVERLAP:] * sc + sh).clamp_min(0)
            emit(new[: -INTERP_LEN])
            tail = new[-INTERP_LEN:]
            ref = [ref[0], (d[12] * sc + sh).clamp_min(0)]
        if progress is not None:
            progress(wi + 1, len(starts))
    emit(tail)
    return out
