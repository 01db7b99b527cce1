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
        # the same core graph with its control step removed (guide fed the resized frames): isolates
        # core's kornia Canny, which dominates on CPU
        bare = json.loads(json.dumps(core))
        bare["19"]["inputs"]["image"] = ["13", 0]
        bare["15"]["inputs"]["image"] = ["13", 0]
        del bare["14"]
        graphs_to_run = (("pack", pack), ("core", core), ("core-no-canny", bare))
        times = {name: [] for name, _ in graphs_to_run}
        # warm-up: load models once for every graph (not timed)
        for name, prompt in graphs_to_run:
            srv.run(prompt, timeout=900)
        for i in range(args.runs):
            for name, prompt in graphs_to_run:
                if name == "pack":
                    prompt["1"]["inputs"]["seed"] = 1000 + i
                else:
                    prompt["26"]["inputs"]["noise_seed"] = 1000 + i
                t0 = time.perf_counter()
                srv.run(prompt, timeout=900)
                times[name].append(time.perf_counter() - t0)
        print(f"tiny LTX-2.3, {args.width}x{args.height}, {args.frames} frames, {args.runs} runs each (CPU)")
        med = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"  {name:13s} runs: " + ", ".join(f"{x:.2f}s" for x in t) + f"   median {med[name]:.2f}s")
        print(f"  pack / core (kornia Canny) median ratio: {med['pack'] / med['core']:.2f}")
        print(f"  pack / core without a control step:     {med['pack'] / med['core-no-canny']:.2f} "
              f"(pack overhead {med['pack'] - med['core-no-canny']:+.2f}s per run: reference decode + resample, "
              "exact canny, validation, CRF encode)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
