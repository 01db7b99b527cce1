"""YOLOX person detection around a TorchScript/any callable model.

Pure module (torch only). Reference: YOLOX post-processing
(comfyui_controlnet_aux, dwpose/dw_onnx/cv_ox_det.py).

* ``letterbox``: r = min(S/H, S/W); ``cv2.resize(INTER_LINEAR)`` to
  (int(W r), int(H r)) reproduced bit for bit on uint8 (OpenCV's fixed-point
  bilinear, ``resize_cv.linear_resize_uint8``), pasted at the top-left of an
  S x S canvas filled with 114.  Raw 0-255 values, no mean/std, channel order
  unchanged.
* ``decode_yolox``: (B, 8400, 85) -> xyxy boxes in original pixels and the
  person score obj * cls0 (the model output is already sigmoided); float32
  like the reference, whose ``(o + grid) * stride`` (exact in float64, then
  stored as float32) equals the float32 result, and whose width/height use
  numpy's float32 ``exp`` (used here too).
* ``select_persons``: class-0 NMS (score > 0.1, IoU 0.45, +1 convention),
  then score > 0.3.  Equivalent to the per-class multiclass NMS followed by
  the class-0 filter, because classes never interact.  Precision as in the
  reference (comfyui_controlnet_aux ``dwpose/dw_torchscript/jit_det.py``):
  the 0.1 and 0.45 comparisons are float32 (numpy float32 arrays against
  Python floats), the final 0.3 one is float64 (its ``dets`` array is
  float64): ``gt_exact`` does that without float64 tensors.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
import torch

from ..resize_cv import linear_resize_uint8
from .nms import nms_batched

__all__ = ["DET_SIZE", "STRIDES", "letterbox", "yolox_grid", "decode_yolox", "select_persons",
           "gt_exact"]

DET_SIZE = 640
STRIDES = (8, 16, 32)


def letterbox(frames: torch.Tensor, size: int = DET_SIZE, pad_value: float = 114.0,
              dtype: torch.dtype = torch.float32) -> Tuple[torch.Tensor, float]:
    """``frames`` (B, H, W, 3) uint8 (float 0-255 values are rounded to uint8 first) ->
    ``(canvas (B, 3, size, size) dtype, r)``."""
    B, H, W, _ = frames.shape
    r = min(size / H, size / W)
    nh, nw = int(H * r), int(W * r)
    x = frames.permute(0, 3, 1, 2)
    if x.dtype != torch.uint8:
        x = x.round().clamp(0, 255).to(torch.uint8)
    if (nh, nw) != (H, W):
        x = linear_resize_uint8(x, nh, nw)
    canvas = torch.full((B, 3, size, size), pad_value, dtype=torch.float32, device=frames.device)
    canvas[:, :, :nh, :nw] = x
    return canvas.to(dtype), r


_GRIDS = {}


def gt_exact(x: torch.Tensor, thr: float) -> torch.Tensor:
    """``x > thr`` for a float32 ``x`` with ``thr`` taken as the exact double (as numpy
    compares a float32 value cast into a float64 array), without float64 tensors: compared
    against the largest float32 <= thr. (``x > 0.3`` in torch rounds 0.3 to float32 first,
    which drops a score of exactly float32(0.3).)"""
    t = np.float32(thr)
    if float(t) > float(thr):
        t = np.nextafter(t, np.float32(-np.inf))
    return x > float(t)


def yolox_grid(size: int = DET_SIZE, strides: Sequence[int] = STRIDES, device=None):
    """``(grid (A, 2) float32 as (x, y), stride (A, 1) float32)``, row-major per level."""
    key = (size, tuple(strides), str(device))
    if key not in _GRIDS:
        grids, strs = [], []
        for s in strides:
            n = size // s
            ys, xs = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
            grids.append(torch.stack([xs, ys], -1).reshape(-1, 2))
            strs.append(torch.full((n * n, 1), s))
        _GRIDS[key] = (torch.cat(grids).float().to(device), torch.cat(strs).float().to(device))
    return _GRIDS[key]


def decode_yolox(out: torch.Tensor, r, size: int = DET_SIZE) -> Tuple[torch.Tensor, torch.Tensor]:
    """``out`` (B, A, 5 + C) -> ``(boxes (B, A, 4) xyxy / r, person_score (B, A))`` in float32."""
    out = out.float()
    grid, stride = yolox_grid(size, device=out.device)
    xy = (out[..., 0:2] + grid) * stride
    # numpy's float32 exp, as the reference decodes (its SIMD exp is not torch's: up to ~2 ulp
    # apart, which moves box edges by ulps); (B, A, 2) values, a cheap host round trip
    e = np.exp(out[..., 2:4].detach().cpu().numpy())
    wh = torch.from_numpy(e).to(out.device) * stride
    boxes = torch.cat([xy - wh / 2, xy + wh / 2], -1)
    r = torch.as_tensor(r, dtype=torch.float32, device=out.device).reshape(-1, 1, 1)
    boxes = boxes / r
    return boxes, out[..., 4] * out[..., 5]


def select_persons(boxes: torch.Tensor, scores: torch.Tensor, score_thr: float = 0.1,
                   iou_thr: float = 0.45, person_thr: float = 0.3) -> List[torch.Tensor]:
    """Per frame the kept person boxes (K, 4), highest score first (CNA order)."""
    B = scores.shape[0]
    valid = scores > score_thr
    n = int(valid.sum(1).max()) if B else 0
    if n == 0:
        return [boxes.new_zeros((0, 4)) for _ in range(B)]
    if B > 1 and B * n * n > (1 << 22):  # keep the (B, n, n) IoU matrix small
        return [select_persons(boxes[i:i + 1], scores[i:i + 1], score_thr, iou_thr, person_thr)[0]
                for i in range(B)]
    # restrict to the candidates (the padding mask keeps it batched and small)
    key = torch.where(valid, scores, torch.full_like(scores, -1.0))
    idx = torch.topk(key, n, dim=1, sorted=True).indices
    b = torch.gather(boxes, 1, idx[..., None].expand(-1, -1, 4))
    s = torch.gather(scores, 1, idx)
    v = torch.gather(valid, 1, idx)
    keep = nms_batched(b, s, v, iou_thr) & gt_exact(s, person_thr)
    res = []
    for i in range(B):
        k = keep[i]
        si, bi = s[i][k], b[i][k]
        order = torch.sort(si, descending=True, stable=True).indices
        res.append(bi[order])
    return res
