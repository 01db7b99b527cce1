"""End-to-end load: 30 generations (10 in CI's lane) queued at once through the HTTP API on the tiny models.

One warm-up generation, then the server's resident memory is measured (``VmRSS`` of the
ComfyUI process from ``/proc/<pid>/status``, after ComfyUI's idle garbage collection, which
runs at most every 10 s), N ``POST /api/ai/queue`` requests are sent concurrently from N
threads with the cheapest settings (9 frames at 8 fps from a 128x128 clip -> 512x512), and the
test waits for all of them. Checked: every generation succeeded with a playable MP4 of its own,
generation ids and output files are unique, every record file agrees with the API's answer
and the queue listing agrees with the records, ComfyUI's queue is empty, no partial files are
left; the server's memory after settling stays within max(300 MB, 25 %) of the baseline.
The figures (baseline / peak / after, total time) are printed: run with ``-s`` to see them.

Skipped (one-line reason) unless COMFYUI_PATH and COMFY_PYTHON are set; Linux only (/proc).
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from . import harness

ENV = harness.require_comfy_env()
if not Path("/proc/self/status").is_file():
    pytest.skip("the load test reads the server's memory from /proc (Linux)", allow_module_level=True)

from rv2v.nodes.pure import api, params  # noqa: E402

#: 30 generations in the full lane; CI's lane (CI=true without RV2V_E2E_FULL=1) queues 10.
N = 30 if harness.FULL_LANE else 10
CLIP = "rv2v_load_ref.mp4"
FAST = {"num_frames": 9, "frames_per_second": 8}
SETTLE_S = 15.0  # ComfyUI's prompt worker collects garbage at most every 10 s after a run
GROWTH_BOUND_MB = 300.0
GROWTH_BOUND_FRACTION = 0.25


def call(srv, method: str, path: str, payload=None, timeout: float = 600):
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    req = urllib.request.Request(srv.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (resident peak since start) of a process, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024.0
    return out


def settled_rss(srv) -> float:
    """RSS after the queue is idle and ComfyUI's periodic gc had its chance."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        q = srv.get_json("/queue")
        if not q["queue_running"] and not q["queue_pending"]:
            break
        time.sleep(0.5)
    time.sleep(SETTLE_S)
    return memory_mb(srv.proc.pid)["VmRSS"]


