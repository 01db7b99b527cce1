"""Benchmark: the pack's overhead on the tiny-model run vs a core-only graph of the same size.

Both graphs run side by side, alternating, on ONE real ComfyUI server (tiny random-weight LTX-2.3
models, CPU): the shipped API workflow (pack nodes: Settings, planning, torch canny, IC-LoRA guide,
start latents, schedule, CRF save) and a core-only equivalent (LoadVideo, ResizeImageMaskNode, kornia
Canny, core LTXVAddGuide, SaveVideo). Same source clip, output size, frame count and sampler.

    COMFYUI_PATH=... COMFY_PYTHON=... python tests/bench/bench_overhead.py [--frames 17] [--runs 3]

Prints per-run wall times (POST /prompt -> history complete), medians and the ratio. Each run uses a
server runs with ``--cache-none`` so every node of both graphs executes on every run (a fair
per-run comparison; with caching on, a seed change re-runs everything below the pack's Settings node
but only sampling onward in the core graph).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.e2e import graphs, harness  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=17, help="frames (8k+1)")
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    env = harness.comfy_env()
    if env is None:
        print(harness.comfy_env_reason())
        return 2
    base = Path(tempfile.mkdtemp(prefix="rv2v-bench-"))
    with harness.ComfyServer(base, env=env, extra_args=["--cache-none"]) as srv:
        clip = harness.make_clip(srv.input_dir / "bench.mp4", args.width, args.height, args.frames, 24)
        pack = json.loads((ROOT / "workflows" / "api" / "ltx23_reference_video_to_video.json").read_text())
        pack["1"]["inputs"].update(input_video=clip.name, num_frames=args.frames, frames_per_second=24.0)
        core = graphs.core_only_prompt(clip.name, probe_prefix=None, short_side=min(args.width, args.height),
                                       multiple=64)
        times = {"pack": [], "core": []}
        # warm-up: load models once for both graphs (not timed)
        for name, prompt in (("pack", pack), ("core", core)):
            srv.run(prompt, timeout=900)
        for i in range(args.runs):
            for name, prompt in (("pack", pack), ("core", core)):
                if name == "pack":
                    prompt["1"]["inputs"]["seed"] = 1000 + i
                else:
                    prompt["26"]["inputs"]["noise_seed"] = 1000 + i
                t0 = time.perf_counter()
                srv.run(prompt, timeout=900)
                times[name].append(time.perf_counter() - t0)
        print(f"tiny LTX-2.3, {args.width}x{args.height}, {args.frames} frames, {args.runs} runs each (CPU)")
        for name in ("pack", "core"):
            print(f"  {name:5s} runs: " + ", ".join(f"{t:.2f}s" for t in times[name])
                  + f"   median {statistics.median(times[name]):.2f}s")
        ratio = statistics.median(times["pack"]) / statistics.median(times["core"])
        print(f"  pack / core median ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
