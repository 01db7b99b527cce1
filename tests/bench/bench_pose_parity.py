#!/usr/bin/env python
"""Parity benchmark: the pack's DWPose path vs the reference DWPose code, same models, same frames.

Not a test (CI never runs it). It needs a local copy of the reference code, the DWPose
folder of comfyui_controlnet_aux (github.com/Fannovel16/comfyui_controlnet_aux,
``src/custom_controlnet_aux/dwpose``: the code the official Union workflow runs), which is
read from ``--reference`` and never copied into the pack:

    git --git-dir=<mirror of comfyui_controlnet_aux> archive HEAD src/custom_controlnet_aux/dwpose \\
        | tar -x -C /tmp/cna_ref
    python tests/bench/bench_pose_parity.py --reference /tmp/cna_ref

``--reference`` may name the repository root, its ``src`` folder, the ``custom_controlnet_aux``
package or the ``dwpose`` folder itself. The reference needs cv2 (opencv-python-headless) and
numpy; what else it imports (matplotlib for one colour conversion, its ``body.py`` with
scipy/torchvision for the old OpenPose body model) is stubbed inside this process only.
``draw_poses`` (in the reference package ``__init__``, which pulls in huggingface_hub and PIL)
is re-stated here as its loop over ``util.draw_bodypose`` / ``draw_handpose`` /
``draw_facepose``; the canvas is compared before the reference's final resize to a 512 short
side (the pack renders at the frame size on purpose, see the README's *Pose fidelity*).

The models are random-weight TorchScript stand-ins with the official signatures (what
``nodes/pure/pose/backends.py`` probes): detector ``(1, 3, 640, 640)`` raw 0-255 ->
``(1, 8400, 85)`` (sigmoided objectness and classes), pose ``(N, 3, 384, 288)`` normalised ->
``(simcc_x (N, 133, 576), simcc_y (N, 133, 768))``. They are biased so the comparison goes
through real code paths: the detector fires on the bright "person" blobs of the synthetic
frames (several overlapping candidates per blob: NMS, the 0.3 person threshold), its boxes and
the pose peaks depend on the pixels (so letterbox and crop rounding show up), the SimCC
distributions are sharp Gaussians whose amplitudes put part of the keypoints under the 0.3
threshold, and the face amplitudes share a per-crop term that leaves some persons with no
visible face point while the eyes are visible (the face-group rule).

Printed figures (all frames together): detector boxes (count agreement, min IoU; the pack
batches frames through the detector, which changes the network's last bits on CPU, so the
boxes are also compared with per-frame calls like the reference's), keypoints
(visibility agreement, max |difference| in pixels for points visible in both), POSE_KEYPOINT
groups (face/hands present in one and not the other), rendered canvases (min and mean IoU of
the drawn pixels, identical pixels, identical frames), and two stage checks on the same
boxes: letterboxed detector input and top-down crops (differing values / total).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import math
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]


def _import_pack():
    """Import the pack under the alias ``rv2v`` (never as a top-level ``nodes``)."""
    if "rv2v" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "rv2v", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
        mod = importlib.util.module_from_spec(spec)
        sys.modules["rv2v"] = mod
        spec.loader.exec_module(mod)
    return importlib.import_module("rv2v.nodes.pure.pose")


# ----------------------------------------------------------------------------- reference import
def _find_dwpose(path: Path) -> Path:
    for cand in (path, path / "dwpose", path / "custom_controlnet_aux" / "dwpose",
                 path / "src" / "custom_controlnet_aux" / "dwpose"):
        if (cand / "wholebody.py").is_file() and (cand / "util.py").is_file():
            return cand.resolve()
    raise SystemExit(f"--reference {path}: no dwpose folder with wholebody.py / util.py found there")


def _hsv_to_rgb(hsv):
    """Stand-in for ``matplotlib.colors.hsv_to_rgb`` (the arithmetic of matplotlib's version)."""
    h, s, v = (float(c) for c in np.asarray(hsv, dtype=np.float64).reshape(3))
    i = int(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i % 6]
    return np.array(v if s == 0 else rgb, dtype=np.float64) * np.ones(3)


def load_reference(path: str):
    """Import ``wholebody``, ``util`` and ``types`` of the reference without its package ``__init__``."""
    dw = _find_dwpose(Path(path))
    pkg_name = "cna_ref_pkg"
    pkg = types.ModuleType(pkg_name)
    pkg.__path__ = [str(dw.parent)]
    sub = types.ModuleType(pkg_name + ".dwpose")
    sub.__path__ = [str(dw)]
    sys.modules[pkg_name] = pkg
    sys.modules[pkg_name + ".dwpose"] = sub
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        mpl = types.ModuleType("matplotlib")
        mpl.colors = types.SimpleNamespace(hsv_to_rgb=_hsv_to_rgb)
        sys.modules["matplotlib"] = mpl
    rtypes = importlib.import_module(pkg_name + ".dwpose.types")
    body = types.ModuleType(pkg_name + ".dwpose.body")  # the old OpenPose body model: not used here
    body.BodyResult, body.Keypoint = rtypes.BodyResult, rtypes.Keypoint
    sys.modules[pkg_name + ".dwpose.body"] = body
    wholebody = importlib.import_module(pkg_name + ".dwpose.wholebody")
    util = importlib.import_module(pkg_name + ".dwpose.util")
    det = importlib.import_module(pkg_name + ".dwpose.dw_torchscript.jit_det")
    pose = importlib.import_module(pkg_name + ".dwpose.dw_torchscript.jit_pose")
    return types.SimpleNamespace(wholebody=wholebody, util=util, det=det, pose=pose, dir=dw)


def reference_draw(util, poses, H, W):
    """The reference ``draw_poses`` loop (body, hands, face per person) on a black canvas."""
    canvas = np.zeros((H, W, 3), dtype=np.uint8)
    for p in poses:
        canvas = util.draw_bodypose(canvas, p.body.keypoints, False)
        canvas = util.draw_handpose(canvas, p.left_hand)
        canvas = util.draw_handpose(canvas, p.right_hand)
        canvas = util.draw_facepose(canvas, p.face)
    return canvas


# ----------------------------------------------------------------------------- stand-in models
class StandInDet(torch.nn.Module):
    """(B, 3, 640, 640) raw 0-255 -> (B, 8400, 85): fires on bright blobs at stride 32."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.feat = torch.nn.Parameter(torch.randn(8, 3, 3, 3, generator=g) * 0.6, requires_grad=False)
        self.reg = torch.nn.Parameter(torch.randn(4, 8, generator=g) * 0.5, requires_grad=False)
        self.cls = torch.nn.Parameter(torch.randn(80, 8, generator=g) * 0.3, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x / 255.0
        outs = []
        for s in (8, 16, 32):
            p = F.avg_pool2d(x, s)  # (B, 3, n, n)
            f = torch.tanh(F.conv2d(p - 0.5, self.feat, padding=1))  # (B, 8, n, n)
            B, _, n, _ = f.shape
            f = f.flatten(2).transpose(1, 2)  # (B, n*n, 8)
            blur = F.avg_pool2d(p.mean(1, keepdim=True), 5, 1, 2, count_include_pad=True)
            bright = blur.flatten(1)  # (B, n*n): local brightness, highest inside a blob
            r = torch.tanh(f @ self.reg.t())  # (B, n*n, 4)
            xy = 0.5 + 0.45 * r[..., 0:2]
            wh = math.log(6.0) + 0.3 * r[..., 2:4]
            if s == 32:
                obj = torch.sigmoid(25.0 * (bright - 0.58) + 0.5 * r[..., 0])
            else:
                obj = torch.sigmoid(-12.0 + 0.0 * bright)
            cls = torch.sigmoid(f @ self.cls.t())
            cls = torch.cat([torch.sigmoid(2.5 + 0.6 * f[..., 0:1]), cls[..., 1:]], -1)
            outs.append(torch.cat([xy, wh, obj[..., None], cls], -1))
        return torch.cat(outs, 1)


class StandInPose(torch.nn.Module):
    """(N, 3, 384, 288) normalised -> sharp Gaussian SimCC peaks placed from the crop's content."""

    def __init__(self, seed: int = 1):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.nn.Parameter(torch.randn(133, 3, 3, 3, generator=g) * 0.4, requires_grad=False)
        amp = torch.randn(133, generator=g) * 1.2 + 0.3
        amp[23:91] = 0.0  # face: shared per-crop term below
        self.amp = torch.nn.Parameter(amp, requires_grad=False)
        self.face = torch.nn.Parameter(torch.randn(68, generator=g) * 0.15, requires_grad=False)

    def forward(self, x: torch.Tensor):
        p = F.avg_pool2d(x, 8)  # (N, 3, 48, 36)
        f = F.conv2d(p, self.w, padding=1)  # (N, 133, 48, 36)
        ax = torch.softmax(f.mean(2) * 4.0, -1)  # (N, 133, 36)
        ay = torch.softmax(f.mean(3) * 4.0, -1)  # (N, 133, 48)
        cx = (torch.arange(36, dtype=x.dtype, device=x.device) + 0.5) * 16.0
        cy = (torch.arange(48, dtype=x.dtype, device=x.device) + 0.5) * 16.0
        mux = (ax * cx).sum(-1)  # SimCC bins (2 per pixel)
        muy = (ay * cy).sum(-1)
        logit = self.amp + 0.8 * torch.tanh(f.mean((2, 3)))
        head = p[:, 0, :8].mean((1, 2))  # the crop's top rows decide whether a face shows
        face = 4.0 * (head[:, None] - 0.3) + self.face
        logit = torch.cat([logit[:, :23], face, logit[:, 91:]], 1)
        amp = torch.sigmoid(logit)
        bx = torch.arange(576, dtype=x.dtype, device=x.device)
        by = torch.arange(768, dtype=x.dtype, device=x.device)
        sx = amp[..., None] * torch.exp(-0.5 * ((bx - mux[..., None]) / 2.5) ** 2)
        sy = amp[..., None] * torch.exp(-0.5 * ((by - muy[..., None]) / 2.5) ** 2)
        return sx, sy


def make_frames(rng, n, h, w):
    """Dark textured background with 1-3 bright textured 'person' blobs (uint8 RGB)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for _ in range(n):
        img = 40 + 25 * np.sin(xx / rng.uniform(7, 30) + yy / rng.uniform(9, 40))[..., None] \
            + rng.normal(0, 12, (h, w, 3))
        for _ in range(int(rng.integers(1, 4))):
            bh, bw = rng.uniform(0.35, 0.8) * h, rng.uniform(0.15, 0.35) * w
            y0, x0 = rng.uniform(0, h - bh), rng.uniform(0, w - bw)
            m = (yy >= y0) & (yy < y0 + bh) & (xx >= x0) & (xx < x0 + bw)
            col = rng.uniform(150, 250, 3)
            tex = 30 * np.sin(xx / rng.uniform(3, 9)) * np.cos(yy / rng.uniform(3, 9))
            img[m] = col + tex[m][:, None] + rng.normal(0, 10, (int(m.sum()), 3))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


# ----------------------------------------------------------------------------- figures
def box_iou(a, b):
    x1, y1 = np.maximum(a[0], b[0]), np.maximum(a[1], b[1])
    x2, y2 = np.minimum(a[2], b[2]), np.minimum(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])  # noqa: E731
    return inter / max(area(a) + area(b) - inter, 1e-12)


def match_boxes(ra, pa, min_iou=0.5):
    """Greedy one-to-one matching by IoU: [(reference index, pack index)] in reference order."""
    pairs, used = [], set()
    for i, a in enumerate(ra):
        best = max(((box_iou(a, b), j) for j, b in enumerate(pa) if j not in used), default=(0.0, -1))
        if best[0] >= min_iou:
            pairs.append((i, best[1]))
            used.add(best[1])
    return pairs


def ref_groups(pose_result):
    """Reference PoseResult -> {'body','left_hand','right_hand','face'} as lists of (x, y) / None."""
    def pts(lst):
        return None if lst is None else [None if k is None else (float(k.x), float(k.y)) for k in lst]
    return {"body": pts(pose_result.body.keypoints), "left_hand": pts(pose_result.left_hand),
            "right_hand": pts(pose_result.right_hand), "face": pts(pose_result.face)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", required=True, help="copy of comfyui_controlnet_aux (or its dwpose folder)")
    ap.add_argument("--frames", type=int, default=3, help="frames per size (default 3)")
    ap.add_argument("--sizes", default="480x640,720x1280,333x517,240x320,1080x1920",
                    help="HxW list; 240x320 is upscaled by the letterbox")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import cv2

    ref = load_reference(args.reference)
    pose_pkg = _import_pack()
    from rv2v.nodes.pure.pose import backends, detect, keypoints, render, topdown

    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as td:
        det_path = Path(td) / backends.DET_FILE
        pose_path = Path(td) / backends.POSE_FILE
        torch.jit.script(StandInDet(args.seed)).save(str(det_path))
        torch.jit.script(StandInPose(args.seed + 1)).save(str(pose_path))
        with contextlib.redirect_stdout(io.StringIO()):
            wb = ref.wholebody.Wholebody(str(det_path), str(pose_path), torchscript_device="cpu")
        be = backends.DWPoseBackend.from_files(det_path, pose_path, "cpu")

        st = dict(frames=0, persons_ref=0, persons_pack=0, box_count_diff=0, box_iou_min=1.0,
                  box_max_px=0.0, kp_vis_diff=0, kp_vis_total=0, kp_max_px=0.0, group_diff=0,
                  no_face_eyes=0, render_iou=[], px_same=0, px_total=0, frames_same=0,
                  lb_diff=0, lb_total=0, box_perframe_diff=0, alone_px_diff=0, alone_px_total=0, crop_diff=0, crop_total=0, crop_max=0)
        for size in args.sizes.split(","):
            H, W = (int(v) for v in size.lower().split("x"))
            frames = make_frames(rng, args.frames, H, W)
            batch = torch.from_numpy(np.stack(frames))
            pack_boxes = be.detect(batch)
            pack_res = be.estimate(batch, pack_boxes)
            pack_img, pack_meta = backends.estimate_poses(be, batch, chunk=len(frames))
            for i, img in enumerate(frames):
                st["frames"] += 1
                # -- stage: letterbox
                ref_lb, _ = ref.det.preprocess(img, (640, 640))
                pk_lb, _ = detect.letterbox(torch.from_numpy(img)[None])
                st["lb_diff"] += int((pk_lb[0].numpy() != ref_lb).sum())
                st["lb_total"] += ref_lb.size
                # -- detector boxes
                rb = ref.det.inference_detector(wb.det, img)
                rb = np.zeros((0, 4)) if rb is None else np.asarray(rb, np.float64)
                pb = pack_boxes[i].double().numpy()
                if len(rb) != len(pb):
                    st["box_count_diff"] += 1
                pf = be.detect(batch[i:i + 1])[0].double().numpy()  # per-frame call, like the reference
                if len(pf) != len(rb) or (len(rb) and np.abs(pf - rb).max() > 0):
                    st["box_perframe_diff"] += 1
                pairs = match_boxes(rb, pb)  # (reference index, pack index)
                for a, b in pairs:
                    st["box_iou_min"] = min(st["box_iou_min"], box_iou(rb[a], pb[b]))
                    st["box_max_px"] = max(st["box_max_px"], float(np.abs(rb[a] - pb[b]).max()))
                # -- stage: crops of the reference boxes, both ways
                if len(rb):
                    ref_crops, _, _ = ref.pose.preprocess(img, rb, (288, 384))
                    c, s = topdown.box_to_center_scale(torch.from_numpy(rb))
                    pk = topdown.crop_affine(torch.from_numpy(img).permute(2, 0, 1), c, s)
                    mean, std = np.array(topdown.MEAN), np.array(topdown.STD)
                    for k, rc in enumerate(ref_crops):
                        rcu = np.rint(rc * std + mean)  # back to the warped uint8 values
                        pcu = pk[k].permute(1, 2, 0).double().numpy()
                        d = np.abs(rcu - pcu)
                        st["crop_diff"] += int((d > 0).sum())
                        st["crop_total"] += d.size
                        st["crop_max"] = max(st["crop_max"], int(d.max()))
                # -- keypoints
                with contextlib.redirect_stdout(io.StringIO()):
                    info = wb(img)
                rposes = ref.wholebody.Wholebody.format_result(info)
                ref_img = reference_draw(ref.util, rposes, H, W)
                kp, sc = pack_res[i]
                if kp.shape[0]:
                    k2, s2 = keypoints.insert_neck_and_remap(kp, sc)
                    ppl = keypoints.format_people(k2, s2)
                else:
                    k2, s2, ppl = np.zeros((0, 134, 2)), np.zeros((0, 134)), []
                st["persons_ref"] += len(rposes)
                st["persons_pack"] += len(ppl)
                if pairs:
                    ra, pa = [a for a, _ in pairs], [b for _, b in pairs]
                    rv = info[ra, :, 2] >= 0.3
                    pv = np.asarray(s2, np.float64)[pa] >= 0.3
                    st["kp_vis_diff"] += int((rv != pv).sum())
                    st["kp_vis_total"] += rv.size
                    both = rv & pv
                    if both.any():
                        d = np.abs(info[ra, :, :2] - np.asarray(k2, np.float64)[pa])[both]
                        st["kp_max_px"] = max(st["kp_max_px"], float(d.max()))
                meta = pack_meta[i]["people"]
                for a, b in pairs:
                    rg, pp = ref_groups(rposes[a]), meta[b]
                    for key, jkey in (("left_hand", "hand_left_keypoints_2d"),
                                      ("right_hand", "hand_right_keypoints_2d"), ("face", "face_keypoints_2d")):
                        if (rg[key] is None) != (pp[jkey] is None):
                            st["group_diff"] += 1
                for rp in rposes:
                    rg = ref_groups(rp)
                    if rg["face"] is None and (rg["body"][14] is not None or rg["body"][15] is not None):
                        st["no_face_eyes"] += 1
                # -- the renderer alone: the reference's persons drawn by the pack
                alone = render.draw_people([ref_groups(rp) for rp in rposes], H, W)
                ma, mr0 = alone.any(-1), ref_img.any(-1)
                st["alone_px_diff"] += int(np.any(alone != ref_img, -1).sum())
                st["alone_px_total"] += int((ma | mr0).sum())
                # -- rendering
                pimg = pack_img[i].numpy()
                mr, mp = ref_img.any(-1), pimg.any(-1)
                union = (mr | mp).sum()
                st["render_iou"].append(1.0 if union == 0 else (mr & mp).sum() / union)
                same = np.all(ref_img == pimg, -1)
                st["px_same"] += int((same & (mr | mp)).sum())
                st["px_total"] += int(union)
                st["frames_same"] += int(same.all())

    ious = np.array(st["render_iou"])
    print(f"reference: {ref.dir}")
    print(f"cv2 {cv2.__version__}, numpy {np.__version__}, torch {torch.__version__}; stand-in models, "
          f"{st['frames']} frames ({args.sizes}), seed {args.seed}")
    print(f"persons: reference {st['persons_ref']}, pack {st['persons_pack']} "
          f"({st['no_face_eyes']} reference persons with eyes but no face)")
    print(f"letterbox input: {st['lb_diff']} of {st['lb_total']} values differ")
    print(f"crops (reference boxes): {st['crop_diff']} of {st['crop_total']} values differ, max {st['crop_max']}")
    print(f"boxes: count differs in {st['box_count_diff']} frames; min IoU {st['box_iou_min']:.6f}; "
          f"max |coord diff| {st['box_max_px']:.4f} px (batched detector); frames whose boxes differ "
          f"with per-frame detector calls: {st['box_perframe_diff']}")
    print(f"keypoints: visibility differs for {st['kp_vis_diff']} of {st['kp_vis_total']}; "
          f"max |diff| (visible in both) {st['kp_max_px']:.4f} px")
    print(f"POSE_KEYPOINT groups (hands/face present vs absent) differing: {st['group_diff']}")
    print(f"render: IoU min {ious.min():.6f} mean {ious.mean():.6f}; identical drawn pixels "
          f"{st['px_same']}/{st['px_total']} ({st['px_same'] / max(st['px_total'], 1):.6f}); "
          f"identical frames {st['frames_same']}/{st['frames']}")
    print(f"renderer alone (reference persons drawn by the pack): {st['alone_px_diff']} of "
          f"{st['alone_px_total']} drawn pixels differ")
    return st


if __name__ == "__main__":
    main()
