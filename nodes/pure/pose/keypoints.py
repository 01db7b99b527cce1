"""133 COCO-WholeBody keypoints -> OpenPose-style persons and POSE_KEYPOINT.

Pure module (torch/numpy). Reference: DWPose's keypoint formatting
(comfyui_controlnet_aux, dwpose/wholebody.py).

* neck = mean(kp5, kp6), score 1 if both scores > 0.3 else 0, inserted at 17;
* OpenPose slots [1,2,3,4,6,7,8,9,10,12,13,14,15,16,17] take
  [17,6,8,10,7,9,12,14,16,13,15,2,1,4,3] (source copied first);
* groups over the 134: body 0-17, feet 18-23 (unused), face 24-91,
  left hand 92-112, right hand 113-133 (CNA labels);
* a point is visible iff score >= 0.3, else None; an all-None hand/face
  group becomes None. The 68 face points alone decide whether there is a
  face: only a non-empty face gets body[14], body[15] (the eyes) appended
  (70 points), so visible eyes never make a face out of 68 invisible points
  (comfyui_controlnet_aux ``dwpose/wholebody.py`` ``format_result``).

Precision: the reference decodes into float64 arrays (its keypoints are
float64 and the float32 scores are stored next to them), so its neck mean and
its ``> 0.3`` / ``>= 0.3`` comparisons are float64. Here too: at a score of
exactly float32(0.3) (0.30000001...) ``> 0.3`` holds in float64 but not
against float32(0.3).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

__all__ = ["THRESHOLD", "insert_neck_and_remap", "format_people", "pose_keypoint_frame",
           "Person"]

THRESHOLD = 0.3
_OP_SLOTS = [1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17]
_SRC = [17, 6, 8, 10, 7, 9, 12, 14, 16, 13, 15, 2, 1, 4, 3]

Point = Optional[tuple]
Person = Dict[str, Optional[List[Point]]]


def insert_neck_and_remap(kpts, scores, thr: float = THRESHOLD):
    """``kpts`` (N, 133, 2), ``scores`` (N, 133) (torch or numpy) ->
    float64 numpy ``(kpts (N, 134, 2), scores (N, 134))`` in OpenPose body order."""
    # float64 like the reference (its decoded arrays are float64): the neck mean and the
    # threshold comparisons (a float32 score of exactly float32(0.3) is > 0.3 in float64)
    k = torch.as_tensor(kpts).detach().cpu().to(torch.float64).numpy().reshape(-1, 133, 2)
    s = torch.as_tensor(scores).detach().cpu().to(torch.float64).numpy().reshape(-1, 133)
    thr = float(thr)
    neck = (k[:, 5] + k[:, 6]) / 2
    neck_s = ((s[:, 5] > thr) & (s[:, 6] > thr)).astype(s.dtype)
    k = np.concatenate([k[:, :17], neck[:, None], k[:, 17:]], 1)
    s = np.concatenate([s[:, :17], neck_s[:, None], s[:, 17:]], 1)
    k2, s2 = k.copy(), s.copy()
    k2[:, _OP_SLOTS] = k[:, _SRC]
    s2[:, _OP_SLOTS] = s[:, _SRC]
    return k2, s2


def _group(k, s, lo, hi, thr):
    s = np.asarray(s, dtype=np.float64)  # float64 comparison, like the reference
    thr = float(thr)
    return [(float(k[i, 0]), float(k[i, 1])) if s[i] >= thr else None for i in range(lo, hi)]


def _or_none(points):
    return None if all(p is None for p in points) else points


def format_people(kpts, scores, thr: float = THRESHOLD) -> List[Person]:
    """OpenPose-ordered (N, 134, 2)/(N, 134) -> list of persons with keys
    ``body`` (18 points, None for invisible), ``left_hand``/``right_hand``
    (21 or None), ``face`` (70 or None: the 68 face points decide, the two eyes
    join a non-empty face only); points are (x, y) in image pixels."""
    people = []
    for k, s in zip(kpts, scores):
        body = _group(k, s, 0, 18, thr)
        face = _or_none(_group(k, s, 24, 92, thr))
        if face is not None:
            face = face + [body[14], body[15]]
        people.append({
            "body": body,
            "left_hand": _or_none(_group(k, s, 92, 113, thr)),
            "right_hand": _or_none(_group(k, s, 113, 134, thr)),
            "face": face,
        })
    return people


def _flat(points: Optional[Sequence[Point]]):
    if points is None:
        return None
    out = []
    for p in points:
        out.extend([float(p[0]), float(p[1]), 1.0] if p is not None else [0.0, 0.0, 0.0])
    return out


def pose_keypoint_frame(people: Sequence[Person], height: int, width: int,
                        body: bool = True, hands: bool = True, face: bool = True) -> dict:
    """One POSE_KEYPOINT frame dict (CNA ``encode_poses_as_dict`` layout):
    absolute pixel coordinates, present points [x, y, 1.0], missing [0, 0, 0];
    disabled hands/face -> None, disabled body -> 18 x [0, 0, 0]."""
    out = []
    for p in people:
        out.append({
            "pose_keypoints_2d": _flat(p["body"]) if body else [0.0] * 54,
            "face_keypoints_2d": _flat(p["face"]) if face else None,
            "hand_left_keypoints_2d": _flat(p["left_hand"]) if hands else None,
            "hand_right_keypoints_2d": _flat(p["right_hand"]) if hands else None,
        })
    return {"people": out, "canvas_height": int(height), "canvas_width": int(width)}
