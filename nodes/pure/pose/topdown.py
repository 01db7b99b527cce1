"""Top-down crops for RTMPose and SimCC decoding.

Pure module (torch only). Reference: the top-down crop of DWPose
(comfyui_controlnet_aux, dwpose/dw_onnx/cv_ox_pose.py).

* ``box_to_center_scale``: centre = box midpoint, scale = (w, h) * 1.25,
  then the aspect ratio is fixed to w/h = 288/384 by enlarging the smaller side;
  in float64, like the reference (comfyui_controlnet_aux
  ``dwpose/dw_torchscript/jit_pose.py``: its boxes come as a float64 array).
* ``crop_affine``: x' = s (x - cx) + W/2, y' = s (y - cy) + H/2 with
  s = W / scale_w (no rotation), sampled like ``cv2.warpAffine(INTER_LINEAR,
  BORDER_CONSTANT 0)`` through ``grid_sample`` at the inverse map of the
  output pixel centres; optionally rounded to uint8 levels like cv2.
  Not bit-exact: opencv-python 5.1's ``warpAffine`` takes Intel IPP's
  path by default (switching IPP off changes ~1.7e-4 of the values), older
  OpenCV uses 1/32-pixel fixed-point tables; this differs from 5.1 by one
  level in ~3e-4 of the values on noise images (README, *Pose fidelity*).
* ``normalize``: (crop - mean) / std in the frame's channel order;
  ``normalize_u8`` the same for uint8 levels, evaluated in float64 and rounded
  once to the model dtype (the reference normalises float64 arrays and casts).
* ``decode_simcc``: argmax / split ratio, score = min(max_x, max_y); a score
  <= 0 puts the location at -1 (before the division, as mmpose does).
* ``to_image``: kp / (W, H) * scale + centre - scale / 2, in float64 like
  the reference (float32 SimCC locations, float64 centre and scale).
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F

__all__ = ["POSE_W", "POSE_H", "MEAN", "STD", "box_to_center_scale", "crop_affine",
           "crop_matrix", "normalize", "normalize_u8", "decode_simcc", "to_image"]

POSE_W, POSE_H = 288, 384
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def box_to_center_scale(boxes: torch.Tensor, padding: float = 1.25,
                        aspect: float = POSE_W / POSE_H) -> Tuple[torch.Tensor, torch.Tensor]:
    """``boxes`` (K, 4) xyxy -> ``(center (K, 2), scale (K, 2))`` float64 (on the CPU)."""
    boxes = boxes.detach().cpu().to(torch.float64)
    center = (boxes[:, 0:2] + boxes[:, 2:4]) * 0.5
    wh = (boxes[:, 2:4] - boxes[:, 0:2]) * padding
    w, h = wh[:, 0], wh[:, 1]
    wide = w > h * aspect
    w2 = torch.where(wide, w, h * aspect)
    h2 = torch.where(wide, w / aspect, h)
    return center, torch.stack([w2, h2], -1)


def crop_matrix(center: torch.Tensor, scale: torch.Tensor, out_w: int = POSE_W,
                out_h: int = POSE_H) -> torch.Tensor:
    """Forward affine (K, 2, 3) src -> crop (what cv2.warpAffine would be given), float32."""
    center, scale = center.float(), scale.float()
    s = out_w / scale[:, 0]
    m = torch.zeros(center.shape[0], 2, 3, dtype=torch.float32, device=center.device)
    m[:, 0, 0] = s
    m[:, 1, 1] = s
    m[:, 0, 2] = out_w / 2 - s * center[:, 0]
    m[:, 1, 2] = out_h / 2 - s * center[:, 1]
    return m


def crop_affine(image: torch.Tensor, center: torch.Tensor, scale: torch.Tensor,
                out_w: int = POSE_W, out_h: int = POSE_H, round_u8: bool = True) -> torch.Tensor:
    """Crop K boxes from one image ``(3, H, W)`` (0-255 values) -> ``(K, 3, out_h, out_w)`` float32."""
    K = center.shape[0]
    _, H, W = image.shape
    center = center.to(device=image.device, dtype=torch.float32)
    scale = scale.to(device=image.device, dtype=torch.float32)
    img = image.float()[None].expand(K, -1, -1, -1)
    s = (out_w / scale[:, 0]).reshape(K, 1, 1)
    u = torch.arange(out_w, dtype=torch.float32, device=image.device).reshape(1, 1, out_w)
    v = torch.arange(out_h, dtype=torch.float32, device=image.device).reshape(1, out_h, 1)
    sx = (u - out_w / 2) / s + center[:, 0].reshape(K, 1, 1)
    sy = (v - out_h / 2) / s + center[:, 1].reshape(K, 1, 1)
    gx = (2 * sx + 1) / W - 1
    gy = (2 * sy + 1) / H - 1
    grid = torch.stack([gx.expand(K, out_h, out_w), gy.expand(K, out_h, out_w)], -1)
    out = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if round_u8:
        out = out.round().clamp_(0, 255)
    return out


def normalize(crops: torch.Tensor, mean=MEAN, std=STD) -> torch.Tensor:
    m = torch.tensor(mean, dtype=crops.dtype, device=crops.device).reshape(1, 3, 1, 1)
    sd = torch.tensor(std, dtype=crops.dtype, device=crops.device).reshape(1, 3, 1, 1)
    return (crops - m) / sd


_LUTS = {}


def normalize_u8(crops: torch.Tensor, dtype: torch.dtype = torch.float32, mean=MEAN, std=STD) -> torch.Tensor:
    """Crops holding uint8 levels (N, 3, H, W) (any dtype, values 0..255) -> ``(crop - mean) / std``
    computed in float64 and rounded once to ``dtype``: a 256-entry table per channel, gathered
    on the crops' device (no float64 tensor there)."""
    key = (dtype, str(crops.device), tuple(mean), tuple(std))
    lut = _LUTS.get(key)
    if lut is None:
        v = torch.arange(256, dtype=torch.float64)[None]
        m = torch.tensor(mean, dtype=torch.float64)[:, None]
        sd = torch.tensor(std, dtype=torch.float64)[:, None]
        lut = ((v - m) / sd).to(dtype).to(crops.device)  # (3, 256)
        if len(_LUTS) > 16:
            _LUTS.clear()
        _LUTS[key] = lut
    ch = torch.arange(lut.shape[0], device=crops.device).reshape(1, -1, 1, 1)
    return lut[ch, crops.to(torch.long)]


