"""Canny hysteresis: grow the strong edges through connected weak pixels (8-neighbourhood).

Pure module (torch, numpy). Split from :mod:`.canny`, which calls it. Two exact strategies give the
same result: a dense fixed-point iteration (one 3x3 dilation per step, good on GPUs) and a frontier
walk (only pixels next to newly accepted edges are visited, good on CPUs); OpenCV's Canny
(modules/imgproc/src/canny.cpp) uses a stack-based frontier walk.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["hysteresis_dense", "hysteresis_frontier"]


def _dense_padded(weak: torch.Tensor, strong: torch.Tensor, check_every: int = 8) -> torch.Tensor:
    dt = torch.float16 if weak.is_cuda else torch.float32
    w = weak.unsqueeze(1).to(dt)
    e = strong.unsqueeze(1).to(dt)
    while True:
        prev = e
        for _ in range(check_every):
            e = F.max_pool2d(e, 3, 1, 1).mul_(w)
        if torch.equal(e, prev):
            break
    return e.squeeze(1) > 0


def _frontier_padded(weak: torch.Tensor, strong: torch.Tensor) -> torch.Tensor:
    """Frontier BFS on (B, Hp, Wp) masks whose 1-pixel border is all False.

    Candidates = weak and not yet reached. Each step expands the frontier by
    the 8 neighbour offsets (flat indices; the zero border keeps rows and
    frames apart), keeps the neighbours that are still candidates, marks them
    reached and de-duplicates them. Exact; the loop count is the largest BFS
    depth in the batch. On CPU the loop runs in numpy (small arrays, low
    per-call overhead); elsewhere in torch.
    """
    if weak.device.type == "cpu":
        return _frontier_numpy(weak, strong)
    return _frontier_torch(weak, strong)


def _frontier_torch(weak: torch.Tensor, strong: torch.Tensor) -> torch.Tensor:
    B, Hp, Wp = weak.shape
    dev = weak.device
    cf = weak.reshape(-1) & ~strong.reshape(-1)  # candidates not reached yet
    front = strong.reshape(-1).nonzero().squeeze(1)
    offs = torch.tensor([-Wp - 1, -Wp, -Wp + 1, -1, 1, Wp - 1, Wp, Wp + 1], dtype=front.dtype, device=dev)
    while front.numel():
        nb = (front.unsqueeze(1) + offs).view(-1)
        nb = nb.masked_select(cf.index_select(0, nb))
        if nb.numel() == 0:
            break
        cf.index_fill_(0, nb, False)
        front = torch.unique(nb)
    return (weak.reshape(-1) & ~cf).view(B, Hp, Wp)


def _frontier_numpy(weak: torch.Tensor, strong: torch.Tensor) -> torch.Tensor:
    B, Hp, Wp = weak.shape
    w = weak.contiguous().numpy().reshape(-1)
    st = strong.contiguous().numpy().reshape(-1)
    cf = w & ~st  # candidates not reached yet
    idt = np.int32 if w.size < 2**31 - 4 * Wp else np.int64
    front = np.flatnonzero(st).astype(idt)
    offs = np.array([-Wp - 1, -Wp, -Wp + 1, -1, 1, Wp - 1, Wp, Wp + 1], dtype=idt)
    while front.size:
        nb = (front[:, None] + offs).ravel()
        nb = nb[cf[nb]]
        if not nb.size:
            break
        cf[nb] = False
        front = np.unique(nb)
    # strong is a subset of weak, so "weak and not a remaining candidate" = reached
    return torch.from_numpy((w & ~cf).reshape(B, Hp, Wp))


def _zero_border_pad(x: torch.Tensor) -> torch.Tensor:
    B, H, W = x.shape
    out = torch.zeros((B, H + 2, W + 2), dtype=torch.bool, device=x.device)
    out[:, 1:-1, 1:-1] = x
    return out


def hysteresis_dense(weak: torch.Tensor, strong: torch.Tensor, check_every: int = 8) -> torch.Tensor:
    """Weak pixels 8-connected to strong ones, by iterated 3x3 max-pool (exact).

    ``weak``, ``strong``: bool (B, H, W). Convergence is checked every
    ``check_every`` steps (one host sync each).
    """
    if weak.numel() == 0:
        return strong.clone()
    return _dense_padded(weak | strong, strong, check_every)


def hysteresis_frontier(weak: torch.Tensor, strong: torch.Tensor) -> torch.Tensor:
    """Weak pixels 8-connected to strong ones, by a sparse frontier BFS (exact).

    Works on flat indices into a 1-pixel zero-padded mask, batched over frames
    (the zero border keeps frames apart), so the iteration count is the largest
    BFS depth in the batch, not the sum over frames.
    """
    if weak.numel() == 0:
        return strong.clone()
    w, st = _zero_border_pad(weak | strong), _zero_border_pad(strong)
    return _frontier_padded(w, st)[:, 1:-1, 1:-1].clone()
