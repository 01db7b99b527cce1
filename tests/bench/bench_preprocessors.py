#!/usr/bin/env python
"""Benchmark: the pack's canny, depth and pose preprocessors vs per-frame baselines, and host RAM.

Not a test. Two modes, each printing figures measured side by side in ONE run:

Speed (default): frames/s and peak memory at 544p (960x544 frames) for
  * canny: ours (``canny_frames``, chunked, pure torch) vs a cv2/numpy per-frame loop
    (controlnet_aux style: truncate, INTER_AREA to short side 512, pad64, ``cv2.Canny``);
  * depth: ours (``video_depth``: Video Depth Anything, 32-frame windows, batched) vs a
    per-frame fp32 baseline (the same network run on one frame at a time, upsampled and
    min-max normalised per frame, the way single-image depth nodes work);
  * pose: ours (``estimate_poses``: batched detector, batched crops) vs per-frame calls;
  on CPU, and on CUDA too when ``torch.cuda.is_available()``. Every method runs in its own
  subprocess, so the peak host RSS (VmHWM, reset after set-up) of one does not mix with
  another; CUDA peaks are ``torch.cuda.max_memory_allocated``. The ratio column is
  baseline time / our time (> 1: ours is faster).

    python tests/bench/bench_preprocessors.py                       # 32 frames, CPU (+ CUDA)
    python tests/bench/bench_preprocessors.py --frames 121 --only canny,pose
    python tests/bench/bench_preprocessors.py --models-dir ~/ComfyUI/models   # real weights

RAM (``--ram-check``): the pure control path the CLI runs -- decode the reference as uint8
(``media.decode_video(dtype=uint8)``), then ``control_video.control_frames(in_place=True)``
-- for 481 frames at 1280x704, one subprocess per control type, printing the peak RSS over
the uint8 frames' size (481*704*1280*3 B = 1.30 GB). Target: <= 1.5x.
``--node-path`` adds the node-style float32 path (float decode -> preprocess -> float IMAGE)
for comparison (needs ~8.5x the uint8 size: use --ram-frames to keep it small).

    python tests/bench/bench_preprocessors.py --ram-check
    python tests/bench/bench_preprocessors.py --ram-check --ram-frames 121 --node-path

Weights: the official files are used when found (``--depth-model FILE``, ``--pose-dir DIR``,
or ``--models-dir``/``--comfyui``: ``rv2v_depth/``, ``videodepthanything/``, ``rv2v_pose/``).
Otherwise depth uses the real ViT-S (vits) architecture with random weights (same FLOPs, so
the timing holds) and pose uses tiny fake TorchScript models with the real I/O contract --
the pose timing is then NOT representative (the output says so). ``--ram-check`` uses the
tiny test models (``tests/e2e/tiny_preprocessors.py``) unless real files are given: host RAM
is about the clip, not the network (the windows are on the GPU on a GPU machine).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from bench_canny import _current_rss_mb, _hwm_mb, _import_pack, _reset_peak_rss, make_clip  # noqa: E402

H100_TARGET_S = 3.0  # canny + depth(small) + pose, 121 frames at 544p, on an H100
RAM_TARGET = 1.5  # peak host RAM / uint8 frames, 481 frames at 704p
CANNY_TARGET = 3.0  # CPU canny time / cv2 time


# ----------------------------------------------------------------------------- models
def _pure(name):
    _import_pack()
    import importlib

    return importlib.import_module(f"rv2v.nodes.pure.{name}")


def _tiny_module():
    spec = importlib.util.spec_from_file_location("rv2v_tiny_preprocessors", ROOT / "tests" / "e2e" /
                                                  "tiny_preprocessors.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def models_dir(args):
    if args.models_dir:
        return args.models_dir
    if args.comfyui:
        return str(Path(args.comfyui).expanduser() / "models")
    return None


def find_depth(args):
    """(path or None, description)."""
    cv, weights = _pure("control_video"), _pure("weights")
    name = args.depth_model or weights.DEPTH_DEFAULT
    try:
        return cv.find_model(name, weights.DEPTH_FOLDER, models_dir(args)), "real weights"
    except FileNotFoundError:
        return None, (f"{name} not found: RANDOM weights with the real ViT-S (vits) architecture "
                      "(same compute, so the timing holds; the output is noise)")


def find_pose(args):
    """((detector, estimator) or None, description)."""
    cv, weights = _pure("control_video"), _pure("weights")
    dirs = [args.pose_dir] if args.pose_dir else []
    root = models_dir(args)
    if root:
        dirs += cv.model_folders(root, weights.POSE_FOLDER)
    for d in dirs:
        det = Path(d).expanduser() / weights.POSE_DETECTOR.filename
        est = Path(d).expanduser() / weights.POSE_ESTIMATOR.filename
        if det.is_file() and est.is_file():
            return (str(det), str(est)), "real TorchScript files"
    return None, ("yolox_l.torchscript.pt / dw-ll_ucoco_384_bs5.torchscript.pt not found: TINY fake TorchScript "
                  "models (real I/O contract, almost no compute) -- the pose timing is NOT representative")


def build_depth(args, device, tiny=False):
    import torch

    cv, depth = _pure("control_video"), _pure("depth")
    path, _ = find_depth(args)
    if path:
        return cv.load_depth(path, device=device)
    if tiny:
        t = _tiny_module().TINY_VDA
        from rv2v.nodes.pure.depth.dinov2 import ViTConfig

        cfg = depth.VDAConfig(t["name"], ViTConfig(*t["vit"]), tuple(t["layers"]), t["features"],
                              tuple(t["out_channels"]), t["max_frames"], t["metric"])
    else:
        cfg = depth.VDA_CONFIGS["vits"]
    return depth.build_random(cfg, seed=0).to(device=device, dtype=torch.float32)


def build_pose(args, device, workdir):
    import warnings

    import torch

    cv = _pure("control_video")
    files, _ = find_pose(args)
    if files is None:
        tiny = _tiny_module()
        files = (os.path.join(workdir, "det.pt"), os.path.join(workdir, "pose.pt"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.script(tiny.FakeDet()).save(files[0])
            torch.jit.script(tiny.FakePose()).save(files[1])
    return cv.load_pose(files[0], files[1], device=device)


# ----------------------------------------------------------------------------- speed workers
def speed_worker(args, spec):
    import numpy as np
    import torch

    kind, method, device = spec.split(":")
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(device)
    n = args.frames
    clip = torch.from_numpy(make_clip(n, args.height, args.width))
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    repeat = args.repeat
    res = {"spec": spec, "frames": n}
    with tempfile.TemporaryDirectory() as td, torch.no_grad():
        if kind == "canny" and method == "cv2":
            import cv2

            if args.threads:
                cv2.setNumThreads(args.threads)

            def run(x):
                H, W = x.shape[1], x.shape[2]
                k = 512.0 / min(H, W)
                h, w = int(np.round(H * k)), int(np.round(W * k))
                ph, pw = int(np.ceil(h / 64.0) * 64 - h), int(np.ceil(w / 64.0) * 64 - w)
                out = np.empty((x.shape[0], h, w, 3), np.uint8)
                for i in range(x.shape[0]):
                    a = np.asarray(x[i] * 255.0, dtype=np.uint8)
                    a = cv2.resize(a, (w, h), interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)
                    a = np.pad(a, [[0, ph], [0, pw], [0, 0]], mode="edge")
                    out[i] = cv2.Canny(a, 92, 200)[:h, :w, None]
                return out
        elif kind == "canny":
            canny = _pure("canny")

            def run(x):
                return canny.canny_frames(x, 92, 200, 512, chunk=8, device=dev)
        elif kind == "depth":
            depth = _pure("depth")
            from rv2v.nodes.pure.depth.windowing import network_size, preprocess

            model = build_depth(args, dev)
            size = network_size(args.height, args.width, args.depth_input_size)
            if dev.type == "cpu":
                repeat = 1  # ~2.5 s per frame-forward on 2 cores: one timed run

            if method == "ours":
                def run(x):
                    return depth.video_depth(model, x, input_size=args.depth_input_size, device=dev,
                                             precision=args.depth_precision)
            else:
                def run(x):  # per-frame fp32, per-frame normalisation (single-image depth node style)
                    outs = []
                    for i in range(x.shape[0]):
                        d = model(preprocess(x[i:i + 1], size, dev).unsqueeze(0))[0]  # (1, h, w), T = 1
                        d = torch.nn.functional.interpolate(d.unsqueeze(1), size=tuple(x.shape[1:3]),
                                                            mode="bilinear", align_corners=True)[0, 0]
                        d = (d - d.min()) / (d.max() - d.min() + 1e-6)
                        outs.append(d.unsqueeze(-1).expand(-1, -1, 3).cpu())
                    return torch.stack(outs)
        elif kind == "pose":
            backends = _pure("pose.backends")
            backend = build_pose(args, dev, td)

            if method == "ours":
                def run(x):
                    return backends.estimate_poses(backend, x, chunk=8)[0].float().div_(255.0)
            else:
                def run(x):  # controlnet_aux style: one frame per call
                    return torch.cat([backends.estimate_poses(backend, x[i:i + 1], chunk=1)[0]
                                      for i in range(x.shape[0])]).float().div_(255.0)
        else:
            raise SystemExit(f"unknown worker {spec}")
        # warm-up (allocator, CUDA context, cudnn); skipped for depth on CPU (one window costs ~80 s)
        if not (kind == "depth" and dev.type == "cpu"):
            run(clip[:1] if kind == "depth" else clip[:2])
            sync()
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        base = _current_rss_mb()
        reset = _reset_peak_rss()
        times = []
        for _ in range(repeat):
            out = None  # noqa: F841 - drop the previous output: the peak holds one output
            sync()
            t0 = time.perf_counter()
            out = run(clip)
            sync()
            times.append(time.perf_counter() - t0)
        best = min(times)
        res.update(seconds=best, fps=n / best, ms_per_frame=1e3 * best / n, repeat=repeat,
                   peak_rss_mb=_hwm_mb() if reset else float("nan"), rss_before_mb=base,
                   threads=torch.get_num_threads(), out_shape=list(out.shape))
        if dev.type == "cuda":
            res["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(res))


# ----------------------------------------------------------------------------- RAM workers
def make_video(path, n, width, height, fps=24):
    """An H.264 clip with moving shapes (edges) over a gradient, written once and reused."""
    import av
    import numpy as np

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([0.5 + 0.3 * np.sin(x / (37 + 11 * c) + y / 53) for c in range(3)], -1)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"crf": "20", "preset": "ultrafast"}
        for i in range(n):
            img = base.copy()
            cx, cy = (80 + 9 * i) % width, height / 2 + height / 4 * np.sin(i / 17)
            img[(x - cx) ** 2 + (y - cy) ** 2 < (height / 6) ** 2] = (0.9, 0.3, 0.1)
            img[int(height * 0.1):int(height * 0.3), (40 + 5 * i) % width:(40 + 5 * i) % width + width // 8] = 0.1
            frame = av.VideoFrame.from_ndarray((img * 255).clip(0, 255).astype(np.uint8), format="rgb24")
            for pkt in s.encode(frame):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def ram_worker(args, spec):
    import torch

    ctype, rest = spec.split(":", 1)
    path, n = rest.rsplit(":", 1)
    n = int(n)
    if args.threads:
        torch.set_num_threads(args.threads)
    media, cv = _pure("media"), _pure("control_video")
    canny, imageops = _pure("canny"), _pure("imageops")
    w, h = args.ram_width, args.ram_height
    with tempfile.TemporaryDirectory() as td:
        node_path = ctype.startswith("node-")
        ctype = ctype.replace("node-", "")
        depth_net = build_depth(args, "cpu", tiny=True) if ctype in ("depth", "composite") else None
        pose = build_pose(args, "cpu", td) if ctype in ("pose", "composite") else None
        base = _current_rss_mb()
        reset = _reset_peak_rss()
        t0 = time.perf_counter()
        if node_path:  # what the nodes hold: float32 IMAGE in, float32 IMAGE out (canny only)
            frames, _ = media.decode_video(path, num_frames=n, mode="native")
            edges = canny.canny_frames(frames, 92, 200, 512)
            out = imageops.cover_crop(edges, w, h)
        else:
            frames, _ = media.decode_video(path, num_frames=n, mode="native", dtype=torch.uint8)
            out = cv.control_frames(frames, ctype, w, h, depth_model=depth_net, pose_backend=pose,
                                    in_place=True)
        seconds = time.perf_counter() - t0
        peak = _hwm_mb() if reset else float("nan")
        print(json.dumps({"spec": spec, "frames": int(out.shape[0]), "out_shape": list(out.shape),
                          "out_dtype": str(out.dtype), "seconds": seconds, "peak_rss_mb": peak,
                          "rss_before_mb": base, "clip_u8_mb": n * w * h * 3 / 2**20}))


# ----------------------------------------------------------------------------- driver
def _run(args, flag, spec):
    cmd = [sys.executable, __file__, flag, spec] + [a for a in sys.argv[1:]]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"[{spec}] failed:\n{p.stderr[-3000:]}")
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def _windows(n):
    return len(range(0, n, 22))


def speed(args):
    import torch

    kinds = [k for k in ("canny", "depth", "pose") if k in args.only.split(",")]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.cpu_only else [])
    print(f"clip: {args.frames} frames {args.width}x{args.height} float32 (procedural), devices: {', '.join(devices)}, "
          f"threads {args.threads or 'default'}, cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, "
          f"torch {torch.__version__}")
    if "depth" in kinds:
        print(f"depth: {find_depth(args)[1]}; input size {args.depth_input_size}, precision {args.depth_precision}")
    if "pose" in kinds:
        print(f"pose: {find_pose(args)[1]}")
    baselines = {"canny": ("cv2", "cv2 per-frame loop"), "depth": ("perframe", "per-frame fp32"),
                 "pose": ("perframe", "per-frame calls")}
    rows = []
    for kind in kinds:
        base_method, base_name = baselines[kind]
        for dev in devices:
            base_dev = "cpu" if kind == "canny" else dev
            if kind == "canny" and dev != "cpu":
                base = next((r for r in rows if r[0] == kind and r[2] == base_name), None)
                base_res = base[4] if base else None
            else:
                base_res = _run(args, "--worker", f"{kind}:{base_method}:{base_dev}")
                rows.append((kind, base_dev, base_name, None, base_res))
            ours = _run(args, "--worker", f"{kind}:ours:{dev}")
            rows.append((kind, dev, "ours (batched, chunked)", base_res, ours))
    print(f"\n{'preproc.':<9}{'device':<7}{'method':<25}{'frames/s':>9}{'ms/frame':>10}{'speed-up':>9}"
          f"{'peak RSS MB':>12}{'before MB':>10}{'GPU peak MB':>12}")
    for kind, dev, name, base, r in rows:
        if r is None:
            continue
        ratio = f"{base['seconds'] / r['seconds']:.2f}x" if base else "-"
        gpu = f"{r['cuda_peak_mb']:.0f}" if "cuda_peak_mb" in r else "-"
        print(f"{kind:<9}{dev:<7}{name:<25}{r['fps']:>9.2f}{r['ms_per_frame']:>10.1f}{ratio:>9}"
              f"{r['peak_rss_mb']:>12.0f}{r['rss_before_mb']:>10.0f}{gpu:>12}")
    print("(speed-up = baseline time / our time on the same device, > 1: ours is faster; canny's baseline is "
          "cv2 on the CPU for both devices; peak RSS = process peak during the timed runs, 'before' = RSS "
          "after set-up: clip, model and warm-up; depth on CPU: one run, no warm-up; depth ours = Video Depth "
          "Anything's 32-frame windows with a 10-frame overlap: N frames -> ceil(N/22) windows of 32 "
          f"frame-forwards ({args.frames} frames: {32 * _windows(args.frames)}), per-frame baseline: N forwards "
          "without temporal consistency)")
    by = {(k, d, n == "ours (batched, chunked)"): r for k, d, n, _b, r in rows if r is not None}
    cv2_r, canny_cpu = by.get(("canny", "cpu", False)), by.get(("canny", "cpu", True))
    if cv2_r and canny_cpu:
        ratio = canny_cpu["seconds"] / cv2_r["seconds"]
        print(f"\nCPU canny: {ratio:.2f}x the cv2 loop's time (target <= {CANNY_TARGET:g}x: "
              f"{'met' if ratio <= CANNY_TARGET else 'NOT met'})")
    for dev in devices:
        parts = {k: by.get((k, dev, True)) for k in ("canny", "depth", "pose")}
        if not all(parts.values()):
            continue
        est = {k: (r["seconds"] / _windows(r["frames"]) * _windows(121) if k == "depth"
                   else r["seconds"] / r["frames"] * 121) for k, r in parts.items()}
        total = sum(est.values())
        how = "measured" if args.frames == 121 else f"extrapolated from {args.frames} frames (depth per window)"
        line = (f"{dev}: canny + depth + pose for 121 frames at {args.width}x{args.height}: {total:.2f} s "
                f"({', '.join(f'{k} {v:.2f} s' for k, v in est.items())}; {how})")
        if dev == "cuda":
            name = torch.cuda.get_device_name(0)
            line += (f" on {name}; target < {H100_TARGET_S:g} s on an H100 with real weights: "
                     f"{'met' if total < H100_TARGET_S else 'NOT met'}")
        else:
            line += f" (the < {H100_TARGET_S:g} s target is for 121 frames on an H100)"
        print(line)
    if "cuda" not in devices:
        print(f"(no CUDA device in this run: the H100 target -- canny + depth(small) + pose, 121 frames at 544p, "
              f"< {H100_TARGET_S:g} s -- is not measured)")


def ram_check(args):
    import torch

    w, h, n = args.ram_width, args.ram_height, args.ram_frames
    path = args.ram_video or os.path.join(tempfile.gettempdir(), f"rv2v-bench-{w}x{h}-{n}.mp4")
    if not os.path.isfile(path):
        t0 = time.perf_counter()
        make_video(path, n, w, h)
        print(f"wrote {path} ({n} frames {w}x{h}, {time.perf_counter() - t0:.0f} s; reused by later runs)")
    u8_mb = n * w * h * 3 / 2**20
    print(f"RAM check: {n} frames {w}x{h}: uint8 frames {u8_mb:.0f} MB, float32 {4 * u8_mb:.0f} MB; "
          f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, torch {torch.__version__}")
    print(f"path: decode_video(dtype=uint8) -> control_frames(in_place=True) (what `cli.py control` runs); "
          f"depth: {'real' if find_depth(args)[0] else 'tiny random'} weights, "
          f"pose: {'real' if find_pose(args)[0] else 'tiny fake'} models")
    specs = [t for t in args.ram_types.split(",") if t]
    if args.node_path:
        specs.append("node-canny")
    n0 = min(args.ram_base_frames, n - 1)
    u8_0 = n0 * w * h * 3 / 2**20
    print(f"\n{'control':<11}{'output':<17}{'seconds':>8}{'peak MB':>9}{'ratio':>7}{'before MB':>10}"
          f"{'peak-before':>12}{f'peak@{n0}':>9}{'marginal':>9}  target <= {RAM_TARGET:g}x")
    for t in specs:
        r = _run(args, "--ram-worker", f"{t}:{path}:{n}")
        r0 = _run(args, "--ram-worker", f"{t}:{path}:{n0}") if n0 > 0 else None
        if r is None:
            continue
        ratio = r["peak_rss_mb"] / u8_mb
        delta = (r["peak_rss_mb"] - r["rss_before_mb"]) / u8_mb
        marginal = (r["peak_rss_mb"] - r0["peak_rss_mb"]) / (u8_mb - u8_0) if r0 else float("nan")
        name = "node-f32" if t == "node-canny" else t
        out = f"{'x'.join(map(str, r['out_shape'][1:3]))} {r['out_dtype'].replace('torch.', '')}"
        verdict = "met" if ratio <= RAM_TARGET else "NOT met"
        print(f"{name:<11}{out:<17}{r['seconds']:>8.1f}{r['peak_rss_mb']:>9.0f} {ratio:>5.2f}x"
              f"{r['rss_before_mb']:>10.0f}{delta:>11.2f}x{r0['peak_rss_mb'] if r0 else float('nan'):>9.0f}"
              f"{marginal:>8.2f}x  {verdict if t != 'node-canny' else '(float32 node-style canny, comparison)'}")
    print(f"(ratio = whole-process peak RSS / uint8 frames, Python + torch + models included; 'before' = RSS "
          f"after imports and model load; peak@{n0} = the same run on the first {n0} frames; marginal = "
          f"(peak - peak@{n0}) / (uint8 bytes of the extra frames): what each further frame costs -- 1.00x = "
          "its uint8 frame and nothing else, so the rest of the peak is fixed: runtime, models, one chunk "
          "or, for depth, one 32-frame network window, whose activations live in host RAM on a CPU and "
          "on the GPU on a GPU machine)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=32, help="speed: frames per clip (H100 target: 121)")
    ap.add_argument("--width", type=int, default=960)
    ap.add_argument("--height", type=int, default=544)
    ap.add_argument("--only", default="canny,depth,pose", help="speed: comma list of canny,depth,pose")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per method (best reported; depth on CPU: 1)")
    ap.add_argument("--threads", type=int, default=0, help="torch/cv2 threads (0 = library default)")
    ap.add_argument("--cpu-only", action="store_true", help="skip CUDA even when available")
    ap.add_argument("--depth-input-size", type=int, default=518)
    ap.add_argument("--depth-precision", default="fp32", choices=("fp32", "fp16", "bf16"),
                    help="ours on CUDA (the per-frame baseline is always fp32)")
    ap.add_argument("--depth-model", help="Video Depth Anything weights (file, or a name in the models folder)")
    ap.add_argument("--pose-dir", help="folder with yolox_l.torchscript.pt and dw-ll_ucoco_384_bs5.torchscript.pt")
    ap.add_argument("--models-dir", help="ComfyUI models folder (rv2v_depth/, videodepthanything/, rv2v_pose/)")
    ap.add_argument("--comfyui", help="ComfyUI folder (its models/ is --models-dir)")
    ap.add_argument("--ram-check", action="store_true", help="measure host RAM of the uint8 control path")
    ap.add_argument("--ram-frames", type=int, default=481)
    ap.add_argument("--ram-width", type=int, default=1280)
    ap.add_argument("--ram-height", type=int, default=704)
    ap.add_argument("--ram-types", default="canny,depth,pose", help="control types for --ram-check")
    ap.add_argument("--ram-base-frames", type=int, default=32,
                    help="--ram-check: also run on this many frames, to split the peak into fixed + per-frame")
    ap.add_argument("--ram-video", help="use this video instead of the generated one")
    ap.add_argument("--node-path", action="store_true", help="--ram-check: add the float32 node-style canny path")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--ram-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        speed_worker(args, args.worker)
    elif args.ram_worker:
        ram_worker(args, args.ram_worker)
    elif args.ram_check:
        ram_check(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