class RssSampler(threading.Thread):
    """Samples the server's RSS every 0.25 s until stopped; ``peak`` is the highest sample."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples = pid, 0.0, 0
        self.stop_event = threading.Event()
        self.start()

    def run(self):
        while not self.stop_event.is_set():
            try:
                self.peak = max(self.peak, memory_mb(self.pid)["VmRSS"])
                self.samples += 1
            except (OSError, KeyError):
                pass
            self.stop_event.wait(0.25)

    def stop(self) -> float:
        self.stop_event.set()
        self.join(5)
        return self.peak


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    base = tmp_path_factory.mktemp("load")
    server = harness.ComfyServer(base / "base", env=ENV, packs=harness.ALL_PACKS)
    with server:
        harness.make_clip(server.input_dir / CLIP, 128, 128, 17, 25, audio=True)
        server.out = base / "downloads"
        server.out.mkdir()
        yield server


def body(seed: int) -> dict:
    return {"model": params.MODEL_ID, "prompt": f"A yellow square and a blue disc glide, take {seed}.",
            "input_video": CLIP, "seed": seed, **FAST}


def test_concurrent_generations_finish_consistently_and_memory_returns(srv):
    pid = srv.proc.pid
    start_mb = memory_mb(pid)["VmRSS"]
    t0 = time.perf_counter()
    status, warm = call(srv, "POST", "/api/ai/videos/generate", body(1000))
    assert status == 200 and warm["status"] == "succeeded", warm
    warm_s = time.perf_counter() - t0
    baseline = settled_rss(srv)

    sampler = RssSampler(pid)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=N) as pool:  # all N requests in flight at once
        answers = list(pool.map(lambda i: call(srv, "POST", "/api/ai/queue", body(i), timeout=300), range(N)))
    queued_s = time.perf_counter() - t0
    for status, answer in answers:
        assert status == 200, answer
    gids = [a["generations"][0]["generation_id"] for _, a in answers]
    assert len(set(gids)) == N and all(api.valid_generation_id(g) for g in gids)

    views = {}
    deadline = time.monotonic() + 60 * N + 300
    pending = set(gids)
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} generations not finished:\n{srv.log_tail()}"
        assert srv.proc.poll() is None, srv.log_tail()
        for gid in list(pending):
            status, view = call(srv, "GET", f"/api/ai/queue/{gid}")
            assert status == 200, view
            if view["status"] in api.TERMINAL:
                views[gid] = view
                pending.discard(gid)
        time.sleep(1.0)
    total_s = time.perf_counter() - t0
    peak = sampler.stop()

    # every generation succeeded, with its own playable MP4
    assert {g: v["status"] for g, v in views.items() if v["status"] != "succeeded"} == {}
    files = [(v["result"]["subfolder"], v["result"]["filename"]) for v in views.values()]
    assert len(set(files)) == N, files
    for i, gid in enumerate(gids):
        v = views[gid]
        assert v["seed"] == i and v["request"]["seed"] == i, v  # each answer is its own request's
        dest = srv.out / f"{i:02d}.mp4"
        with urllib.request.urlopen(v["result_url"], timeout=120) as r:
            dest.write_bytes(r.read())
        info = harness.probe_media(dest)
        assert info["video"]["codec"] == "h264" and info["video"]["frames"] == 9, info
        assert (info["video"]["width"], info["video"]["height"]) == (512, 512), info
        assert (srv.output_dir / v["result"]["subfolder"] / v["result"]["filename"]).stat().st_size == dest.stat().st_size

    # records on disk == API answers == queue listing
    records_dir = srv.base_dir / "user" / "rv2v" / "generations"
    store = api.RecordStore(records_dir)
    on_disk = {r["generation_id"]: r for r in store.load_all()}
    assert set(gids) | {warm["generation_id"]} == set(on_disk), sorted(set(on_disk) ^ set(gids))
    for gid in gids:
        rec = on_disk[gid]
        assert rec["status"] == "succeeded" and rec["mode"] == "queue" and rec["progress"] == 1.0, rec
        assert rec["result"] == {k: views[gid]["result"][k] for k in ("filename", "subfolder", "type")}, rec
        assert rec["created_at"] <= rec["started_at"] <= rec["finished_at"], rec
        assert api.public_view(rec, srv.url)["result_url"] == views[gid]["result_url"]
    status, listing = call(srv, "GET", "/api/ai/queue?limit=1000")
    assert status == 200
    listed = {g["generation_id"]: g for g in listing["generations"]}
    assert set(listed) == set(on_disk), sorted(set(listed) ^ set(on_disk))
    for gid, g in listed.items():
        assert g["status"] == on_disk[gid]["status"] and g.get("result_url") == (
            views[gid]["result_url"] if gid in views else warm["result_url"]), g
    status, done = call(srv, "GET", "/api/ai/queue?status=succeeded&limit=1000")
    assert len(done["generations"]) == N + 1
    for status_name in ("queued", "processing", "failed", "cancelled"):
        assert call(srv, "GET", f"/api/ai/queue?status={status_name}")[1]["generations"] == [], status_name
    starts = sorted(on_disk[g]["started_at"] for g in gids)
    finishes = sorted(on_disk[g]["finished_at"] for g in gids)
    assert all(f <= s for f, s in zip(finishes, starts[1:])), "generations overlapped"  # one at a time
    q = srv.get_json("/queue")
    assert q["queue_running"] == [] and q["queue_pending"] == [], q
    for sub in ("output", "temp", "user"):
        leftovers = [p for p in (srv.base_dir / sub).rglob("*") if p.is_file() and (
            p.name.startswith(".") or p.name.endswith((".part", ".tmp")) or p.stat().st_size == 0)]
        assert leftovers == [], leftovers

    after = settled_rss(srv)
    hwm = memory_mb(pid)["VmHWM"]
    bound = baseline + max(GROWTH_BOUND_MB, GROWTH_BOUND_FRACTION * baseline)
    print(f"\nload: {N} generations queued concurrently in {queued_s:.2f}s, all finished in {total_s:.1f}s "
          f"({total_s / N:.1f}s each; warm-up {warm_s:.1f}s)\n"
          f"server RSS: at start {start_mb:.0f} MB, baseline after warm-up {baseline:.0f} MB, "
          f"peak during load {peak:.0f} MB ({sampler.samples} samples; VmHWM {hwm:.0f} MB), "
          f"after settling {after:.0f} MB (growth {after - baseline:+.0f} MB, bound {bound:.0f} MB)")
    assert after <= bound, (baseline, peak, after)
