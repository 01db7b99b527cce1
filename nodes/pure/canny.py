"""Torch-only Canny edge detection, bit-exact with ``cv2.Canny`` (aperture 3).

Pure module: standard library, torch and numpy only (no cv2 at run time).

Public API
----------
``canny_uint8(img, low, high, l2=False, *, hysteresis="auto") -> bool (B, H, W)``
    ``cv2.Canny(img, low, high, L2gradient=l2)`` for uint8-valued images
    ``(B, C, H, W)`` (``(B, H, W)`` / ``(H, W)`` are read as one channel).

``canny_frames(frames, low=92, high=200, resolution=512, ...) -> uint8 (F, h, w, 3)``
    The controlnet_aux ``CannyEdgePreprocessor`` pipeline, chunked.

``canny_frames_trainer(frames, ...)`` / ``CANNY_PRESETS``
    The LTX-2 trainer style reference canny (gray, 100/200, native size).

Algorithm (what makes it exact; OpenCV's Canny, modules/imgproc/src/canny.cpp)
-------------------------------------------------------------------------
1. Sobel 3x3 on the replicate-padded image as shifted adds in int16
   (|dx|, |dy| <= 1020 for uint8 input, so int16 cannot overflow).
2. Magnitude: L1 |dx|+|dy| (int16) or L2 dx^2+dy^2 (int32, squared thresholds).
3. Several channels: per pixel the channel with the largest magnitude, first
   channel on ties (a running select chain, no argmax/gather).
4. NMS with OpenCV's integer sector test (TG22 = 13573, shift 15), rewritten
   exactly with T = floor(|dx| * 13573 / 2^15) (computed exactly in float32):
   horizontal iff |dy| <= T, vertical iff |dy| > T + 2|dx|, else diagonal
   (direction from the sign of dx XOR dy). Magnitude outside the image is 0.
   ``weak`` = local max and m > low, ``strong`` = weak and m > high (strict);
   thresholds are floored to int, swapped if low > high, squared for L2.
5. Hysteresis: weak pixels 8-connected to a strong pixel. Two exact
   implementations: a dense 3x3 max-pool fixed point (used on CUDA) and a
   sparse frontier BFS over flat indices (used on CPU; its loop runs in numpy).

CPU performance notes: all per-pixel work is integer arithmetic on flat,
contiguous int16 planes (shifted neighbours are slices); comparisons are sign
masks ``(b - a) >> 15`` and selections are xor/and blends, because bool
comparisons and ``torch.where`` are an order of magnitude slower on CPU.
``canny_frames`` runs everything but the hysteresis frame by frame on CPU
(working set of a few MB), and batches the hysteresis over the chunk.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Tuple

import torch

from .canny_hysteresis import _dense_padded, _frontier_padded, hysteresis_dense, hysteresis_frontier
from .pixels import float_to_uint8_trunc, uint8_to_float
from .resize_cv import pad_amount, resize_t, short_side_size

__all__ = [
    "canny_uint8",
    "canny_frames",
    "canny_frames_trainer",
    "canny_thresholds",
    "CANNY_PRESETS",
    "frames_to_uint8",
    "hysteresis_dense",
    "hysteresis_frontier",
]

# floor(|dx| * 13573 / 2^15): 13573 / 32768 is exact in float32 and so is the product
# (|dx| * 13573 < 2^24), hence the float32 evaluation below is exact.
_TG22_F = 13573.0 / 32768.0

#: Presets. "controlnet_aux" is the official Union-Control workflow's
#: CannyEdgePreprocessor (RGB, 92/200, short side 512). "trainer" follows the
#: LTX-2 trainer's reference canny (grayscale, 100/200, native resolution).
CANNY_PRESETS = {
    "controlnet_aux": dict(low=92, high=200, resolution=512, grayscale=False),
    "trainer": dict(low=100, high=200, resolution=0, grayscale=True, pad64=True),
}

# CPU: run resize/Sobel/NMS frame by frame (True) or per chunk like on GPU (False)
_CPU_PER_FRAME = True

# torchvision rgb_to_grayscale weights (used by the "trainer" preset)
_GRAY_W = (0.2989, 0.587, 0.114)


# --------------------------------------------------------------------------------------
# thresholds
# --------------------------------------------------------------------------------------
def canny_thresholds(low: float, high: float, l2: bool = False) -> Tuple[int, int]:
    """OpenCV's threshold preparation: swap, (clamp + square for L2), floor."""
    low, high = float(low), float(high)
    if low > high:
        low, high = high, low
    if l2:
        low = min(32767.0, low)
        high = min(32767.0, high)
        if low > 0:
            low *= low
        if high > 0:
            high *= high
    return int(math.floor(low)), int(math.floor(high))


