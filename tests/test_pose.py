"""DWPose pure pipeline: NMS, detector decode, top-down crop/SimCC, keypoint
remap, OpenCV-free rendering, and the TorchScript backend with tiny fake models.

cv2 (opencv-python-headless) is a test-only reference here.
"""
import math

import numpy as np
import pytest
import torch

from rv2v.nodes.pure.pose import backends, detect, keypoints, render, topdown
from rv2v.nodes.pure.pose.nms import iou_plus1, nms, nms_batched

cv2 = pytest.importorskip("cv2")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


# ---------------------------------------------------------------- NMS
def np_greedy_nms(boxes, scores, thr):
    """Reference written from the spec: stable descending order, +1 areas, suppress IoU > thr."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        w = np.maximum(0.0, np.minimum(x2[i], x2[order[1:]]) - np.maximum(x1[i], x1[order[1:]]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[order[1:]]) - np.maximum(y1[i], y1[order[1:]]) + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][ovr <= thr]
    return keep


def rand_boxes(rng, n, size=200.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(2, size / 3, (n, 2))
    return np.concatenate([xy, xy + wh], 1)


def test_nms_matches_numpy_reference_random():
    rng = np.random.default_rng(0)
    for trial in range(150):
        n = int(rng.integers(0, 60))
        b = rand_boxes(rng, n)
        s = rng.permutation(n).astype(np.float64) / max(n, 1) + 0.01 if trial % 3 else \
            np.round(rng.uniform(0, 1, n), 1)  # every third trial has many ties
        thr = float(rng.choice([0.3, 0.45, 0.6]))
        got = nms(torch.tensor(b), torch.tensor(s), thr).tolist()
        assert got == np_greedy_nms(b, s, thr)


def test_nms_matches_cv2_nmsboxes():
    # the +1 convention equals standard IoU on boxes grown by 1 px
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        b = rand_boxes(rng, n)
        s = rng.permutation(n).astype(np.float64) / n + 0.01
        rects = [(float(x1), float(y1), float(x2 - x1 + 1), float(y2 - y1 + 1)) for x1, y1, x2, y2 in b]
        ref = np.array(cv2.dnn.NMSBoxes(rects, s.tolist(), 0.0, 0.45)).reshape(-1).tolist()
        assert nms(torch.tensor(b), torch.tensor(s), 0.45).tolist() == ref


def test_nms_edge_cases():
    e = nms(torch.zeros(0, 4), torch.zeros(0))
    assert e.numel() == 0
    assert nms(torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([0.5])).tolist() == [0]
    same = torch.tensor([[0.0, 0, 10, 10]] * 3)
    assert nms(same, torch.tensor([0.2, 0.9, 0.5])).tolist() == [1]
    assert nms(same, torch.tensor([0.5, 0.5, 0.5])).tolist() == [0]  # stable on ties
    # +1 convention: IoU of [0,0,1,1] and [1,0,2,1] is 2/6, not 0
    iou = iou_plus1(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[1.0, 0, 2, 1]]))
    assert float(iou) == pytest.approx(2 / 6)
    # chain: a suppresses b, b would suppress c, but b is gone so c survives
    chain = torch.tensor([[0.0, 0, 10, 10], [4.0, 0, 14, 10], [8.0, 0, 18, 10]])
    assert nms(chain, torch.tensor([0.9, 0.8, 0.7]), 0.3).tolist() == [0, 2]


def test_nms_batched_padding_mask():
    rng = np.random.default_rng(2)
    bs = [rand_boxes(rng, n) for n in (5, 0, 17)]
    ss = [rng.uniform(0.01, 1, len(b)) for b in bs]
    N = 17
    B = torch.zeros(3, N, 4, dtype=torch.float64)
    S = torch.zeros(3, N, dtype=torch.float64)
    V = torch.zeros(3, N, dtype=torch.bool)
    for i, (b, s) in enumerate(zip(bs, ss)):
        B[i, :len(b)] = torch.tensor(b)
        S[i, :len(b)] = torch.tensor(s) + 5  # padding has a lower score than every real box
        V[i, :len(b)] = True
    keep = nms_batched(B, S, V)
    for i, (b, s) in enumerate(zip(bs, ss)):
        assert set(torch.nonzero(keep[i]).flatten().tolist()) == set(np_greedy_nms(b, s, 0.45))
    assert not keep[~V].any()


# ---------------------------------------------------------------- detector
@pytest.mark.parametrize("h,w", [(70, 98), (700, 1010)])  # up- and downscale
def test_letterbox_vs_cv2(h, w):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    can, r = detect.letterbox(torch.from_numpy(img)[None])
    assert r == pytest.approx(min(640 / h, 640 / w))
    nh, nw = int(h * r), int(w * r)
    ref = np.full((640, 640, 3), 114, np.uint8)
    ref[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    got = can[0].permute(1, 2, 0).numpy()
    assert can.shape == (1, 3, 640, 640) and can.dtype == torch.float32
    assert np.abs(got - ref.astype(np.float32)).max() == 0  # cv2-exact (resize_cv.linear_resize_uint8)
    assert (got[nh:] == 114).all() and (got[:, nw:] == 114).all()


def test_yolox_grid_layout():
    grid, stride = detect.yolox_grid()
    assert grid.shape == (8400, 2) and stride.shape == (8400, 1)
    assert grid[81].tolist() == [1, 1] and stride[81].item() == 8
    assert grid[6400 + 40 * 3 + 5].tolist() == [5, 3] and stride[6400].item() == 16
    assert grid[8000 + 20 * 19 + 19].tolist() == [19, 19] and stride[8399].item() == 32


H_IMG, W_IMG, R_IMG = 96, 128, 5.0  # letterbox ratio min(640/96, 640/128) = 5


def raw_for_box(box, anchor_level, cell):
    """Raw YOLOX output row (first 4 columns) that decodes to ``box`` (original pixels)."""
    s = detect.STRIDES[anchor_level]
    x1, y1, x2, y2 = [v * R_IMG for v in box]
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    gx, gy = cell
    n = 640 // s
    idx = sum((640 // t) ** 2 for t in detect.STRIDES[:anchor_level]) + gy * n + gx
    return idx, [cx / s - gx, cy / s - gy, math.log(w / s), math.log(h / s)]


def fake_det_output(specs):
    """specs: list of (box, level, cell, obj, cls0[, cls_other]) -> (8400, 85) float32."""
    out = torch.zeros(8400, 85)
    for box, level, cell, obj, cls0, *rest in specs:
        idx, raw = raw_for_box(box, level, cell)
        out[idx, :4] = torch.tensor(raw)
        out[idx, 4] = obj
        out[idx, 5] = cls0
        if rest:
            out[idx, 6] = rest[0]
    return out


DET_SPECS = [
    ((20, 10, 60, 90), 2, (6, 7), 0.9, 0.9),        # person, 0.81
    ((22, 12, 61, 88), 1, (15, 20), 0.9, 0.8),      # duplicate 0.72 -> suppressed
    ((80, 20, 120, 90), 1, (30, 10), 0.6, 0.6),     # second person, 0.36
    ((90, 50, 100, 60), 0, (10, 10), 0.5, 0.5),     # 0.25: survives NMS, < 0.3
    ((0, 0, 30, 30), 0, (20, 20), 0.9, 0.05, 0.9),  # another class only: 0.045 for person
]


def test_decode_and_select_persons():
    out = fake_det_output(DET_SPECS)[None]
    boxes, scores = detect.decode_yolox(out, R_IMG)
    idx, _ = raw_for_box((20, 10, 60, 90), 2, (6, 7))
    assert torch.allclose(boxes[0, idx], torch.tensor([20.0, 10, 60, 90]), atol=1e-3)
    assert scores[0, idx].item() == pytest.approx(0.81)
    sel = detect.select_persons(boxes, scores)
    assert len(sel) == 1 and sel[0].shape == (2, 4)
    assert torch.allclose(sel[0], torch.tensor([[20.0, 10, 60, 90], [80, 20, 120, 90]]), atol=1e-3)
    none = detect.select_persons(*detect.decode_yolox(torch.zeros(2, 8400, 85), 1.0))
    assert [b.shape[0] for b in none] == [0, 0]


# ---------------------------------------------------------------- top-down
def test_box_to_center_scale_hand_values():
    c, s = topdown.box_to_center_scale(torch.tensor([[10.0, 20, 110, 220], [0, 0, 200, 100]]))
    assert c.tolist() == [[60.0, 120.0], [100.0, 50.0]]
    # tall: (125, 250) -> w = 250 * 0.75; wide: (250, 125) -> h = 250 / 0.75
    assert c.dtype == s.dtype == torch.float64  # float64 like the reference
    assert torch.allclose(s, torch.tensor([[187.5, 250.0], [250.0, 250 / 0.75]], dtype=torch.float64))


def test_crop_affine_vs_cv2_warpaffine():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (5, 5), 0)  # smooth so bilinear rounding is the only difference
    boxes = torch.tensor([[10.0, 5, 70, 85], [60.3, 20.7, 130.2, 60.9], [-10.0, -20, 40, 30]])
    c, s = topdown.box_to_center_scale(boxes)
    crops = topdown.crop_affine(torch.from_numpy(img).permute(2, 0, 1), c, s)
    M = topdown.crop_matrix(c, s)
    for k in range(3):
        ref = cv2.warpAffine(img, M[k].double().numpy(), (288, 384), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        got = crops[k].permute(1, 2, 0).numpy()
        assert np.abs(got - ref.astype(np.float32)).max() <= 1
    n = topdown.normalize(torch.zeros(1, 3, 2, 2))
    assert n[0, :, 0, 0].tolist() == pytest.approx([-m / sd for m, sd in zip(topdown.MEAN, topdown.STD)])


def test_simcc_decode_and_inverse_map():
    sx = torch.zeros(2, 3, 576)
    sy = torch.zeros(2, 3, 768)
    sx[0, 0, 100], sy[0, 0, 300] = 0.9, 0.7
    sx[0, 1, 5], sx[0, 1, 7], sy[0, 1, 9] = 0.5, 0.5, 0.8  # tie -> first index
    sx[1, 2, 1] = -1.0  # all <= 0 -> location -1 / 2
    locs, sc = topdown.decode_simcc(sx, sy)
    assert locs[0, 0].tolist() == [50.0, 150.0] and sc[0, 0].item() == pytest.approx(0.7)
    assert locs[0, 1].tolist() == [2.5, 4.5] and sc[0, 1].item() == pytest.approx(0.5)
    assert locs[1, 2].tolist() == [-0.5, -0.5] and sc[1, 2].item() == 0.0
    # crop centre maps to the box centre; the forward affine inverts to_image
    c = torch.tensor([[60.0, 120.0]])
    s = torch.tensor([[187.5, 250.0]])
    assert topdown.to_image(torch.tensor([[[144.0, 192.0]]]), c, s).tolist() == [[[60.0, 120.0]]]
    p = torch.tensor([[[33.0, 71.5], [80.25, 200.0]]])
    M = topdown.crop_matrix(c, s)[0]
    q = p @ M[:, :2].T + M[:, 2]
    assert torch.allclose(topdown.to_image(q, c, s), p.double(), atol=1e-4)


# ---------------------------------------------------------------- keypoints
def test_neck_remap_thresholds_and_json():
    k = torch.arange(133 * 2, dtype=torch.float32).reshape(1, 133, 2)
    s = torch.full((1, 133), 0.9)
    s[0, 3] = 0.29   # left ear invisible
    s[0, 91:112] = 0.1  # COCO left hand (92-112 after the neck) invisible -> None
    k2, s2 = keypoints.insert_neck_and_remap(k, s)
    assert k2.shape == (1, 134, 2)
    neck = (k[0, 5] + k[0, 6]).numpy() / 2
    assert np.allclose(k2[0, 1], neck) and s2[0, 1] == 1.0
    src = [17, 6, 8, 10, 7, 9, 12, 14, 16, 13, 15, 2, 1, 4, 3]
    coco_plus_neck = np.concatenate([k[0, :17].numpy(), neck[None], k[0, 17:].numpy()])
    for slot, i in zip([1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17], src):
        assert np.allclose(k2[0, slot], coco_plus_neck[i])
    for slot in (0, 5, 11):
        assert np.allclose(k2[0, slot], coco_plus_neck[slot])
    people = keypoints.format_people(k2, s2)
    p = people[0]
    assert p["body"][17] is None  # OpenPose 17 = COCO 3 (left ear)
    assert p["left_hand"] is None and len(p["right_hand"]) == 21 and len(p["face"]) == 70
    assert p["face"][68] == p["body"][14] and p["face"][69] == p["body"][15]
    assert p["face"][0] == tuple(k[0, 23].tolist())  # COCO face starts at 23 (24 after neck)
    s_low = s.clone()
    # neck needs both > 0.3 (in float64: float32(0.3) itself passes, see the float64 test below)
    s_low[0, 5] = float(np.nextafter(np.float32(0.3), np.float32(0)))
    assert keypoints.insert_neck_and_remap(k, s_low)[1][0, 1] == 0.0
    j = keypoints.pose_keypoint_frame(people, 96, 128)
    q = j["people"][0]
    assert j["canvas_height"] == 96 and j["canvas_width"] == 128
    assert len(q["pose_keypoints_2d"]) == 54 and len(q["face_keypoints_2d"]) == 210
    assert q["hand_left_keypoints_2d"] is None and len(q["hand_right_keypoints_2d"]) == 63
    assert q["pose_keypoints_2d"][17 * 3:] == [0.0, 0.0, 0.0]
    assert q["pose_keypoints_2d"][:3] == [0.0, 1.0, 1.0]
    j2 = keypoints.pose_keypoint_frame(people, 96, 128, body=False, hands=False, face=False)
    q2 = j2["people"][0]
    assert q2["pose_keypoints_2d"] == [0.0] * 54
    assert q2["face_keypoints_2d"] is None and q2["hand_right_keypoints_2d"] is None


def test_face_group_needs_a_visible_face_point():
    """The 68 face points decide whether there is a face; visible eyes alone do not make one."""
    k = torch.rand(1, 133, 2) * 100 + 10
    s = torch.full((1, 133), 0.9)
    s[0, 23:91] = 0.1  # all 68 COCO face points invisible; the eyes (COCO 1, 2) stay visible
    k2, s2 = keypoints.insert_neck_and_remap(k, s)
    p = keypoints.format_people(k2, s2)[0]
    assert p["body"][14] is not None and p["body"][15] is not None
    assert p["face"] is None
    j = keypoints.pose_keypoint_frame([p], 96, 128)["people"][0]
    assert j["face_keypoints_2d"] is None
    # rendering: nothing white over the eye joints (the face is drawn in white, nothing else is)
    img = render.draw_people([p], 140, 140, body=False, hands=False)
    assert not img.any()
    # one visible face point: a 70-point face with the two eyes appended
    s[0, 40] = 0.9
    p = keypoints.format_people(*keypoints.insert_neck_and_remap(k, s))[0]
    assert len(p["face"]) == 70 and sum(q is not None for q in p["face"]) == 3
    assert p["face"][68] == p["body"][14] and p["face"][69] == p["body"][15]
    # eyes invisible too: a face of 68 + 2 None
    s[0, 1:3] = 0.1
    p = keypoints.format_people(*keypoints.insert_neck_and_remap(k, s))[0]
    assert p["face"][68] is None and p["face"][69] is None and p["face"][40 - 23] is not None


def test_thresholds_compare_in_float64_at_float32_0_3():
    """A float32 score of exactly float32(0.3) (0.30000001...) is > 0.3 in float64, like the reference."""
    f03 = np.float32(0.3)
    below = np.nextafter(f03, np.float32(0))
    k = torch.rand(2, 133, 2) * 50
    s = torch.full((2, 133), 0.9)
    s[0, 5] = s[0, 6] = torch.tensor(f03)  # shoulders exactly at float32(0.3): neck visible
    s[1, 5] = torch.tensor(below)  # the float32 just below: no neck
    k2, s2 = keypoints.insert_neck_and_remap(k, s)
    assert s2.dtype == np.float64 and k2.dtype == np.float64
    assert s2[0, 1] == 1.0 and s2[1, 1] == 0.0
    # the same keypoints in float64: the neck is the float64 mean
    assert k2[0, 1].tolist() == ((k[0, 5].double() + k[0, 6].double()) / 2).tolist()
    ppl = keypoints.format_people(k2, s2)
    assert ppl[0]["body"][2] is not None and ppl[0]["body"][5] is not None  # >= 0.3 at float32(0.3)
    assert ppl[1]["body"][1] is None and ppl[1]["body"][5] is None  # OpenPose 5 = COCO 5 (left shoulder)
    # the detector's person threshold: score > 0.3 in float64 keeps float32(0.3)
    boxes = torch.tensor([[[0.0, 0, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110]]])
    scores = torch.tensor([[f03, below, 0.9]], dtype=torch.float32)
    kept = detect.select_persons(boxes, scores)[0]
    assert kept.tolist() == [[100.0, 100, 110, 110], [0.0, 0, 10, 10]]


# ---------------------------------------------------------------- rendering
def cv2_hsv(e, n=20):
    h = e / n * 6
    i = int(math.floor(h)) % 6
    f = h - math.floor(h)
    return [(1, f, 0), (1 - f, 1, 0), (0, 1, f), (0, 1 - f, 1), (f, 0, 1), (1, 0, 1 - f)][i]


def cv2_reference(people, H, W, body=True, hands=True, face=True, stick=4):
    """Written from the spec (§3.5) with cv2 primitives."""
    c = np.zeros((H, W, 3), np.uint8)
    for p in people:
        if body and p["body"] is not None:
            kp = p["body"]
            for (a, b), col in zip(render.BODY_LIMBS, render.BODY_COLORS):
                if kp[a - 1] is None or kp[b - 1] is None:
                    continue
                X = np.array([kp[a - 1][1], kp[b - 1][1]])
                Y = np.array([kp[a - 1][0], kp[b - 1][0]])
                length = ((X[0] - X[1]) ** 2 + (Y[0] - Y[1]) ** 2) ** 0.5
                ang = math.degrees(math.atan2(X[0] - X[1], Y[0] - Y[1]))
                poly = cv2.ellipse2Poly((int(np.mean(Y)), int(np.mean(X))), (int(length / 2), stick),
                                        int(ang), 0, 360, 1)
                cv2.fillConvexPoly(c, poly, [int(float(v) * 0.6) for v in col])
            for q, col in zip(kp, render.BODY_COLORS):
                if q is not None:
                    cv2.circle(c, (int(q[0]), int(q[1])), 4, col, thickness=-1)
        for key in ("left_hand", "right_hand"):
            if hands and p.get(key) is not None:
                kp = p[key]
                for e, (a, b) in enumerate(render.HAND_EDGES):
                    if kp[a] is None or kp[b] is None:
                        continue
                    x1, y1, x2, y2 = int(kp[a][0]), int(kp[a][1]), int(kp[b][0]), int(kp[b][1])
                    if min(x1, y1, x2, y2) > 0.01:
                        cv2.line(c, (x1, y1), (x2, y2), [v * 255.0 for v in cv2_hsv(e)], thickness=2)
                for q in kp:
                    if q is not None and int(q[0]) > 0.01 and int(q[1]) > 0.01:
                        cv2.circle(c, (int(q[0]), int(q[1])), 4, (0, 0, 255), thickness=-1)
        if face and p.get("face") is not None:
            for q in p["face"]:
                if q is not None and int(q[0]) > 0.01 and int(q[1]) > 0.01:
                    cv2.circle(c, (int(q[0]), int(q[1])), 3, (255, 255, 255), thickness=-1)
    return c


def iou_and_agree(a, b):
    ma, mb = a.any(-1), b.any(-1)
    union = (ma | mb).sum()
    return (ma & mb).sum() / max(union, 1), (np.all(a == b, -1) & (ma | mb)).sum() / max(union, 1)


def make_body(rng, cx, cy, scale, drop=()):
    base = np.array([[0, -3], [0, -2], [-1, -2], [-1.5, -1], [-1.7, 0], [1, -2], [1.5, -1], [1.7, 0],
                     [-0.6, 0], [-0.7, 1.5], [-0.7, 3], [0.6, 0], [0.7, 1.5], [0.7, 3],
                     [-0.2, -3.2], [0.2, -3.2], [-0.4, -3.0], [0.4, -3.0]])
    pts = base * scale + [cx, cy] + rng.uniform(-0.5, 0.5, base.shape)
    return [None if i in drop else (float(x), float(y)) for i, (x, y) in enumerate(pts)]


def make_hand(rng, cx, cy, scale):
    ang = np.repeat(np.linspace(-1.2, 1.2, 5), 4)
    rad = np.tile(np.arange(1, 5), 5) * scale
    pts = np.stack([cx + rad * np.sin(ang), cy - rad * np.cos(ang)], 1)
    pts = np.concatenate([[[cx, cy]], pts]) + rng.uniform(-0.5, 0.5, (21, 2))
    return [(float(x), float(y)) for x, y in pts]


def make_face(rng, cx, cy, r):
    t = rng.uniform(0, 2 * np.pi, 70)
    rr = rng.uniform(0, r, 70)
    return [(float(cx + a * np.cos(b)), float(cy + a * np.sin(b))) for a, b in zip(rr, t)]


RENDER_CASES = ["single", "partial", "hands_only", "face_only", "two_overlapping", "border", "zero_length"]


@pytest.mark.parametrize("case", RENDER_CASES)
def test_render_vs_cv2_reference(case):
    rng = np.random.default_rng(RENDER_CASES.index(case))
    H, W = 240, 320
    empty = {"body": None, "left_hand": None, "right_hand": None, "face": None}
    if case == "single":
        people = [{"body": make_body(rng, 160, 130, 25), "left_hand": make_hand(rng, 110, 150, 6),
                   "right_hand": make_hand(rng, 210, 150, 6), "face": make_face(rng, 160, 55, 12)}]
    elif case == "partial":
        people = [{**empty, "body": make_body(rng, 150, 120, 22, drop=(3, 4, 9, 10, 16))}]
    elif case == "hands_only":
        people = [{**empty, "left_hand": make_hand(rng, 100, 150, 9), "right_hand": make_hand(rng, 220, 150, 9)}]
    elif case == "face_only":
        people = [{**empty, "face": make_face(rng, 160, 120, 40)}]
    elif case == "two_overlapping":
        people = [{**empty, "body": make_body(rng, 140, 125, 24), "face": make_face(rng, 140, 50, 10)},
                  {**empty, "body": make_body(rng, 175, 130, 24), "right_hand": make_hand(rng, 200, 140, 6)}]
    elif case == "border":
        b = make_body(rng, 20, 120, 30)
        b[4] = (-5.0, 120.0)
        b[10] = (15.0, 239.7)
        people = [{**empty, "body": b, "left_hand": make_hand(rng, 2, 100, 8), "face": make_face(rng, 310, 5, 15)}]
    else:
        b = make_body(rng, 160, 120, 20)
        b[3] = b[2]  # zero-length limb
        b[4] = b[3]
        people = [{**empty, "body": b}]
    got = render.draw_people(people, H, W)
    ref = cv2_reference(people, H, W)
    assert got.dtype == np.uint8 and got.shape == (H, W, 3)
    has_hands = any(p[k] is not None for p in people for k in ("left_hand", "right_hand"))
    iou, agree = iou_and_agree(got, ref)
    assert iou >= (0.85 if has_hands else 0.98), (iou, agree)
    assert agree >= (0.8 if has_hands else 0.97), (iou, agree)
    # the primitives are cv2-exact (the hand lines stay inside these frames): pixel for pixel
    assert np.array_equal(got, ref), (has_hands, iou, agree)
    # per part: body/face alone at the stricter bound
    if case in ("single", "two_overlapping", "border"):
        for kw in ({"hands": False, "face": False}, {"body": False, "hands": False}):
            iou2, agree2 = iou_and_agree(render.draw_people(people, H, W, **kw), cv2_reference(people, H, W, **kw))
            assert iou2 >= 0.98 and agree2 >= 0.97, (kw, iou2, agree2)
            assert np.array_equal(render.draw_people(people, H, W, **kw), cv2_reference(people, H, W, **kw))


def test_render_primitives_exact():
    for r in (1, 3, 4):
        for cx, cy in ((10, 9), (0, 0), (19, 3)):
            a = np.zeros((20, 20, 3), np.uint8)
            b = a.copy()
            cv2.circle(a, (cx, cy), r, (1, 2, 3), -1)
            render.draw_circle(b, cx, cy, r, (1, 2, 3))
            assert (a == b).all()
    rng = np.random.default_rng(9)
    for _ in range(60):
        cx, cy = (int(v) for v in rng.integers(10, 90, 2))
        a_len, ang = int(rng.integers(0, 40)), int(rng.integers(-180, 180))
        a = np.zeros((100, 100, 3), np.uint8)
        b = a.copy()
        cv2.fillConvexPoly(a, cv2.ellipse2Poly((cx, cy), (a_len, 4), ang, 0, 360, 1), (255, 255, 255))
        render.fill_poly_scanline(b, render.ellipse_poly(cx, cy, a_len, 4, ang), (255, 255, 255))
        assert (a[..., 0] != b[..., 0]).sum() <= 3
        assert np.array_equal(a, b)  # cv2-exact (ellipse2Poly's sine table, FillConvexPoly)
        assert np.array_equal(cv2.ellipse2Poly((cx, cy), (a_len, 4), ang, 0, 360, 1).reshape(-1, 2),
                              render.ellipse_poly(cx, cy, a_len, 4, ang))
    ious = []
    for _ in range(150):  # thickness-2 hand lines: cv2's ThickLine, pixel for pixel inside the frame
        x0, y0, x1, y1 = (int(v) for v in rng.integers(2, 98, 4))
        a = np.zeros((100, 100, 3), np.uint8)
        b = a.copy()
        cv2.line(a, (x0, y0), (x1, y1), (255, 0, 0), thickness=2)
        render.draw_line(b, x0, y0, x1, y1, (255, 0, 0))
        ma, mb = a[..., 0] > 0, b[..., 0] > 0
        ious.append((ma & mb).sum() / (ma | mb).sum())
        assert np.array_equal(a, b), (x0, y0, x1, y1)
    assert np.mean(ious) >= 0.92 and np.min(ious) >= 0.6, (np.mean(ious), np.min(ious))
    assert [render.hand_edge_color(e) for e in (0, 5, 10)] == [(255, 0, 0), (128, 255, 0), (0, 255, 255)]
    assert render.stick_width(480, 499, True) == 4 and render.stick_width(544, 960, True) == 8
    assert render.stick_width(2000, 3000, True) == 20 and render.stick_width(99999, 1, True) == 28
    assert render.stick_width(2000, 3000, False) == 4


# ---------------------------------------------------------------- backends (fake TorchScript models)
class FakeDet(torch.nn.Module):
    """(B, 3, 640, 640) -> (B, 8400, 85): a fixed raw output stored as a parameter."""

    def __init__(self, raw, fixed_batch: int = 0):
        super().__init__()
        self.raw = torch.nn.Parameter(raw.clone(), requires_grad=False)
        self.fixed_batch = fixed_batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fixed_batch > 0 and x.shape[0] != self.fixed_batch:
            raise RuntimeError("fixed batch")
        return self.raw.unsqueeze(0).expand(x.shape[0], -1, -1) + 0.0 * x.mean()


def pose_peaks():
    """Per keypoint (bin_x, bin_y, score) of the fake pose model."""
    k = torch.arange(133)
    bx = (40 + 3 * k) % 576
    by = (60 + 5 * k) % 768
    sc = torch.full((133,), 0.9)
    sc[3] = 0.2      # COCO left ear invisible
    sc[91:112] = 0.1  # COCO left hand invisible
    return bx, by, sc


class FakePose(torch.nn.Module):
    """(B, 3, 384, 288) -> (simcc_x (B, 133, 576), simcc_y (B, 133, 768)) with fixed peaks."""

    def __init__(self, fixed_batch: int = 0):
        super().__init__()
        bx, by, sc = pose_peaks()
        px = torch.zeros(133, 576)
        py = torch.zeros(133, 768)
        px[torch.arange(133), bx] = sc
        py[torch.arange(133), by] = sc
        self.px = torch.nn.Parameter(px, requires_grad=False)
        self.py = torch.nn.Parameter(py, requires_grad=False)
        self.fixed_batch = fixed_batch

    def forward(self, x: torch.Tensor):
        if self.fixed_batch > 0 and x.shape[0] != self.fixed_batch:
            raise RuntimeError("fixed batch")
        z = 0.0 * x.mean()
        n = x.shape[0]
        return self.px.unsqueeze(0).expand(n, -1, -1) + z, self.py.unsqueeze(0).expand(n, -1, -1) + z


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("dwpose")
    raw = fake_det_output(DET_SPECS)
    paths = {}
    for name, mod in {"det": FakeDet(raw), "det1": FakeDet(raw, 1), "det_empty": FakeDet(torch.zeros(8400, 85)),
                      "pose": FakePose(), "pose5": FakePose(5)}.items():
        p = d / f"{name}.pt"
        torch.jit.script(mod).save(str(p))
        paths[name] = p
    return paths


def expected_people():
    boxes = torch.tensor([[20.0, 10, 60, 90], [80, 20, 120, 90]])
    c, s = topdown.box_to_center_scale(boxes)
    bx, by, sc = pose_peaks()
    loc = torch.stack([bx, by], -1).float() / 2
    kp = loc[None] / torch.tensor([288.0, 384.0]) * s[:, None] + c[:, None] - s[:, None] / 2
    return keypoints.format_people(*keypoints.insert_neck_and_remap(kp, sc[None].expand(2, -1)))


@pytest.mark.parametrize("det_name,pose_name", [("det", "pose"), ("det1", "pose5")])
def test_backend_probe_and_full_pipeline(model_files, det_name, pose_name):
    be = backends.DWPoseBackend.from_files(model_files[det_name], model_files[pose_name])
    assert be.det_batch_ok == (det_name == "det")
    assert be.pose_batch == (None if pose_name == "pose" else 5)
    rng = np.random.default_rng(5)
    frames = torch.from_numpy(rng.uniform(0, 1, (3, H_IMG, W_IMG, 3)).astype(np.float32))
    calls = []
    out, meta = backends.estimate_poses(be, frames, chunk=2, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2, 3), (3, 3)]
    assert out.shape == (3, H_IMG, W_IMG, 3) and out.dtype == torch.uint8
    exp = expected_people()
    ref = render.draw_people(exp, H_IMG, W_IMG)
    assert ref.any()
    for i in range(3):
        assert np.array_equal(out[i].numpy(), ref)
        assert len(meta[i]["people"]) == 2 and meta[i]["canvas_width"] == W_IMG
        for got, e in zip(meta[i]["people"], exp):
            flat = np.array(got["pose_keypoints_2d"]).reshape(18, 3)
            for j, pt in enumerate(e["body"]):
                if pt is None:
                    assert flat[j].tolist() == [0.0, 0.0, 0.0]
                else:
                    assert flat[j, :2] == pytest.approx(pt, abs=1e-3) and flat[j, 2] == 1.0
            assert got["hand_left_keypoints_2d"] is None
            assert len(got["hand_right_keypoints_2d"]) == 63 and len(got["face_keypoints_2d"]) == 210
    # keypoints land where the analytic inverse of the crop puts them (0.5 px)
    kp = be.estimate(backends.frames_to_uint8(frames[:1]), [torch.tensor([[20.0, 10, 60, 90]])])[0][0]
    c, s = topdown.box_to_center_scale(torch.tensor([[20.0, 10, 60, 90]]))
    bx, by, _ = pose_peaks()
    crop_xy = torch.stack([bx, by], -1).float() / 2
    M = topdown.crop_matrix(c, s)[0]
    assert torch.allclose((kp[0] @ M[:, :2].T.double() + M[:, 2].double()).float(), crop_xy, atol=0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_backend_cuda_matches_cpu(model_files):
    frames = torch.rand(3, H_IMG, W_IMG, 3)
    ref = backends.estimate_poses(backends.DWPoseBackend.from_files(model_files["det"], model_files["pose"]), frames)
    got = backends.estimate_poses(backends.DWPoseBackend.from_files(model_files["det"], model_files["pose"], "cuda"),
                                  frames)
    assert torch.equal(ref[0], got[0])
    b = torch.tensor(rand_boxes(np.random.default_rng(7), 150))
    s = torch.rand(150)
    assert torch.equal(nms(b, s).cpu(), nms(b.cuda(), s.cuda()).cpu())


def test_backend_no_detections_and_stop(model_files):
    be = backends.DWPoseBackend.from_files(model_files["det_empty"], model_files["pose5"])
    frames = torch.full((2, 40, 50, 3), 0.5)
    out, meta = backends.estimate_poses(be, frames, chunk=4)
    assert not out.any() and [m["people"] for m in meta] == [[], []]
    with pytest.raises(InterruptedError):
        backends.estimate_poses(be, frames, chunk=1, should_stop=lambda: True)


def test_resolve_model_name():
    assert backends.resolve_model_name("yolox_l.onnx") == "yolox_l.torchscript.pt"
    assert backends.resolve_model_name("yzd-v/DWPose/yolox_l.onnx") == "yolox_l.torchscript.pt"
    assert backends.resolve_model_name("dw-ll_ucoco_384.onnx") == "dw-ll_ucoco_384_bs5.torchscript.pt"
    assert backends.resolve_model_name("dw-ll_ucoco_384_bs5.torchscript.pt") == "dw-ll_ucoco_384_bs5.torchscript.pt"
    with pytest.raises(ValueError, match="onnxruntime"):
        backends.resolve_model_name("yolo_nas_l_fp16.onnx")


def test_backend_contract_errors(tmp_path, model_files):
    class Bad(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :1, :10, :10]

    p = tmp_path / "bad.pt"
    torch.jit.script(Bad()).save(str(p))
    with pytest.raises(RuntimeError, match="yolox_l.torchscript.pt"):
        backends.DWPoseBackend.from_files(p, model_files["pose"])
    with pytest.raises(RuntimeError, match="dw-ll_ucoco_384_bs5"):
        backends.DWPoseBackend.from_files(model_files["det"], p)
    with pytest.raises(RuntimeError, match="could not load"):
        backends.DWPoseBackend.from_files(tmp_path / "missing.pt", model_files["pose"])


def test_pose_package_imports_only_allowed_modules():
    import ast
    import sys
    from pathlib import Path

    allowed = {"torch", "numpy", "einops", "safetensors", "av"} | set(sys.stdlib_module_names)
    pkg = Path(__file__).resolve().parents[1] / "nodes" / "pure" / "pose"
    files = sorted(pkg.glob("*.py"))
    assert {f.name for f in files} >= {"nms.py", "detect.py", "topdown.py", "keypoints.py", "render.py",
                                        "backends.py"}
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [(a.name, 0) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "", node.level)]
            else:
                continue
            for name, level in names:
                assert level > 0 or name.split(".")[0] in allowed | {"__future__"}, (f.name, name)


GOLDEN_DIGEST = "88f759c85c16ba6e"


def test_render_regression_digest():
    """Golden for the pack's own renderer (regressions; update deliberately when the spec changes)."""
    import hashlib

    rng = np.random.default_rng(42)
    people = [{"body": make_body(rng, 100, 90, 16), "left_hand": make_hand(rng, 60, 100, 5),
               "right_hand": make_hand(rng, 140, 100, 5), "face": make_face(rng, 100, 40, 8)}]
    img = render.draw_people(people, 160, 200)
    assert hashlib.sha256(img.tobytes()).hexdigest()[:16] == GOLDEN_DIGEST
