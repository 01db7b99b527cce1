"""Golden outputs: the same requests with the same seeds give bit-identical MP4 streams.

A refactor must not change what the pack produces. A few hosted-API requests (canny, first-frame image
without audio at maximum quality, a precomputed control video with ``preserve_original_video`` at half
strength) run through ``POST /api/ai/videos/generate`` on the tiny models; for each MP4 the SHA-256 of
every stream's encoded packets (the H.264 and AAC bitstreams, not the container's metadata, which may
carry provenance) must equal ``tests/data/golden_outputs.json``.

The servers run with a fixed ``PYTHONHASHSEED``: core's LTX video VAE decode draws unseeded noise
from torch's global generator (``torch.randn_like``, "TODO: seed" in core), so an output depends on how
much of that generator earlier work used, and with the preserve path that varied from process to
process under random hash seeds. A second, fresh server repeats every case to prove the determinism.

The hashes hold for one machine fingerprint (ComfyUI's torch and PyAV/FFmpeg versions, CPU model,
threads): on another, float results may differ in the last bit, so the test says so and skips rather
than compare. Record anew only when an output is *meant* to change (say why in the commit):
``RV2V_UPDATE_GOLDEN=1 python -m pytest tests/e2e/test_golden_outputs.py``.

Driven through the hosted API (not node ids of the workflow), so it holds across graph reshapes.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from . import harness

ENV = harness.require_comfy_env()

GOLDEN = harness.REPO_ROOT / "tests" / "data" / "golden_outputs.json"
UPDATE = os.environ.get("RV2V_UPDATE_GOLDEN") == "1"
MODEL = "ltx-2-3-quality-reference-video-to-video"
PROMPT = "A yellow square and a blue disc glide across a soft gradient."
REF, CONTROL, IMAGE = "rv2v_golden_ref.mp4", "rv2v_golden_control.mp4", "rv2v_golden_image.png"

#: name -> hosted API body (media are names of files in input/).
CASES = {
    "canny_17": {"input_video": REF, "num_frames": 17, "seed": 7},
    "image_noaudio_square_max": {"input_video": REF, "input_image": IMAGE, "num_frames": 9, "seed": 11,
                                 "generate_audio": False, "resolution": "square", "video_quality": "maximum"},
    "preserve_half_12fps": {"input_video": REF, "control_video_url": CONTROL, "skip_control_preprocess": True,
                            "preserve_original_video": True, "strength": 0.5, "num_frames": 9,
                            "frames_per_second": 12, "seed": 3},
}


def fingerprint() -> dict:
    """What the hashes depend on besides the pack's code."""
    code = ("import json, os, torch, av; print(json.dumps({'torch': torch.__version__, 'av': av.__version__, "
            "'ffmpeg': {k: '.'.join(map(str, v)) for k, v in sorted(av.library_versions.items())}, "
            "'threads': torch.get_num_threads()}))")
    proc = subprocess.run([ENV.comfy_python, "-c", code], capture_output=True, text=True, timeout=120,
                          env=harness.subprocess_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info.update(machine=platform.machine(), cpu=cpu)
    return info


def stream_hashes(path) -> dict:
    """SHA-256 of each stream's encoded packets, keyed ``<index>:<codec>``, plus packet counts."""
    import av

    out = {}
    with av.open(str(path)) as container:
        digests = {s.index: hashlib.sha256() for s in container.streams}
        counts = dict.fromkeys(digests, 0)
        for packet in container.demux():
            if packet.size:
                digests[packet.stream.index].update(bytes(packet))
                counts[packet.stream.index] += 1
        for s in container.streams:
            out[f"{s.index}:{s.codec_context.name}"] = {"sha256": digests[s.index].hexdigest(),
                                                         "packets": counts[s.index]}
    return out


#: The servers' environment: a fixed hash seed (see the module docstring).
SERVER_ENV = {"PYTHONHASHSEED": "0"}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    src = tmp_path_factory.mktemp("golden_media")
    harness.make_clip(src / REF, 192, 128, 17, 25, audio=True)
    harness.make_clip(src / CONTROL, 192, 128, 30, 25, audio=False)
    harness.make_image(src / IMAGE, 192, 128)
    return [src / REF, src / CONTROL, src / IMAGE]


def start_server(base, media):
    srv = harness.ComfyServer(base / "base", env=ENV, packs=harness.ALL_PACKS, extra_env=SERVER_ENV)
    srv.start()
    try:
        for p in media:
            assert srv.upload_file(p) == p.name
        srv.out_dir = base / "downloads"
        srv.out_dir.mkdir()
    except BaseException:
        srv.stop()
        raise
    return srv


@pytest.fixture(scope="module")
def server(tmp_path_factory, media):
    srv = start_server(tmp_path_factory.mktemp("comfy_golden"), media)
    yield srv
    srv.stop()


def generate(srv, name: str, body: dict):
    payload = json.dumps({"model": MODEL, "prompt": PROMPT, **body}).encode()
    req = urllib.request.Request(srv.url + "/api/ai/videos/generate", data=payload, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=900) as r:
            answer = json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{name}: HTTP {e.code}: {e.read()[:2000]!r}\n{srv.log_tail()}") from None
    assert answer.get("status") == "succeeded", answer
    path = srv.out_dir / f"{name}.mp4"
    path.write_bytes(srv.get_bytes(urllib.parse.urlsplit(answer["result_url"])._replace(scheme="", netloc="").geturl()))
    return path


@pytest.fixture(scope="module")
def produced(server) -> dict:
    return {name: stream_hashes(generate(server, name, body)) for name, body in CASES.items()}


def test_outputs_are_bit_identical_to_the_recorded_ones(produced):
    fp = fingerprint()
    if UPDATE:
        GOLDEN.write_text(json.dumps({"fingerprint": fp, "outputs": produced}, indent=1, sort_keys=True) + "\n",
                          encoding="utf-8")
        pytest.skip(f"RV2V_UPDATE_GOLDEN=1: recorded {GOLDEN.name} (not a check)")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert set(golden["outputs"]) == set(CASES), "cases changed: record anew (RV2V_UPDATE_GOLDEN=1) and say why"
    if golden["fingerprint"] != fp:
        pytest.skip(f"golden outputs were recorded on {golden['fingerprint']}, this machine is {fp}: "
                    "float results may differ in the last bit, nothing to compare")
    differing = {name: {"expected": golden["outputs"][name], "got": produced[name]}
                 for name in CASES if golden["outputs"][name] != produced[name]}
    assert not differing, "outputs changed for the same requests and seeds:\n" + json.dumps(differing, indent=1)


def test_a_fresh_server_gives_the_same_streams(tmp_path, media, produced):
    """Determinism across processes (else a golden comparison would mean nothing); a repeat on the
    same server would come from ComfyUI's cache, so this runs every case on a second server."""
    srv = start_server(tmp_path, media)
    try:
        again = {name: stream_hashes(generate(srv, name, body)) for name, body in CASES.items()}
    finally:
        srv.stop()
    assert again == produced
