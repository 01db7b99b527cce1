"""cv2-exact drawing primitives for the OpenPose renderer, in numpy (no OpenCV at run time).

Pure module (numpy). Written from OpenCV's drawing semantics (``modules/imgproc/src/drawing.cpp``,
verified pixel for pixel against opencv-python-headless 5.1 in ``tests/test_pose_fidelity.py``):

* ``ellipse_poly``: ``ellipse2Poly`` -- OpenCV's float32 table of whole-degree sines
  (sin rounded to 7 decimals), points ``c + x cos - y sin`` in double, rounded half to
  even, consecutive duplicates dropped, a single point doubled.
* ``line8``: a 1 px ``LINE_8`` line between integer points (``LineIterator``: clipped to
  the image, drawn left to right, the minor coordinate of pixel ``k`` is
  ``ceil((2 d k - D) / 2D)``, the closed form of its error recursion).
* ``line2``: the 16-bit fixed-point ``Line2`` (outlines of sub-pixel polygons).
* ``fill_convex_poly``: ``FillConvexPoly`` for ``LINE_8`` and shift 0 or 16 -- the outline,
  then the two edge chains from the top vertex stepped in 16-bit fixed point (edge slope
  ``((xe - xs) * 2 + dy) / (2 dy)`` truncated), each row filled from ``(xl + 0.5) >> 16`` to
  ``(xr + 0.5) >> 16``.
* ``thick_line2``: ``cv2.line(thickness=2)`` (``ThickLine``): the rectangle p0 +- n,
  p1 +- n with the unit normal n rounded to 16-bit fixed point, filled by
  ``fill_convex_poly(shift=16)``, and radius-1 disks at both ends.

Known difference: a ``line2`` clipped by the frame's edge (a hand line whose rectangle
crosses the right/bottom edge of the frame) -- cv2 5.1's clipped outline rows are shifted
by a pixel against the clipping rule re-stated here; unclipped lines are exact.

Every primitive batches its pixels (one numpy pass per polygon outline / fill), so a
frame of several persons renders in a few milliseconds.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["XY_SHIFT", "XY_ONE", "ellipse_poly", "line8", "line2", "fill_convex_poly",
           "thick_line2", "draw_disk"]

XY_SHIFT = 16
XY_ONE = 1 << XY_SHIFT
_HALF = XY_ONE >> 1
_SIN = np.array([round(math.sin(math.radians(i)), 7) for i in range(451)], dtype=np.float32)


def ellipse_poly(cx: int, cy: int, a: int, b: int, angle: int, delta: int = 1) -> np.ndarray:
    """``cv2.ellipse2Poly((cx, cy), (a, b), angle, 0, 360, delta)`` -> (P, 2) int64 (x, y)."""
    ang = int(angle)
    while ang < 0:
        ang += 360
    while ang > 360:
        ang -= 360
    alpha, beta = float(_SIN[450 - ang]), float(_SIN[ang])
    t = np.minimum(np.arange(0, 360 + delta, delta), 360)
    x = float(a) * _SIN[450 - t].astype(np.float64)
    y = float(b) * _SIN[t].astype(np.float64)
    px = np.rint(cx + x * alpha - y * beta).astype(np.int64)
    py = np.rint(cy + x * beta + y * alpha).astype(np.int64)
    pts = np.stack([px, py], 1)
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
    pts = pts[keep]
    if len(pts) == 1:
        pts = np.array([[cx, cy], [cx, cy]], dtype=np.int64)
    return pts


def _cdiv(a, b):
    """C integer division (truncation toward zero), elementwise for int64 arrays, b > 0."""
    q = np.abs(a) // b
    return np.where(a < 0, -q, q)


def _clip_line(w: int, h: int, x1: int, y1: int, x2: int, y2: int):
    """OpenCV ``clipLine`` on a w x h box (its double arithmetic, truncated to integers);
    the clipped ends, or None when the segment misses the box."""
    if w <= 0 or h <= 0:
        return None
    right, bottom = w - 1, h - 1

    def code(x, y):
        return (x < 0) + (x > right) * 2 + (y < 0) * 4 + (y > bottom) * 8

    c1, c2 = code(x1, y1), code(x2, y2)
    if (c1 & c2) == 0 and (c1 | c2) != 0:
        if c1 & 12:
            a = 0 if c1 < 8 else bottom
            x1 += int(float(a - y1) * (x2 - x1) / (y2 - y1))
            y1 = a
            c1 = (x1 < 0) + (x1 > right) * 2
        if c2 & 12:
            a = 0 if c2 < 8 else bottom
            x2 += int(float(a - y2) * (x2 - x1) / (y2 - y1))
            y2 = a
            c2 = (x2 < 0) + (x2 > right) * 2
        if (c1 & c2) == 0 and (c1 | c2) != 0:
            if c1:
                a = 0 if c1 == 1 else right
                y1 += int(float(a - x1) * (y2 - y1) / (x2 - x1))
                x1 = a
                c1 = 0
            if c2:
                a = 0 if c2 == 1 else right
                y2 += int(float(a - x2) * (y2 - y1) / (x2 - x1))
                x2 = a
                c2 = 0
    return (x1, y1, x2, y2) if (c1 | c2) == 0 else None


def _clip_all(segs: np.ndarray, w: int, h: int) -> np.ndarray:
    """Clip the (S, 4) segments that leave the box (one by one; the rest pass untouched)."""
    segs = np.asarray(segs, dtype=np.int64).reshape(-1, 4)
    out = ((segs[:, 0::2] < 0) | (segs[:, 0::2] >= w)).any(1) | ((segs[:, 1::2] < 0) | (segs[:, 1::2] >= h)).any(1)
    if not out.any():
        return segs
    keep = ~out
    clipped = []
    for s in segs[out]:
        c = _clip_line(w, h, *(int(v) for v in s))
        if c is not None:
            clipped.append(c)
    return np.concatenate([segs[keep], np.array(clipped, dtype=np.int64).reshape(-1, 4)])


def _put(canvas: np.ndarray, xs: np.ndarray, ys: np.ndarray, color) -> None:
    H, W = canvas.shape[:2]
    ok = (xs >= 0) & (xs < W) & (ys >= 0) & (ys < H)
    canvas[ys[ok], xs[ok]] = np.asarray(color, dtype=canvas.dtype)


def _ramp(counts: np.ndarray):
    """For counts (S,): (segment index, k within segment) for every pixel."""
    seg = np.repeat(np.arange(len(counts)), counts)
    start = np.cumsum(counts) - counts
    return seg, np.arange(int(counts.sum()), dtype=np.int64) - start[seg]


def lines8(canvas: np.ndarray, segs, color) -> None:
    """Several ``line8`` segments (S, 4) int (x1, y1, x2, y2) in one pass."""
    H, W = canvas.shape[:2]
    s = _clip_all(segs, W, H)
    if len(s) == 0:
        return
    x1, y1, x2, y2 = s.T
    swap = x2 < x1
    x1, x2 = np.where(swap, x2, x1), np.where(swap, x1, x2)
    y1, y2 = np.where(swap, y2, y1), np.where(swap, y1, y2)
    dx, dy = x2 - x1, y2 - y1
    sy = np.where(dy < 0, -1, 1)
    dy = np.abs(dy)
    ymaj = dy > dx
    major, minor = np.maximum(dx, dy), np.minimum(dx, dy)
    i, k = _ramp(major + 1)
    D, d = major[i], minor[i]
    m = np.where(D > 0, -((D - 2 * d * k) // np.maximum(2 * D, 1)), 0)
    xs = np.where(ymaj[i], x1[i] + m, x1[i] + k)
    ys = np.where(ymaj[i], y1[i] + sy[i] * k, y1[i] + sy[i] * m)
    _put(canvas, xs, ys, color)


def line8(canvas: np.ndarray, x1: int, y1: int, x2: int, y2: int, color) -> None:
    """``cv2.line(thickness=1, LINE_8)`` between integer points."""
    lines8(canvas, [[x1, y1, x2, y2]], color)


def lines2(canvas: np.ndarray, segs, color) -> None:
    """Several fixed-point ``line2`` segments (S, 4) (16 fractional bits) in one pass."""
    H, W = canvas.shape[:2]
    s = _clip_all(segs, W << XY_SHIFT, H << XY_SHIFT)
    if len(s) == 0:
        return
    x1, y1, x2, y2 = s.T
    dx, dy = x2 - x1, y2 - y1
    xmaj = np.abs(dx) > np.abs(dy)
    swap = np.where(xmaj, dx < 0, dy < 0)
    x1, x2 = np.where(swap, x2, x1), np.where(swap, x1, x2)
    y1, y2 = np.where(swap, y2, y1), np.where(swap, y1, y2)
    dx, dy = np.where(swap, -dx, dx), np.where(swap, -dy, dy)  # the major delta becomes >= 0
    step = np.where(xmaj, _cdiv(dy << XY_SHIFT, np.abs(dx) | 1), _cdiv(dx << XY_SHIFT, np.abs(dy) | 1))
    n = np.where(xmaj, (x2 - x1) >> XY_SHIFT, (y2 - y1) >> XY_SHIFT)
    _put(canvas, (x2 + _HALF) >> XY_SHIFT, (y2 + _HALF) >> XY_SHIFT, color)
    i, k = _ramp(np.maximum(n + 1, 0))
    a0 = np.where(xmaj, x1, y1)[i]  # major start
    b0 = np.where(xmaj, y1, x1)[i]  # minor start
    ma = ((a0 + _HALF) >> XY_SHIFT) + k
    mi = (b0 + _HALF + k * step[i]) >> XY_SHIFT
    xm = xmaj[i]
    _put(canvas, np.where(xm, ma, mi), np.where(xm, mi, ma), color)


def line2(canvas: np.ndarray, x1: int, y1: int, x2: int, y2: int, color) -> None:
    """OpenCV's fixed-point ``Line2`` (``cv2.line(..., LINE_8, shift=16)``)."""
    lines2(canvas, [[x1, y1, x2, y2]], color)


