"""Experimental composite control: depth (base) -> edges -> pose, painter's order.

Pure module (torch only). No source defines a composite format and the Union Control
IC-LoRA is not documented as trained on composites (shared/reference/preprocessors.md §4):
this is an experiment, not the official wiring.

Layers are IMAGE batches (T, H, W, 3) float in [0, 1] of the same size and length:
* depth is the gray base, multiplied by ``depth_weight`` (dimming keeps white edges
  distinguishable);
* edges are painted white where the edge map is on, blended with ``edge_weight``;
* pose is painted opaque where its canvas is not black, blended with ``pose_weight``.
A weight of 0 leaves a layer out; a missing layer (None) is left out too.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

MODES = ("all", "depth+pose", "canny+pose", "depth+canny")


def layers_for_mode(mode: str) -> tuple[bool, bool, bool]:
    """(depth, canny, pose) used by a mode."""
    if mode not in MODES:
        raise ValueError(f"composite mode must be one of {', '.join(MODES)}, not {mode!r}")
    return ("depth" in mode or mode == "all", "canny" in mode or mode == "all", "pose" in mode or mode == "all")


def composite(depth: Optional[torch.Tensor] = None, edges: Optional[torch.Tensor] = None,
              pose: Optional[torch.Tensor] = None, *, depth_weight: float = 0.5,
              edge_weight: float = 1.0, pose_weight: float = 1.0, chunk: int = 16,
              progress: Optional[Callable[[int, int], None]] = None,
              should_stop: Optional[Callable[[], bool]] = None) -> torch.Tensor:
    """Composite the given layers into a new (T, H, W, 3) float32 tensor in [0, 1]."""
    layers = [x for x in (depth, edges, pose) if x is not None]
    if not layers:
        raise ValueError("composite needs at least one layer")
    shape = tuple(layers[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"layers must be (T, H, W, 3), got {shape}")
    for name, x in (("depth", depth), ("edges", edges), ("pose", pose)):
        if x is not None and tuple(x.shape) != shape:
            raise ValueError(f"composite: the {name} layer is {tuple(x.shape)}, expected {shape} "
                             "(all layers must have the same frame count and size)")
    for name, w in (("depth_weight", depth_weight), ("edge_weight", edge_weight), ("pose_weight", pose_weight)):
        if not 0.0 <= float(w) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {w}")
    t = shape[0]
    out = torch.zeros(shape, dtype=torch.float32)
    for a in range(0, t, max(1, int(chunk))):
        if should_stop is not None and should_stop():
            raise InterruptedError("composite interrupted")
        b = min(a + chunk, t)
        acc = out[a:b]
        if depth is not None and depth_weight > 0:
            acc.copy_(depth[a:b].float().clamp(0, 1) * float(depth_weight))
        if edges is not None and edge_weight > 0:
            on = (edges[a:b].float().amax(dim=-1, keepdim=True) > 0.5).float() * float(edge_weight)
            acc.mul_(1.0 - on).add_(on)
        if pose is not None and pose_weight > 0:
            p = pose[a:b].float().clamp(0, 1)
            on = (p.amax(dim=-1, keepdim=True) > 0).float() * float(pose_weight)
            acc.mul_(1.0 - on).add_(p * on)
        if progress is not None:
            progress(b, t)
    return out
