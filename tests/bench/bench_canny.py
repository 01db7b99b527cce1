#!/usr/bin/env python
"""Benchmark: torch ``canny_frames`` vs a cv2/numpy per-frame loop (controlnet_aux style).

Not a test. Prints frames/s for both, side by side in the same run, their
ratio, whether the outputs agree, and each method's peak RSS (each method runs
in its own subprocess so the peaks do not mix).

    python tests/bench/bench_canny.py                      # 24 frames 967x544 -> short side 512, CPU
    python tests/bench/bench_canny.py --frames 121 --threads 2
    python tests/bench/bench_canny.py --device cuda        # CUDA too (when available)

The input clip is procedural (gradients, shapes, texture, noise, a slow pan),
float32 [0, 1] like a ComfyUI IMAGE batch. cv2 (opencv-python-headless) is only
needed for the reference loop; without it only the torch numbers are printed.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _import_pack():
    """Import the pack under the alias ``rv2v`` (never as a top-level ``nodes``)."""
    if "rv2v" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "rv2v", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
        )
        mod = importlib.util.module_from_spec(spec)
        sys.modules["rv2v"] = mod
        spec.loader.exec_module(mod)
    from rv2v.nodes.pure import canny

    return canny


def make_clip(n, h, w, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    shapes = [(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(8, h / 4), rng.uniform(0, 1, 3)) for _ in range(14)]
    out = np.empty((n, h, w, 3), np.float32)
    for i in range(n):
        xs = x + 2.0 * i  # slow pan
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):
            img[..., c] = 0.45 + 0.25 * np.sin(xs / (40 + 9 * c) + y / 57) + 0.0002 * xs
        img += 0.04 * (np.sin(xs / 2.3) * np.cos(y / 3.1))[..., None]  # fine texture
        for cx, cy, r, col in shapes:
            m = ((xs - cx) % (w + 200) - 100) ** 2 + (y - cy) ** 2 < r * r
            img[m] = img[m] * 0.3 + col * 0.7
        img += rng.normal(0, 0.02, img.shape).astype(np.float32)
        out[i] = np.clip(img, 0, 1)
    return out


def _rss_mb():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if sys.platform != "darwin" else r / 1024.0 / 1024.0


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark (Linux >= 4.0) so the peak covers only the timed runs."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _hwm_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return _rss_mb()


def _current_rss_mb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def worker(args):
    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    clip_np = make_clip(args.frames, args.height, args.width)
    clip = torch.from_numpy(clip_np)
    res = {"method": args.worker, "frames": args.frames}
    if args.worker == "cv2":
        import cv2

        if args.threads:
            cv2.setNumThreads(args.threads)

        def run():
            H, W = args.height, args.width
            k = float(args.resolution) / float(min(H, W))
            h, w = int(np.round(H * k)), int(np.round(W * k))
            ph, pw = int(np.ceil(h / 64.0) * 64 - h), int(np.ceil(w / 64.0) * 64 - w)
            out = np.empty((args.frames, h, w, 3), np.uint8)
            for i in range(args.frames):
                a = np.asarray(clip[i] * 255.0, dtype=np.uint8)
                a = cv2.resize(a, (w, h), interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)
                a = np.pad(a, [[0, ph], [0, pw], [0, 0]], mode="edge")
                e = cv2.Canny(a, args.low, args.high)[:h, :w]
                out[i] = e[..., None]
            return out

        sync = lambda: None  # noqa: E731
        dev_clip = clip
    else:
        canny = _import_pack()
        dev = torch.device(args.worker)
        dev_clip = clip.to(dev) if args.resident else clip

        def run():
            return canny.canny_frames(
                dev_clip, args.low, args.high, args.resolution, chunk=args.chunk, device=dev
            )

        sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
    # warm-up on 2 frames (tap tables, allocator, CUDA context)
    if args.worker != "cv2":
        canny.canny_frames(dev_clip[:2], args.low, args.high, args.resolution, chunk=args.chunk, device=dev)
    times = []
    out = None
    base = _current_rss_mb()
    reset = _reset_peak_rss()
    for _ in range(args.repeat):
        out = None  # drop the previous output so the peak holds one output only
        sync()
        t0 = time.perf_counter()
        out = run()
        sync()
        times.append(time.perf_counter() - t0)
    best = min(times)
    res.update(
        seconds=best,
        fps=args.frames / best,
        ms_per_frame=1e3 * best / args.frames,
        peak_rss_mb=_hwm_mb() if reset else _rss_mb(),
        rss_before_mb=base,
        threads=torch.get_num_threads(),
    )
    if args.worker.startswith("cuda"):
        res["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    o = out.cpu().numpy() if hasattr(out, "cpu") else out
    np.save(args.dump, o)
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--height", type=int, default=544)
    ap.add_argument("--width", type=int, default=967)
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--low", type=float, default=92)
    ap.add_argument("--high", type=float, default=200)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="torch/cv2 threads (0 = library default)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per method (best is reported)")
    ap.add_argument("--device", default="auto", help="cpu | cuda | auto (cpu, plus cuda when available)")
    ap.add_argument("--resident", action="store_true", help="CUDA: keep the input clip on the GPU")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    import numpy as np
    import torch

    methods = []
    if importlib.util.find_spec("cv2") is not None:
        methods.append("cv2")
    if args.device in ("cpu", "auto"):
        methods.append("cpu")
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        methods.append("cuda")
    print(
        f"clip: {args.frames} x {args.height}x{args.width} float32 -> short side {args.resolution}, "
        f"canny {args.low:g}/{args.high:g}, chunk {args.chunk}, threads {args.threads or 'default'}, "
        f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}"
    )
    results = {}
    import tempfile

    with tempfile.TemporaryDirectory() as td:
        for m in methods:
            dump = os.path.join(td, f"{m}.npy")
            cmd = [sys.executable, __file__, "--worker", m, "--dump", dump] + [
                a for a in sys.argv[1:] if not a.startswith("--worker") and not a.startswith("--dump")
            ]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                print(f"[{m}] failed:\n{p.stderr[-2000:]}")
                continue
            results[m] = json.loads(p.stdout.strip().splitlines()[-1])
            results[m]["out"] = np.load(dump)
    ref = results.get("cv2")
    print(f"{'method':<14}{'frames/s':>10}{'ms/frame':>10}{'vs cv2':>9}{'peak RSS MB':>13}{'before MB':>11}{'diff px':>10}")
    for m, r in results.items():
        name = {"cv2": "cv2 loop", "cpu": "torch cpu", "cuda": "torch cuda"}[m]
        ratio = f"{r['ms_per_frame'] / ref['ms_per_frame']:.2f}x" if ref else "-"
        diff = int((r["out"] != ref["out"]).sum()) if ref is not None else -1
        extra = f"  (GPU peak {r['cuda_peak_mb']:.0f} MB)" if "cuda_peak_mb" in r else ""
        print(
            f"{name:<14}{r['fps']:>10.1f}{r['ms_per_frame']:>10.2f}{ratio:>9}{r['peak_rss_mb']:>13.0f}"
            f"{r['rss_before_mb']:>11.0f}{diff if ref else '-':>10}{extra}"
        )
    print(
        "(ratio = torch ms/frame / cv2 ms/frame; peak RSS = process peak during the timed runs, "
        "'before' = RSS with the input clip loaded and the method warmed up; "
        "diff px = differing output values vs the cv2 loop)"
    )


if __name__ == "__main__":
    main()
