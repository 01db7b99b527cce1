"""nodes/pure/composite.py: painter's order depth -> edges -> pose with per-layer weights."""
from __future__ import annotations

import pytest
import torch

from rv2v.nodes.pure import composite


def layers(t=3, h=4, w=5):
    depth = torch.full((t, h, w, 3), 0.8)
    edges = torch.zeros(t, h, w, 3)
    edges[:, 1, :, :] = 1.0  # row 1 is an edge
    pose = torch.zeros(t, h, w, 3)
    pose[:, :, 2, 0] = 1.0  # column 2 is red pose
    return depth, edges, pose


def test_order_and_weights():
    depth, edges, pose = layers()
    out = composite.composite(depth, edges, pose, depth_weight=0.5, edge_weight=1.0, pose_weight=1.0, chunk=2)
    assert out.shape == depth.shape and out.dtype == torch.float32
    assert torch.allclose(out[:, 0, 0], torch.tensor([0.4, 0.4, 0.4]))  # dimmed depth
    assert torch.allclose(out[:, 1, 0], torch.ones(3))  # white edge over depth
    assert torch.allclose(out[:, 1, 2], torch.tensor([1.0, 0, 0]))  # pose on top of the edge
    assert torch.allclose(out[:, 0, 2], torch.tensor([1.0, 0, 0]))
    half = composite.composite(depth, edges, pose, depth_weight=1.0, edge_weight=0.5, pose_weight=0.0)
    assert torch.allclose(half[:, 1, 0], torch.full((3,), 0.9))  # 0.8 * 0.5 + 0.5
    assert torch.allclose(half[:, 0, 2], torch.full((3,), 0.8))  # pose weight 0: left out


def test_missing_layers_and_modes():
    depth, edges, pose = layers()
    only_pose = composite.composite(None, None, pose)
    assert torch.equal(only_pose, pose)
    assert composite.layers_for_mode("all") == (True, True, True)
    assert composite.layers_for_mode("depth+pose") == (True, False, True)
    assert composite.layers_for_mode("canny+pose") == (False, True, True)
    assert composite.layers_for_mode("depth+canny") == (True, True, False)
    with pytest.raises(ValueError, match="mode"):
        composite.layers_for_mode("pose+depth+x")


def test_errors_and_cancel():
    depth, edges, pose = layers()
    with pytest.raises(ValueError, match="at least one"):
        composite.composite()
    with pytest.raises(ValueError, match="pose layer"):
        composite.composite(depth, edges, pose[:2])
    with pytest.raises(ValueError, match="depth_weight"):
        composite.composite(depth, depth_weight=1.5)
    seen = []
    composite.composite(depth, edges, pose, chunk=1, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(InterruptedError):
        composite.composite(depth, should_stop=lambda: True)
