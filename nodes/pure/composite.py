"""Experimental composite control: depth (base) -> edges -> pose, painter's order.

Pure module (torch only). No source defines a composite format and the Union Control
IC-LoRA is not documented as trained on composites (its model card lists canny, depth and pose):
this is an experiment, not the official wiring.

Layers are IMAGE batches (T, H, W, 3) float in [0, 1] (or uint8 0..255) of the same size
and length:
* depth is the gray base, multiplied by ``depth_weight`` (dimming keeps white edges
  distinguishable);
* edges are painted white where the edge map is on, blended with ``edge_weight``;
* pose is painted opaque where its canvas is not black, blended with ``pose_weight``.
A weight of 0 leaves a layer out; a missing layer (None) is left out too.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

from .control_options import COMPOSITE_MODES as MODES, layers_for_mode  # noqa: F401 (re-exported)
from .pixels import float_to_uint8_round, uint8_to_float


def composite(depth: Optional[torch.Tensor] = None, edges: Optional[torch.Tensor] = None,
              pose: Optional[torch.Tensor] = None, *, depth_weight: float = 0.5,
              edge_weight: float = 1.0, pose_weight: float = 1.0, chunk: int = 16,
              progress: Optional[Callable[[int, int], None]] = None,
              should_stop: Optional[Callable[[], bool]] = None,
              out: Optional[torch.Tensor] = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Composite the given layers, ``chunk`` frames at a time, into ``out`` (pre-allocated
    (T, H, W, 3) float32 or uint8; it may be one of the layers: each chunk is read before
    it is written) or a new tensor of ``dtype`` (float32 in [0, 1]; uint8 rounded)."""
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
    if out is None:
        out = torch.empty(shape, dtype=dtype)
    elif tuple(out.shape) != shape or out.dtype not in (torch.float32, torch.uint8):
        raise ValueError(f"composite: out must be float32 or uint8 {shape}, got {out.dtype} {tuple(out.shape)}")
    chunk = max(1, int(chunk))
    for a in range(0, t, chunk):
        if should_stop is not None and should_stop():
            raise InterruptedError("composite interrupted")
        b = min(a + chunk, t)
        acc = torch.zeros((b - a,) + shape[1:], dtype=torch.float32)
        if depth is not None and depth_weight > 0:
            acc.copy_(_unit(depth[a:b]).clamp(0, 1) * float(depth_weight))
        if edges is not None and edge_weight > 0:
            on = (_unit(edges[a:b]).amax(dim=-1, keepdim=True) > 0.5).float() * float(edge_weight)
            acc.mul_(1.0 - on).add_(on)
        if pose is not None and pose_weight > 0:
            p = _unit(pose[a:b]).clamp(0, 1)
            on = (p.amax(dim=-1, keepdim=True) > 0).float() * float(pose_weight)
            acc.mul_(1.0 - on).add_(p * on)
        if out.dtype == torch.uint8:
            acc = float_to_uint8_round(acc, in_place=True)  # acc is in [0, 1]: the clamp is a no-op
        out[a:b] = acc
        if progress is not None:
            progress(b, t)
    return out


def _unit(x: torch.Tensor) -> torch.Tensor:
    """A layer chunk as float32 in [0, 1] (uint8 layers are divided by 255)."""
    return uint8_to_float(x) if x.dtype == torch.uint8 else x.float()