def fill_convex_poly(canvas: np.ndarray, pts, color, shift: int = 0) -> None:
    """``cv2.fillConvexPoly(canvas, pts, color, LINE_8, shift)`` in place (shift 0 or 16)."""
    H, W = canvas.shape[:2]
    v = np.asarray(pts, dtype=np.int64).reshape(-1, 2)
    n = len(v)
    if n == 0:
        return
    up = XY_SHIFT - shift
    vs = v << up
    outline = np.concatenate([np.roll(vs, 1, axis=0), vs], 1)  # (v[i-1], v[i])
    if shift == 0:
        lines8(canvas, outline >> XY_SHIFT, color)
    else:
        lines2(canvas, outline, color)
    delta = (1 << shift) >> 1
    xmin, xmax = (int(v[:, 0].min()) + delta) >> shift, (int(v[:, 0].max()) + delta) >> shift
    imin = int(np.argmin(v[:, 1]))  # the first vertex with the smallest y
    ymin, ymax = (int(v[imin, 1]) + delta) >> shift, (int(v[:, 1].max()) + delta) >> shift
    if n < 3 or xmax < 0 or ymax < 0 or xmin >= W or ymin >= H:
        return
    ymax = min(ymax, H - 1)
    ty_all = [(int(p) + delta) >> shift for p in v[:, 1]]
    vx = [int(p) for p in vs[:, 0]]
    # chain state: [idx, di, x, dx, ye]
    edge = [[imin, 1, -XY_ONE, 0, ymin], [imin, n - 1, -XY_ONE, 0, ymin]]
    edges = n
    y = ymin
    rows, lx, ldx, rx, rdx, ry0 = [], [], [], [], [], []
    while y <= ymax:
        for e in edge:  # activate the next edge of a chain whose edge ended (FillConvexPoly)
            if y >= e[4]:
                idx0, di = e[0], e[1]
                idx = idx0 + di
                if idx >= n:
                    idx -= n
                while True:
                    go = edges > 0
                    edges -= 1
                    if not go:
                        break
                    ty = ty_all[idx]
                    if ty > y:
                        e[4] = ty
                        num, den = (vx[idx] - vx[idx0]) * 2 + (ty - y), 2 * (ty - y)
                        e[3] = abs(num) // den * (1 if num >= 0 else -1)
                        e[2] = vx[idx0]
                        e[0] = idx
                        break
                    idx0 = idx
                    idx += di
                    if idx >= n:
                        idx -= n
        if edges < 0:
            break
        y_next = min(edge[0][4], edge[1][4], ymax + 1)
        y_next = max(y_next, y + 1)
        rows.append((y, y_next))
        lx.append(edge[0][2])
        ldx.append(edge[0][3])
        rx.append(edge[1][2])
        rdx.append(edge[1][3])
        ry0.append(y)
        cnt = y_next - y
        edge[0][2] += edge[0][3] * cnt
        edge[1][2] += edge[1][3] * cnt
        y = y_next
    if not rows:
        return
    counts = np.array([b - a for a, b in rows], dtype=np.int64)
    i, k = _ramp(counts)
    ys = np.array(ry0, dtype=np.int64)[i] + k
    xa = np.array(lx, dtype=np.int64)[i] + np.array(ldx, dtype=np.int64)[i] * k
    xb = np.array(rx, dtype=np.int64)[i] + np.array(rdx, dtype=np.int64)[i] * k
    x1 = (np.minimum(xa, xb) + _HALF) >> XY_SHIFT
    x2 = (np.maximum(xa, xb) + _HALF) >> XY_SHIFT
    ok = (ys >= 0) & (x2 >= 0) & (x1 < W)
    ys, x1, x2 = ys[ok], np.maximum(x1[ok], 0), np.minimum(x2[ok], W - 1)
    if len(ys) == 0:
        return
    lo = int(x1.min())
    cols = np.arange(lo, int(x2.max()) + 1)
    mask = (cols[None, :] >= x1[:, None]) & (cols[None, :] <= x2[:, None])
    rr, cc = np.nonzero(mask)
    canvas[ys[rr], cols[cc]] = np.asarray(color, dtype=canvas.dtype)