# --------------------------------------------------------------------------------------
# padding helpers
# --------------------------------------------------------------------------------------
def _replicate_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int, dtype) -> torch.Tensor:
    """Edge-replicate pad the last two dims (any integer dtype), casting to ``dtype``."""
    h, w = x.shape[-2], x.shape[-1]
    out = torch.empty(x.shape[:-2] + (h + top + bottom, w + left + right), dtype=dtype, device=x.device)
    out[..., top : top + h, left : left + w] = x
    if left:
        out[..., top : top + h, :left] = out[..., top : top + h, left : left + 1]
    if right:
        out[..., top : top + h, left + w :] = out[..., top : top + h, left + w - 1 : left + w]
    if top:
        out[..., :top, :] = out[..., top : top + 1, :]
    if bottom:
        out[..., top + h :, :] = out[..., top + h - 1 : top + h, :]
    return out


# --------------------------------------------------------------------------------------
# Sobel + NMS -> weak / strong
# --------------------------------------------------------------------------------------
# Everything below is plain integer arithmetic on *flat* planes: a replicate-
# padded (Hp, Wp) plane is viewed as one row of length Hp*Wp, so each shifted
# neighbour is a contiguous slice (vectorised, no per-row overhead) and the
# results live in the padded coordinates the frontier hysteresis works in.
# Comparisons and selections avoid bool tensors and torch.where (both are slow on
# CPU): "a > b" is the sign mask (b - a) >> (bits - 1) (0 or -1) and a selection
# is a ^ ((a ^ b) & mask).


