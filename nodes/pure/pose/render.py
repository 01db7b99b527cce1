"""OpenPose-style rendering of DWPose persons without OpenCV (cv2-exact primitives).

Pure module (numpy/torch). Follows the drawing of
DWPose as comfyui_controlnet_aux runs it (github.com/Fannovel16/comfyui_controlnet_aux, src/custom_controlnet_aux/dwpose), util.py:

* black uint8 RGB canvas at the detection-image size; per person: body, then
  left hand, right hand, face;
* body limbs: 17 filled ellipse polygons, centre int(midpoint), axes
  (int(length / 2), stick), angle int(degrees(atan2(dy, dx))) of (first -
  second), vertices at every integer degree (``ellipse2Poly``), colour of
  the 18-colour ramp * 0.6 (truncated); then joints as filled circles of
  radius 4 in the full colour; a limb needs both endpoints;
* stick = 4, or 4 * k with ``xinsr`` where k = 1 if max(H, W) < 500 else
  min(2 + max // 1000, 7);
* hands: 20 edges of thickness 2 in HSV(e / 20, 1, 1) * 255, then blue
  (0, 0, 255) circles of radius 4; coordinates must be > 0.01 after int();
* face: white circles of radius 3 (> 0.01 after int()).

Primitives (``cvdraw``), cv2-exact (opencv-python 5.1; OpenCV ``modules/imgproc/src/drawing.cpp``
semantics, written in numpy): a filled circle is {(x-cx)^2 + (y-cy)^2 <= r^2}
(``Circle`` for integer centres); ``ellipse_poly`` is ``ellipse2Poly`` (its float32 table of
whole-degree sines); ``fill_convex_poly`` is ``FillConvexPoly`` (outline then 16-bit
fixed-point edge chains; shift 0 for the limbs); ``draw_line`` is ``ThickLine`` for
thickness 2 (a fixed-point rectangle through ``FillConvexPoly(shift=16)`` with ``Line2``
outlines, radius-1 caps). Pixel for pixel vs cv2, except a hand line whose rectangle
crosses the frame's right/bottom edge: there cv2 5.1 clips the outline differently (one
pixel shift of the clipped rows; mean IoU ~0.89 on such segments, README *Pose fidelity*).
The limb length is the reference's ``(dy ** 2 + dx ** 2) ** 0.5`` (not ``hypot``).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch

from .cvdraw import draw_disk, ellipse_poly, fill_convex_poly, line2, line8, thick_line2

__all__ = ["BODY_LIMBS", "BODY_COLORS", "HAND_EDGES", "stick_width",
           "hand_edge_color", "ellipse_poly", "fill_convex_poly", "fill_poly_scanline", "line8",
           "line2", "draw_circle", "draw_line", "draw_person", "draw_people", "render_frames"]

BODY_LIMBS = ((2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11),
              (2, 12), (12, 13), (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18))
BODY_COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0),
               (85, 255, 0), (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255),
               (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255), (170, 0, 255),
               (255, 0, 255), (255, 0, 170), (255, 0, 85))
HAND_EDGES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10),
              (10, 11), (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18),
              (18, 19), (19, 20))
EPS = 0.01


def stick_width(height: int, width: int, xinsr: bool = False) -> int:
    if not xinsr:
        return 4
    m = max(height, width)
    k = 1 if m < 500 else min(2 + m // 1000, 7)
    return 4 * k


def hand_edge_color(e: int, n: int = len(HAND_EDGES)):
    """HSV(e/n, 1, 1) * 255 rounded to uint8 (cv2 saturates the float colour)."""
    h = e / float(n) * 6.0
    i = int(math.floor(h)) % 6
    f = h - math.floor(h)
    q, t = 1.0 - f, f
    rgb = [(1, t, 0), (q, 1, 0), (0, 1, t), (0, q, 1), (t, 0, 1), (1, 0, q)][i]
    return tuple(int(np.clip(np.rint(c * 255.0), 0, 255)) for c in rgb)


def fill_poly_scanline(canvas: np.ndarray, pts: np.ndarray, color) -> None:
    """``cv2.fillConvexPoly`` of an integer polygon (kept name; ``cvdraw.fill_convex_poly``)."""
    fill_convex_poly(canvas, pts, color, 0)


def draw_circle(canvas: np.ndarray, cx: int, cy: int, r: int, color) -> None:
    """Filled circle {(x-cx)^2 + (y-cy)^2 <= r^2} (== cv2.circle(thickness=-1) for integer centres)."""
    draw_disk(canvas, cx, cy, r, color)


def draw_line(canvas: np.ndarray, x0: int, y0: int, x1: int, y1: int, color) -> None:
    """``cv2.line(canvas, (x0, y0), (x1, y1), color, thickness=2)`` (``cvdraw.thick_line2``)."""
    thick_line2(canvas, x0, y0, x1, y1, color)


def _draw_body(canvas, body, stick, limb_alpha=0.6):
    for (a, b), color in zip(BODY_LIMBS, BODY_COLORS):
        p, q = body[a - 1], body[b - 1]
        if p is None or q is None:
            continue
        mx, my = (p[0] + q[0]) / 2.0, (p[1] + q[1]) / 2.0
        length = ((p[1] - q[1]) ** 2 + (p[0] - q[0]) ** 2) ** 0.5  # the reference's formula
        angle = int(math.degrees(math.atan2(p[1] - q[1], p[0] - q[0])))
        poly = ellipse_poly(int(mx), int(my), int(length / 2), stick, angle)
        fill_convex_poly(canvas, poly, [int(float(c) * limb_alpha) for c in color])
    for p, color in zip(body, BODY_COLORS):
        if p is None:
            continue
        draw_circle(canvas, int(p[0]), int(p[1]), 4, color)


def _draw_hand(canvas, hand):
    for e, (a, b) in enumerate(HAND_EDGES):
        p, q = hand[a], hand[b]
        if p is None or q is None:
            continue
        x1, y1, x2, y2 = int(p[0]), int(p[1]), int(q[0]), int(q[1])
        if x1 > EPS and y1 > EPS and x2 > EPS and y2 > EPS:
            draw_line(canvas, x1, y1, x2, y2, hand_edge_color(e))
    for p in hand:
        if p is None:
            continue
        x, y = int(p[0]), int(p[1])
        if x > EPS and y > EPS:
            draw_circle(canvas, x, y, 4, (0, 0, 255))


def _draw_face(canvas, face):
    for p in face:
        if p is None:
            continue
        x, y = int(p[0]), int(p[1])
        if x > EPS and y > EPS:
            draw_circle(canvas, x, y, 3, (255, 255, 255))


def draw_person(canvas: np.ndarray, person, body: bool = True, hands: bool = True,
                face: bool = True, stick: int = 4, limb_alpha: float = 0.6) -> np.ndarray:
    """Draw one person (``keypoints.format_people`` layout) in place on (H, W, 3) uint8 RGB."""
    if body and person.get("body") is not None:
        _draw_body(canvas, person["body"], stick, limb_alpha)
    if hands:
        for key in ("left_hand", "right_hand"):
            if person.get(key) is not None:
                _draw_hand(canvas, person[key])
    if face and person.get("face") is not None:
        _draw_face(canvas, person["face"])
    return canvas


def draw_people(people: Sequence[dict], height: int, width: int, body: bool = True,
                hands: bool = True, face: bool = True, xinsr: bool = False,
                limb_alpha: float = 0.6, canvas: Optional[np.ndarray] = None) -> np.ndarray:
    """Black (H, W, 3) uint8 canvas with all persons drawn in order."""
    if canvas is None:
        canvas = np.zeros((height, width, 3), dtype=np.uint8)
    stick = stick_width(height, width, xinsr)
    for p in people:
        draw_person(canvas, p, body, hands, face, stick, limb_alpha)
    return canvas


def render_frames(people_per_frame: Sequence[Sequence[dict]], height: int, width: int,
                  **kw) -> torch.Tensor:
    """Render a list of frames -> uint8 tensor (T, H, W, 3)."""
    out = np.zeros((len(people_per_frame), height, width, 3), dtype=np.uint8)
    for i, people in enumerate(people_per_frame):
        draw_people(people, height, width, canvas=out[i], **kw)
    return torch.from_numpy(out)