_DISKS = {}


def draw_disk(canvas: np.ndarray, cx: int, cy: int, r: int, color) -> None:
    """Filled circle {(x-cx)^2 + (y-cy)^2 <= r^2} (== cv2.circle(thickness=-1), integer centre)."""
    if r not in _DISKS:
        d = np.arange(-r, r + 1)
        _DISKS[r] = d[:, None] ** 2 + d[None, :] ** 2 <= r * r
    H, W = canvas.shape[:2]
    x0, x1 = max(cx - r, 0), min(cx + r, W - 1)
    y0, y1 = max(cy - r, 0), min(cy + r, H - 1)
    if x1 < x0 or y1 < y0:
        return
    m = _DISKS[r][y0 - cy + r:y1 - cy + r + 1, x0 - cx + r:x1 - cx + r + 1]
    canvas[y0:y1 + 1, x0:x1 + 1][m] = np.asarray(color, dtype=canvas.dtype)


def thick_line2(canvas: np.ndarray, x0: int, y0: int, x1: int, y1: int, color) -> None:
    """``cv2.line(canvas, (x0, y0), (x1, y1), color, thickness=2)`` (LINE_8)."""
    dx, dy = float(x0 - x1), float(y1 - y0)
    r = dx * dx + dy * dy
    if abs(r) > 2.220446049250313e-16:
        r = XY_ONE / math.sqrt(r)  # thickness 2: half-width 1 px = 2 << (XY_SHIFT - 1)
        px, py = round(dy * r), round(dx * r)
        ax, ay, bx, by = x0 << XY_SHIFT, y0 << XY_SHIFT, x1 << XY_SHIFT, y1 << XY_SHIFT
        pts = [(ax + px, ay + py), (ax - px, ay - py), (bx - px, by - py), (bx + px, by + py)]
        fill_convex_poly(canvas, pts, color, XY_SHIFT)
    draw_disk(canvas, x0, y0, 1, color)
    draw_disk(canvas, x1, y1, 1, color)