def decode_simcc(simcc_x: torch.Tensor, simcc_y: torch.Tensor,
                 split_ratio: float = 2.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """(N, K, Wx), (N, K, Wy) -> ``(locs (N, K, 2) in crop pixels, scores (N, K))``."""
    sx, sy = simcc_x.float(), simcc_y.float()
    mx, my = sx.amax(-1), sy.amax(-1)
    ix, iy = sx.argmax(-1), sy.argmax(-1)  # first maximal index on ties, like np.argmax
    locs = torch.stack([ix, iy], -1).float()
    scores = torch.minimum(mx, my)
    locs = torch.where((scores <= 0)[..., None], torch.full_like(locs, -1.0), locs)
    return locs / split_ratio, scores


def to_image(locs: torch.Tensor, center: torch.Tensor, scale: torch.Tensor,
             in_w: int = POSE_W, in_h: int = POSE_H) -> torch.Tensor:
    """Crop keypoints (N, K, 2) -> image pixels (float64, CPU) using per-crop center/scale (N, 2)."""
    locs = locs.detach().cpu().to(torch.float64)
    center = center.detach().cpu().to(torch.float64)
    scale = scale.detach().cpu().to(torch.float64)
    size = torch.tensor([in_w, in_h], dtype=torch.float64)
    return locs / size * scale[:, None, :] + center[:, None, :] - scale[:, None, :] / 2
