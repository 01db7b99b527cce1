"""Bounded fuzz run of the media decoder on mutated small MP4s.

Seed clips are written with PyAV; 200 mutants (bit flips, truncation, chunk
duplication, zeroed runs; fixed seeds, so a failure is reproducible) go through
probe_video, decode_video (time and uniform modes), decode_audio and load_image.
The loop runs in a child process with a timeout, so a hang or a crash (e.g. a
segfault in FFmpeg) fails this test instead of taking the test run down, and the
child reports any failure that is not a MediaError.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = 200
BASE_SEED = 20240611
TIMEOUT_S = 240

CHILD = textwrap.dedent(r'''
    import importlib.util, json, os, random, sys, time, traceback
    root, seed_dir, work_dir, count, base_seed = sys.argv[1:6]
    count, base_seed = int(count), int(base_seed)
    spec = importlib.util.spec_from_file_location("rv2v", os.path.join(root, "__init__.py"),
                                                  submodule_search_locations=[root])
    module = importlib.util.module_from_spec(spec)
    sys.modules["rv2v"] = module
    spec.loader.exec_module(module)
    from rv2v.nodes.pure import media
    import torch
    torch.set_num_threads(1)

    seeds = [open(os.path.join(seed_dir, n), "rb").read() for n in sorted(os.listdir(seed_dir))]
    limits = media.DecodeLimits(max_seconds=120, max_side=1024, max_pixels=1024 * 1024, max_frames=2000,
                                max_image_pixels=4_000_000)

    def mutate(rng, data):
        data = bytearray(data)
        kind = rng.choice(["flip", "truncate", "duplicate", "flip+duplicate", "zero"])
        if "flip" in kind:
            for _ in range(rng.randint(1, 24)):
                pos = rng.randrange(len(data))
                data[pos] ^= 1 << rng.randrange(8)
        if kind == "truncate":
            data = data[: rng.randrange(1, len(data))]
        if "duplicate" in kind:
            a = rng.randrange(len(data))
            b = min(len(data), a + rng.randint(1, 4096))
            at = rng.randrange(len(data))
            data[at:at] = data[a:b]
        if kind == "zero":
            a = rng.randrange(len(data))
            n = min(rng.randint(1, 512), len(data) - a)
            data[a:a + n] = bytes(n)
        return kind, bytes(data)

    counts, bad, slowest = {}, [], (0.0, None)
    for i in range(count):
        rng = random.Random(base_seed * 100003 + i)
        src = rng.randrange(len(seeds))
        kind, data = mutate(rng, seeds[src])
        path = os.path.join(work_dir, f"mutant{i}.mp4")
        with open(path, "wb") as fh:
            fh.write(data)
        print(f"START {i} {kind} seed={src}", flush=True)
        t0 = time.monotonic()
        calls = {
            "probe": lambda: media.probe_video(path, label="input_video", limits=limits),
            "time": lambda: media.decode_video(path, fps_out=12, num_frames=9, size=(32, 24),
                                               label="input_video", limits=limits),
            "uniform": lambda: media.decode_video(path, num_frames=5, mode="uniform",
                                                  label="control_video_url", limits=limits),
            "audio": lambda: media.decode_audio(path, duration=1.0, label="input_video"),
            "image": lambda: media.load_image(path, label="input_image", limits=limits),
        }
        for name, call in calls.items():
            try:
                call()
                outcome = "ok"
            except media.MediaError as exc:
                outcome = "MediaError"
                if not str(exc).split(":", 1)[0] in ("input_video", "control_video_url", "input_image") \
                        or f"'mutant{i}.mp4'" not in str(exc):
                    bad.append([i, kind, name, "MediaError without field/file", str(exc)])
            except Exception as exc:  # noqa: BLE001 - this is what the fuzz looks for
                outcome = type(exc).__name__
                bad.append([i, kind, name, outcome, traceback.format_exc()[-2000:]])
            counts[f"{name}:{outcome}"] = counts.get(f"{name}:{outcome}", 0) + 1
        took = time.monotonic() - t0
        if took > slowest[0]:
            slowest = (took, i)
        os.unlink(path)
    print("SUMMARY " + json.dumps({"counts": counts, "bad": bad, "slowest": slowest}), flush=True)
''')


def _clip(path, n, *, size=(32, 24), codec="libx264", pix_fmt="yuv420p", faststart=True, audio=False):
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", container_options=opts) as c:
        vs = c.add_stream(codec, rate=24)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], pix_fmt
        if codec == "libx264":
            vs.options = {"preset": "ultrafast"}
        a = None
        if audio:
            a = c.add_stream("aac", rate=16000)
            a.layout = "mono"
        rng = np.random.default_rng(n)
        for i in range(n):
            arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            f = av.VideoFrame.from_ndarray(arr, format="rgb24")
            f.pts = i
            c.mux(vs.encode(f))
        c.mux(vs.encode(None))
        if a is not None:
            wave = (0.1 * np.sin(np.arange(16000 * n // 24) / 10.0)).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
            af.sample_rate, af.pts = 16000, 0
            c.mux(a.encode(af))
            c.mux(a.encode(None))


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz_seeds")
    _clip(d / "a_h264.mp4", 8)
    _clip(d / "b_h264_audio_moov_last.mp4", 6, audio=True, faststart=False)
    _clip(d / "c_mpeg4_odd.mp4", 5, codec="mpeg4", size=(34, 26))
    _clip(d / "d_h264_444_odd.mp4", 4, size=(33, 21), pix_fmt="yuv444p")
    return d


def test_seed_clips_decode(seed_dir):
    """The unmutated seeds are valid, so the mutants start from real MP4 structure."""
    from rv2v.nodes.pure import media

    for name in sorted(os.listdir(seed_dir)):
        info = media.probe_video(seed_dir / name)
        assert info.frame_count >= 4 and info.width > 0


def test_mutated_mp4s_never_hang_crash_or_raise_anything_but_media_error(seed_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    for name in [k for k in env if k.startswith("RV2V_")]:
        del env[name]
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(seed_dir), str(work), str(MUTANTS),
                               str(BASE_SEED)], capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        started = [line for line in out.splitlines() if line.startswith("START")]
        pytest.fail(f"fuzz run hung (> {TIMEOUT_S} s); last mutant started: {started[-1:] or 'none'}")
    started = [line for line in proc.stdout.splitlines() if line.startswith("START")]
    summary = [line for line in proc.stdout.splitlines() if line.startswith("SUMMARY ")]
    assert proc.returncode == 0 and summary, (
        f"fuzz child died (rc {proc.returncode}) at {started[-1:] or 'start-up'}\n{proc.stderr[-3000:]}")
    result = json.loads(summary[0][len("SUMMARY "):])
    assert result["bad"] == [], json.dumps(result["bad"][:5], indent=1)
    counts = result["counts"]
    assert len(started) == MUTANTS
    for call in ("probe", "time", "uniform", "audio", "image"):
        assert sum(v for k, v in counts.items() if k.startswith(call + ":")) == MUTANTS
    # the mutations reach both outcomes (a fuzz that only ever failed to open would prove little)
    assert counts.get("probe:MediaError", 0) >= 20 and counts.get("probe:ok", 0) >= 20, counts
    assert counts.get("time:ok", 0) >= 20, counts
    assert os.listdir(work) == []
