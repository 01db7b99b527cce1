"""Greedy NMS as a torch fixed point (legacy "+1" pixel convention).

Pure module (torch only). Reference: YOLOX post-processing
(comfyui_controlnet_aux, dwpose/dw_onnx/cv_ox_det.py).

Conventions (YOLOX/DWPose numpy ``nms``):
* areas and intersections use ``(x2 - x1 + 1) * (y2 - y1 + 1)``,
  intersection sides are clamped at 0;
* candidate ``j`` is suppressed by a kept, higher-ranked ``i`` when
  ``IoU(i, j) > iou_thr`` (strict);
* ranking is a *stable* descending sort of the scores (the numpy reference
  uses ``argsort()[::-1]``, which only differs on exactly tied scores).

Greedy NMS == the fixed point of ``keep_i = not any_j<i (keep_j and S[j, i])``
over the rank-ordered strict upper-triangular suppression matrix ``S``; it is
reached after at most ``n`` iterations (usually 2-4); after ``max_iter``
iterations an exact sequential pass over the same matrix finishes the job.
"""
from __future__ import annotations

import torch

__all__ = ["iou_plus1", "nms", "nms_batched"]


def iou_plus1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU ``(..., N, 4) x (..., M, 4) -> (..., N, M)`` with the +1 convention."""
    ax1, ay1, ax2, ay2 = a.unbind(-1)
    bx1, by1, bx2, by2 = b.unbind(-1)
    area_a = (ax2 - ax1 + 1) * (ay2 - ay1 + 1)
    area_b = (bx2 - bx1 + 1) * (by2 - by1 + 1)
    w = (torch.minimum(ax2[..., :, None], bx2[..., None, :])
         - torch.maximum(ax1[..., :, None], bx1[..., None, :]) + 1).clamp_min(0)
    h = (torch.minimum(ay2[..., :, None], by2[..., None, :])
         - torch.maximum(ay1[..., :, None], by1[..., None, :]) + 1).clamp_min(0)
    inter = w * h
    return inter / (area_a[..., :, None] + area_b[..., None, :] - inter)


def _sequential(sup: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Exact greedy pass on the host (numpy), used when the fixed point is slow to converge."""
    s = sup.cpu().numpy()
    keep = valid.cpu().numpy().copy()
    for b in range(s.shape[0]):
        k = keep[b]
        for i in range(s.shape[1]):
            if k[i]:
                k[i + 1:] &= ~s[b, i, i + 1:]
    return torch.from_numpy(keep).to(valid.device)


def _fixed_point(sup: torch.Tensor, valid: torch.Tensor, max_iter: int = 16) -> torch.Tensor:
    """``sup`` (B, n, n) bool strict-upper (rank order), ``valid`` (B, n) -> keep (B, n).

    Iterates ``keep <- valid & ~any_j(keep_j & S[j, i])`` from ``keep = valid``; the
    unique fixed point is the greedy result.  Long suppression chains need up to n
    iterations, so after ``max_iter`` the exact sequential pass takes over."""
    keep = valid.clone()
    supf = sup.to(torch.float32)
    for _ in range(max_iter):
        hit = torch.bmm(keep.to(torch.float32).unsqueeze(1), supf).squeeze(1) > 0
        new = valid & ~hit
        if torch.equal(new, keep):
            return keep
        keep = new
    return _sequential(sup, valid)


def nms_batched(boxes: torch.Tensor, scores: torch.Tensor, valid: torch.Tensor,
                iou_thr: float = 0.45, max_iter: int = 16) -> torch.Tensor:
    """Batched greedy NMS with padding masks.

    ``boxes`` (B, N, 4) xyxy, ``scores`` (B, N), ``valid`` (B, N) bool (padding /
    below-threshold entries False).  Returns a bool keep mask (B, N) in the
    *original* index order.  Invalid entries never suppress and are never kept.
    """
    B, N = scores.shape
    if N == 0:
        return torch.zeros(B, 0, dtype=torch.bool, device=scores.device)
    # invalid entries are ranked last so they can never suppress a valid one
    key = torch.where(valid, scores, torch.full_like(scores, float("-inf")))
    order = torch.sort(key, dim=1, descending=True, stable=True).indices
    b = torch.gather(boxes, 1, order[..., None].expand(B, N, 4))
    v = torch.gather(valid, 1, order)
    iou = iou_plus1(b, b)
    sup = (iou > iou_thr) & torch.ones(N, N, dtype=torch.bool, device=boxes.device).triu(1)
    sup = sup & v[:, :, None] & v[:, None, :]
    keep_sorted = _fixed_point(sup, v, max_iter)
    keep = torch.zeros_like(keep_sorted)
    keep.scatter_(1, order, keep_sorted)
    return keep


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_thr: float = 0.45) -> torch.Tensor:
    """Single-class greedy NMS: ``boxes`` (N, 4) xyxy, ``scores`` (N,) ->
    kept indices (int64), highest score first (same list as the numpy reference)."""
    n = scores.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=scores.device)
    valid = torch.ones(1, n, dtype=torch.bool, device=scores.device)
    keep = nms_batched(boxes[None], scores[None], valid, iou_thr)[0]
    order = torch.sort(scores, descending=True, stable=True).indices
    return order[keep[order]]
