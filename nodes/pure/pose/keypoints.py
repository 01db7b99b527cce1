"""133 COCO-WholeBody keypoints -> OpenPose-style persons and POSE_KEYPOINT.

Pure module (torch/numpy). See shared/reference/preprocessors.md §3.4.

* neck = mean(kp5, kp6), score 1 if both scores > 0.3 else 0, inserted at 17;
* OpenPose slots [1,2,3,4,6,7,8,9,10,12,13,14,15,16,17] take
  [17,6,8,10,7,9,12,14,16,13,15,2,1,4,3] (source copied first);
* groups over the 134: body 0-17, feet 18-23 (unused), face 24-91,
  left hand 92-112, right hand 113-133 (CNA labels);
* a point is visible iff score >= 0.3, else None; an all-None hand/face
  group becomes None; face = 68 points + body[14], body[15] (70 points).
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
    numpy ``(kpts (N, 134, 2), scores (N, 134))`` in OpenPose body order."""
    # thresholds are compared in the scores' own precision (float32 like upstream numpy)
    k = torch.as_tensor(kpts).detach().cpu().numpy().reshape(-1, 133, 2)
    s = torch.as_tensor(scores).detach().cpu().numpy().reshape(-1, 133)
    thr = s.dtype.type(thr)
    neck = (k[:, 5] + k[:, 6]) / 2
    neck_s = ((s[:, 5] > thr) & (s[:, 6] > thr)).astype(s.dtype)
    k = np.concatenate([k[:, :17], neck[:, None], k[:, 17:]], 1)
    s = np.concatenate([s[:, :17], neck_s[:, None], s[:, 17:]], 1)
    k2, s2 = k.copy(), s.copy()
    k2[:, _OP_SLOTS] = k[:, _SRC]
    s2[:, _OP_SLOTS] = s[:, _SRC]
    return k2, s2


def _group(k, s, lo, hi, thr):
    thr = np.asarray(s).dtype.type(thr)
    pts = [(float(k[i, 0]), float(k[i, 1])) if s[i] >= thr else None for i in range(lo, hi)]
    return pts


def format_people(kpts, scores, thr: float = THRESHOLD) -> List[Person]:
    """OpenPose-ordered (N, 134, 2)/(N, 134) -> list of persons with keys
    ``body`` (18 points, None for invisible), ``left_hand``/``right_hand``
    (21 or None), ``face`` (70 or None); points are (x, y) in image pixels."""
    people = []
    for k, s in zip(kpts, scores):
        body = _group(k, s, 0, 18, thr)
        face = _group(k, s, 24, 92, thr) + [body[14], body[15]]
        lh = _group(k, s, 92, 113, thr)
        rh = _group(k, s, 113, 134, thr)
        people.append({
            "body": body,
            "left_hand": None if all(p is None for p in lh) else lh,
            "right_hand": None if all(p is None for p in rh) else rh,
            "face": None if all(p is None for p in face) else face,
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