def _blend_(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mask == -1 -> b, mask == 0 -> a. ``a`` must be a fresh tensor (it is reused)."""
    t = torch.bitwise_xor(a, b)
    t &= mask
    a ^= t
    return a


def _blend(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    t = torch.bitwise_xor(a, b)
    t &= mask
    return t.bitwise_xor_(a)


def _weak_strong_flat(p: torch.Tensor, lo: int, hi: int, l2: bool, out=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sobel, channel selection and OpenCV NMS on a replicate-padded image.

    ``p``: int16 (B, C, Hp, Wp) with a 1-pixel replicate border around the
    (Hp-2, Wp-2) image. Returns bool ``weak`` and ``strong`` masks (B, Hp, Wp)
    in padded coordinates, zero on the border (written into ``out`` = (weak,
    strong) contiguous bool tensors when given).
    """
    B, C, Hp, Wp = p.shape
    L = Hp * Wp
    dev = p.device
    pf = p.reshape(B * C, L)
    r0, r1 = Wp + 1, L - Wp - 1  # flat positions of pixel (1, 1) .. (Hp-2, Wp-2)

    # Sobel. d[j] and s[j] belong to position j + 1.
    d = pf[:, 2:] - pf[:, :-2]
    dx = torch.add(d[:, r0 - 1 - Wp : r1 - 1 - Wp], d[:, r0 - 1 : r1 - 1], alpha=2)
    dx += d[:, r0 - 1 + Wp : r1 - 1 + Wp]
    del d
    s = torch.add(pf[:, :-2], pf[:, 1:-1], alpha=2)
    s += pf[:, 2:]
    dy = s[:, r0 - 1 + Wp : r1 - 1 + Wp] - s[:, r0 - 1 - Wp : r1 - 1 - Wp]
    del s

    # zero-bordered magnitude plane in padded flat coordinates; m = its interior view
    mdt = torch.int32 if l2 else torch.int16
    shift = 31 if l2 else 15
    mp = torch.empty((B, L), dtype=mdt, device=dev)
    mp[:, :r0] = 0
    mp[:, r1:] = 0
    m = mp[:, r0:r1]

    def magnitude(gx, gy, out=None):
        if l2:
            gx32 = gx.to(torch.int32)
            r = torch.mul(gx32, gx32, out=out) if out is not None else gx32 * gx32
            del gx32
            gy32 = gy.to(torch.int32)
            return r.addcmul_(gy32, gy32)
        r = torch.abs(gx, out=out) if out is not None else gx.abs()
        r += gy.abs()
        return r

    if C == 1:
        magnitude(dx, dy, out=m)
        gx, gy = dx, dy
    else:
        mag = magnitude(dx, dy).view(B, C, -1)
        dx = dx.view(B, C, -1)
        dy = dy.view(B, C, -1)
        gx, gy = dx[:, 0], dy[:, 0]
        cur = mag[:, 0]
        for c in range(1, C):
            mc = mag[:, c]
            g = cur - mc
            g >>= shift  # -1 where mc > current max (the first channel wins ties)
            if l2:
                g = g.to(torch.int16)
            torch.maximum(cur, mc, out=m)
            cur = m
            if c == 1:  # fresh tensors
                gx = _blend(gx, dx[:, c], g)
                gy = _blend(gy, dy[:, c], g)
            else:
                _blend_(gx, dx[:, c], g)
                _blend_(gy, dy[:, c], g)
        del mag, cur
    del dx, dy
    mv = mp.view(B, Hp, Wp)
    mv[:, :, 0] = 0
    mv[:, :, -1] = 0

    # OpenCV sector test, exact: T = floor(|gx| * 13573 / 2^15);
    # horizontal iff |gy| <= T, vertical iff |gy| > T + 2|gx|.
    ax = gx.abs()
    ay = gy.abs()
    t22 = (ax * _TG22_F).to(torch.int16)
    not_h = t22 - ay
    not_h >>= 15  # -1: not horizontal
    vert = torch.add(t22, ax, alpha=2)
    vert -= ay
    vert >>= 15  # -1: vertical
    del t22, ax, ay
    sgn = torch.bitwise_xor(gx, gy)
    sgn >>= 15  # -1: dx, dy of opposite signs -> up-right / down-left diagonal
    del gx, gy
    if l2:
        not_h, vert, sgn = not_h.to(torch.int32), vert.to(torch.int32), sgn.to(torch.int32)

    mm1 = mp - 1  # second neighbour of horizontal / vertical sectors: m >= n <=> m > n - 1

    def nb(t, off):
        return t[:, r0 + off : r1 + off]

    n1 = _blend(nb(mp, -Wp - 1), nb(mp, -Wp + 1), sgn)  # up-left | up-right
    _blend_(n1, nb(mp, -Wp), vert)  # up
    n1 = _blend(nb(mp, -1), n1, not_h)  # left
    n2 = _blend(nb(mp, Wp + 1), nb(mp, Wp - 1), sgn)  # down-right | down-left
    _blend_(n2, nb(mm1, Wp), vert)  # down (>=)
    n2 = _blend(nb(mm1, 1), n2, not_h)  # right (>=)
    del mm1, not_h, vert, sgn
    torch.maximum(n1, n2, out=n1)
    del n2
    big = 32767 if shift == 15 else 2**31 - 1
    lo_c = max(-1, min(lo, big))
    hi_c = max(-1, min(hi, big))
    weak = n1.clamp_min(lo_c)
    weak -= m
    weak >>= shift  # -1: local max and m > low
    strong = n1.clamp_min_(hi_c)
    strong -= m
    strong >>= shift  # -1: local max and m > high

    def to_mask(t, o):
        if o is None:
            o = torch.empty((B, Hp, Wp), dtype=torch.bool, device=dev)
        of = o.view(torch.uint8).view(B, L)
        of[:, :r0] = 0
        of[:, r1:] = 0
        of[:, r0:r1] = t.neg_()  # -1 / 0 -> 1 / 0
        ov = of.view(B, Hp, Wp)
        ov[:, :, 0] = 0
        ov[:, :, -1] = 0
        return o

    if out is None:
        out = (None, None)
    return to_mask(weak, out[0]), to_mask(strong, out[1])


# --------------------------------------------------------------------------------------
# public: single images
# --------------------------------------------------------------------------------------
def _as_bchw(img: torch.Tensor) -> torch.Tensor:
    if img.dim() == 2:
        return img[None, None]
    if img.dim() == 3:
        return img[:, None]
    if img.dim() == 4:
        return img
    raise ValueError(f"expected (B,C,H,W), (B,H,W) or (H,W), got {tuple(img.shape)}")


def _pick_hysteresis(device: torch.device, mode: str):
    """Hysteresis on zero-bordered padded masks."""
    if mode == "auto":
        mode = "dense" if device.type == "cuda" else "frontier"
    if mode == "dense":
        return _dense_padded
    if mode == "frontier":
        return _frontier_padded
    raise ValueError(f"unknown hysteresis mode {mode!r}")


@torch.no_grad()
def canny_uint8(
    img: torch.Tensor,
    low: float,
    high: float,
    l2: bool = False,
    *,
    hysteresis: str = "auto",
) -> torch.Tensor:
    """``cv2.Canny(img, low, high, apertureSize=3, L2gradient=l2)``, bit-exact.

    ``img``: uint8 or integer tensor with values 0..255, shape (B, C, H, W)
    (or (B, H, W) / (H, W) for one channel), on any device. Returns a bool
    tensor (B, H, W) (True where cv2 gives 255). ``hysteresis``: "auto"
    (dense on CUDA, frontier BFS elsewhere), "dense" or "frontier".
    """
    x = _as_bchw(img)
    lo, hi = canny_thresholds(low, high, l2)
    B, C, H, W = x.shape
    if B == 0 or H == 0 or W == 0:
        return torch.zeros((B, H, W), dtype=torch.bool, device=x.device)
    p = _replicate_pad(x, 1, 1, 1, 1, torch.int16)
    weak, strong = _weak_strong_flat(p, lo, hi, l2)
    return _pick_hysteresis(x.device, hysteresis)(weak, strong)[:, 1:-1, 1:-1].clone()


# --------------------------------------------------------------------------------------
# public: the controlnet_aux video pipeline
# --------------------------------------------------------------------------------------
#: IMAGE floats in [0, 1] -> uint8 by truncation, as controlnet_aux does (``floor(x * 255)``
#: in the input's float dtype, clamped; uint8 passes through): the rule of ``pixels.py``.
frames_to_uint8 = float_to_uint8_trunc


def _to_rgb_uint8(u8: torch.Tensor) -> torch.Tensor:
    """controlnet_aux HWC3 on a (n, H, W, C) uint8 batch: 1 -> 3 channels, RGBA -> over white."""
    c = u8.shape[-1]
    if c == 3 or c == 1:
        return u8
    if c == 4:
        color = u8[..., :3].to(torch.float32)
        alpha = uint8_to_float(u8[..., 3:4])
        y = color * alpha + 255.0 * (1.0 - alpha)
        return y.clamp_(0, 255).to(torch.uint8)
    raise ValueError(f"expected 1, 3 or 4 channels, got {c}")


def _gray_uint8(frames: torch.Tensor) -> torch.Tensor:
    """(n, H, W, C) float [0,1] or uint8 -> (n, 1, H, W) uint8, torchvision weights, truncated."""
    x = frames
    if x.shape[-1] == 1:
        return frames_to_uint8(x).permute(0, 3, 1, 2)
    if not x.is_floating_point():
        x = uint8_to_float(x)
    g = x[..., 0] * _GRAY_W[0] + x[..., 1] * _GRAY_W[1] + x[..., 2] * _GRAY_W[2]
    return frames_to_uint8(g).unsqueeze(1)


class _TemporalEMA:
    """Opt-in flicker damping: EMA of the (resized) uint8 input over time.

    s_t = a * s_{t-1} + (1 - a) * x_t, rounded to uint8 before Sobel. a = 0
    disables it. It breaks bit-parity with per-frame cv2 on purpose.
    """

    def __init__(self, a: float):
        if not 0.0 <= a < 1.0:
            raise ValueError("temporal_smoothing must be in [0, 1)")
        self.a = float(a)
        self.state: Optional[torch.Tensor] = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # (n, C, h, w) uint8-valued
        if self.a == 0.0:
            return x
        out = torch.empty(x.shape, dtype=torch.uint8, device=x.device)
        for i in range(x.shape[0]):
            xi = x[i].to(torch.float32)
            if self.state is None:
                self.state = xi
            else:
                self.state = self.state * self.a + xi * (1.0 - self.a)
            out[i] = torch.round(self.state).clamp_(0, 255).to(torch.uint8)
        return out


@torch.no_grad()
def canny_frames(
    frames: torch.Tensor,
    low: float = 92,
    high: float = 200,
    resolution: Optional[int] = 512,
    *,
    l2: bool = False,
    grayscale: bool = False,
    chunk: int = 8,
    progress: Optional[Callable[[int, int], None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
    temporal_smoothing: float = 0.0,
    device: Optional[torch.device] = None,
    out: Optional[torch.Tensor] = None,
    hysteresis: str = "auto",
    pad64: Optional[bool] = None,
) -> torch.Tensor:
    """controlnet_aux ``CannyEdgePreprocessor`` on a clip, exact, chunked.

    Steps per frame (bit-exact with controlnet_aux + OpenCV for the defaults):
    truncate to uint8 (``floor(x*255)``) -> resize so that the short side is
    ``resolution`` (INTER_AREA when shrinking, INTER_CUBIC when enlarging;
    0/None keeps the native size) -> pad bottom/right to a multiple of 64 with
    edge replication -> ``cv2.Canny(rgb, low, high)`` -> crop -> 3 x {0, 255}.

    Args:
        frames: (F, H, W, C) float in [0, 1] (ComfyUI IMAGE) or uint8; C in {1, 3, 4}.
        low, high: Canny thresholds (swapped if low > high, like OpenCV).
        resolution: target short side; 0 or None = native size. (controlnet_aux
            itself maps values < 64 to 512; this function does not.)
        l2: L2 gradient magnitude (cv2 default False).
        grayscale: run Canny on torchvision-weighted gray instead of RGB.
        chunk: frames per chunk (memory bound: O(chunk) working set).
        progress: called as ``progress(done, total)`` after each chunk.
        should_stop: polled before each chunk; if it returns True an
            ``InterruptedError`` is raised (it may also raise its own exception).
        temporal_smoothing: EMA factor a in [0, 1) applied to the resized
            input over time before Sobel (off = 0.0; breaks cv2 parity).
        device: compute device (default: the device of ``frames``).
        out: optional pre-allocated uint8 (F, h, w, 3) output to fill.
        hysteresis: "auto" | "dense" | "frontier".
        pad64: edge-pad bottom/right to a multiple of 64 before Canny and crop
            after. Default (None): on when ``resolution`` is set, off for
            0/None (controlnet_aux skips resize *and* pad for resolution 0).

    Returns:
        uint8 tensor (F, h, w, 3) with values 0/255 on the device of ``out``
        (default: the device of ``frames``), where (h, w) = short-side size.
    """
    if frames.dim() == 3:
        frames = frames.unsqueeze(-1)
    if frames.dim() != 4:
        raise ValueError(f"expected (F, H, W, C) frames, got {tuple(frames.shape)}")
    n_frames, H, W, _ = frames.shape
    dev = torch.device(device) if device is not None else frames.device
    h, w = short_side_size(H, W, resolution)
    enlarge = bool(resolution) and float(resolution) / float(min(H, W)) > 1.0
    if pad64 is None:
        pad64 = bool(resolution)
    ph, pw = (pad_amount(h), pad_amount(w)) if pad64 else (0, 0)
    lo, hi = canny_thresholds(low, high, l2)
    hyst = _pick_hysteresis(dev, hysteresis)
    if out is None:
        out = torch.empty((n_frames, h, w, 3), dtype=torch.uint8, device=frames.device)
    elif out.shape != (n_frames, h, w, 3) or out.dtype != torch.uint8:
        raise ValueError(f"out must be uint8 {(n_frames, h, w, 3)}, got {out.dtype} {tuple(out.shape)}")
    ema = _TemporalEMA(temporal_smoothing)
    chunk = max(1, int(chunk))
    # CPU: everything but the hysteresis frame by frame (small working set, stays in
    # cache and in the malloc heap); the hysteresis BFS is batched over the chunk.
    per_frame = dev.type == "cpu" and _CPU_PER_FRAME

    done = 0
    while done < n_frames:
        if should_stop is not None and should_stop():
            raise InterruptedError("canny_frames: interrupted")
        n = min(chunk, n_frames - done)
        hp, wp = h + ph + 2, w + pw + 2

        def prep(fr: torch.Tensor, ws_out=None):
            fr = fr.to(dev, non_blocking=True)
            if grayscale:
                x = _gray_uint8(fr)  # (k,1,H,W)
            else:
                x = _to_rgb_uint8(frames_to_uint8(fr)).permute(0, 3, 1, 2)  # (k,C,H,W) view
            del fr
            if (h, w) != (H, W):
                # the resize works on the transposed layout (k,C,W,H): every tap is a row gather
                xt = x.transpose(-1, -2).contiguous()
                x = resize_t(xt, h, w, enlarge=enlarge)  # float32 holding uint8 values
                del xt
            x = ema(x)
            p = _replicate_pad(x, 1, 1 + ph, 1, 1 + pw, torch.int16)
            del x
            return _weak_strong_flat(p, lo, hi, l2, out=ws_out)

        if per_frame:
            weak = torch.empty((n, hp, wp), dtype=torch.bool, device=dev)
            strong = torch.empty_like(weak)
            for i in range(n):
                prep(frames[done + i : done + i + 1], ws_out=(weak[i : i + 1], strong[i : i + 1]))
        else:
            weak, strong = prep(frames[done : done + n])
        edges = hyst(weak, strong)[:, 1 : h + 1, 1 : w + 1]
        del weak, strong
        e8 = edges.to(torch.uint8).mul_(255)
        if out.device == e8.device:
            torch.stack((e8, e8, e8), dim=-1, out=out[done : done + n])  # much faster than expand+copy
        else:
            out[done : done + n].copy_(torch.stack((e8, e8, e8), dim=-1), non_blocking=True)
        done += n
        if progress is not None:
            progress(done, n_frames)
    return out


def canny_frames_trainer(frames: torch.Tensor, **kwargs) -> torch.Tensor:
    """The "trainer" preset: grayscale, 100/200, native resolution, edge pad to x64.

    Mirrors the LTX-2 trainer's reference canny (torchvision gray weights,
    truncation to uint8, ``cv2.Canny(gray, 100, 200)`` at native size). The
    gray conversion is computed on the [0, 1] floats, then truncated.
    Any keyword of :func:`canny_frames` may override the preset.
    """
    params = dict(CANNY_PRESETS["trainer"])
    params.update(kwargs)
    return canny_frames(frames, **params)
