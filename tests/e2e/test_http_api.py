"""End-to-end: the hosted-compatible HTTP API and the CLI against a real ComfyUI with tiny models.

* none of the pack's routes exists on a ComfyUI without the pack (nothing core is shadowed),
  and all of them answer on a ComfyUI with it;
* the model object, every class of bad request (4xx naming the field) and the optional key;
* sync (``data:`` URI input), queue + poll (http URL input), queue + SSE (input-folder
  name) each give a playable MP4 via ``result_url``; two queued generations finish in order;
  a cancelled queued generation never runs; a running one can be cancelled;
* a restart mid-queue keeps every record with an honest status;
* ``python nodes/cli.py generate`` with ``--server`` and with ``--comfyui``.

Skipped (one-line reason) unless COMFYUI_PATH and COMFY_PYTHON are set.
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from . import harness

ENV = harness.require_comfy_env()

from rv2v.nodes.pure import api, params  # noqa: E402

MODEL = params.MODEL_ID
PROMPT = "A yellow square and a blue disc glide across a soft gradient."
CLIP = ("rv2v_api_ref.mp4", 128, 128, 17, 25)  # square -> auto 512x512, the cheapest output size
FAST = {"num_frames": 9, "frames_per_second": 8}
API_HEADER = "X-RV2V-API"
ROUTES_PY = harness.REPO_ROOT / "nodes" / "glue" / "routes.py"
#: Every route of nodes/glue/routes.py with its path parameters filled in.
ROUTES = [
    ("POST", "/api/ai/videos/generate"),
    ("POST", "/api/ai/queue"),
    ("GET", "/api/ai/queue"),
    ("GET", "/api/ai/queue/{generation_id}"),
    ("DELETE", "/api/ai/queue/{generation_id}"),
    ("POST", "/api/ai/queue/{generation_id}/cancel"),
    ("GET", "/api/events"),
    ("GET", "/api/ai/models"),
    ("GET", "/api/ai/models/{model_id}"),
]


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------

def call(srv, method: str, path: str, payload=None, raw: bytes | None = None, headers: dict | None = None,
         timeout: float = 600):
    """(status, headers, decoded JSON or None) of one request."""
    data = raw if raw is not None else (None if payload is None else json.dumps(payload).encode())
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(srv.url + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            status, hdrs = r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        body, status, hdrs = e.read(), e.code, dict(e.headers)
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    return status, hdrs, parsed


def request(**kw) -> dict:
    out = {"model": MODEL, "prompt": PROMPT, **FAST}
    out.update(kw)
    return out


def queue(srv, **kw) -> str:
    status, _, body = call(srv, "POST", "/api/ai/queue", request(**kw))
    assert status == 200, body
    (item,) = body["generations"]
    return item["generation_id"]


def get(srv, gid) -> dict:
    status, _, body = call(srv, "GET", f"/api/ai/queue/{gid}")
    assert status == 200, body
    return body


def wait_for(srv, gid, statuses=api.TERMINAL, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = get(srv, gid)
        if rec["status"] in statuses:
            return rec
        time.sleep(0.25)
    raise TimeoutError(f"{gid} not in {statuses} after {timeout}s: {rec}\n{srv.log_tail()}")


def fetch_mp4(url: str, dest: Path) -> dict:
    """Download result_url with no headers at all (as a hosted client would) and probe it."""
    with urllib.request.urlopen(url, timeout=120) as r:
        dest.write_bytes(r.read())
    return harness.probe_media(dest)


def assert_playable(info: dict, frames: int = 9, size=(512, 512)):
    assert info["video"]["codec"] == "h264", info
    assert info["video"]["frames"] == frames, info
    assert (info["video"]["width"], info["video"]["height"]) == size, info


class MediaServer:
    """A loopback HTTP server for URL inputs (the ComfyUI process gets RV2V_ALLOW_PRIVATE_URLS=1)."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class SSEReader(threading.Thread):
    """Reads GET /api/events in the background into ``events`` (parsed) until the stream ends."""

    def __init__(self, url: str, timeout: float = 900):
        super().__init__(daemon=True)
        self.url, self.timeout = url, timeout
        self.events: list[dict] = []
        self.lines: list[str] = []
        self.error = None
        self.connected = threading.Event()
        self.start()

    def run(self):
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as r:
                self.headers = dict(r.headers)
                self.connected.set()
                for raw in r:
                    self.lines.append(raw.decode("utf-8"))
                self.events = list(api.parse_sse(self.lines))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.connected.set()


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("api_media")
    name, w, h, frames, fps = CLIP
    harness.make_clip(d / name, w, h, frames, fps, audio=True)
    return d


@pytest.fixture(scope="module")
def media_server(media_dir):
    ms = MediaServer(media_dir)
    yield ms
    ms.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, media_dir):
    base = tmp_path_factory.mktemp("comfy_api")
    old = os.environ.get("RV2V_ALLOW_PRIVATE_URLS")
    os.environ["RV2V_ALLOW_PRIVATE_URLS"] = "1"  # the loopback media server; inherited by ComfyUI
    server = harness.ComfyServer(base / "base", env=ENV, packs=harness.ALL_PACKS)
    try:
        with server:
            server.clip = server.upload_file(media_dir / CLIP[0])
            server.out = base / "downloads"
            server.out.mkdir()
            yield server
    finally:
        if old is None:
            os.environ.pop("RV2V_ALLOW_PRIVATE_URLS", None)
        else:
            os.environ["RV2V_ALLOW_PRIVATE_URLS"] = old


# ----------------------------------------------------------------------------------------
# routes
# ----------------------------------------------------------------------------------------

def _concrete(path: str) -> str:
    return path.replace("{generation_id}", str(uuid.uuid4())).replace("{model_id}", MODEL)


def test_route_list_matches_the_module():
    """The pack's route table (nodes/pure/api/endpoints.py) is the routes' one declaration:
    it lists exactly the routes above, and routes.py registers its rows, none of its own."""
    declared = [(r.method, r.path) for r in api.ROUTES]
    assert len(declared) == len(set(declared)) and set(declared) == set(ROUTES)
    src = ROUTES_PY.read_text(encoding="utf-8")
    assert re.findall(r'routes\.(?:get|post|delete|put|patch)\(', src) == []
    assert "for route in api.ROUTES" in src


def test_no_core_route_is_shadowed(srv, tmp_path):
    """On ComfyUI without the pack none of our method+path pairs answers (static 404/405);
    with the pack every one answers from the pack (its header)."""
    filled = [(m, _concrete(p)) for m, p in ROUTES]
    core = harness.ComfyServer(tmp_path / "core", env=ENV, packs=(harness.TE_ADJUST, harness.PROBE))
    with core:
        for method, path in filled:
            query = f"?generation_id={uuid.uuid4()}" if path == "/api/events" else ""
            status, headers, _ = call(core, method, path + query, raw=b"{}" if method == "POST" else None)
            assert status in (404, 405), (method, path, status)
            assert API_HEADER not in headers, (method, path)
    for method, path in filled:
        query = f"?generation_id={uuid.uuid4()}" if path == "/api/events" else ""
        status, headers, _ = call(srv, method, path + query, raw=b"{}" if method == "POST" else None)
        assert headers.get(API_HEADER) == "1", (method, path, status)
    # and the core routes next to ours still work
    assert call(srv, "GET", "/api/queue")[0] == 200
    assert call(srv, "GET", "/api/jobs")[0] == 200
    assert "[RV2V API] not adding" not in srv.log


# ----------------------------------------------------------------------------------------
# model object, validation, authorization
# ----------------------------------------------------------------------------------------

def test_model_object(srv):
    status, _, obj = call(srv, "GET", f"/api/ai/models/{MODEL}")
    assert status == 200
    assert obj["id"] == MODEL and obj["json_request_schema"] == params.json_request_schema()
    status, _, listing = call(srv, "GET", "/api/ai/models")
    assert status == 200 and [m["id"] for m in listing["models"]] == [MODEL]
    status, _, err = call(srv, "GET", "/api/ai/models/ltx-2-fast")
    assert status == 404 and err["field"] == "model"


BAD_REQUESTS = [
    # (name, body or raw bytes, status, field)
    ("not json", b"{nope", 400, "request"),
    ("not an object", b"[1, 2]", 400, "request"),
    ("unknown model", {"model": "ltx-2-fast"}, 404, "model"),
    ("model wrong type", {"model": 3}, 400, "model"),
    ("unknown field", {"motion_bucket": 3}, 400, "motion_bucket"),
    ("missing required", {"prompt": None}, 400, "prompt"),
    ("wrong type", {"num_frames": "nine"}, 400, "num_frames"),
    ("wrong type bool", {"generate_audio": "false"}, 400, "generate_audio"),
    ("out of range", {"video_strength": 1.5}, 400, "video_strength"),
    ("out of range fps", {"frames_per_second": 0}, 400, "frames_per_second"),
    ("bad enum", {"resolution": "1080p"}, 400, "resolution"),
    ("invalid combination", {"preserve_original_video": True}, 400, "preserve_original_video"),
    ("bad control type", {"control_type": "edges"}, 400, "control_type"),
    ("missing input file", {"input_video": "not_uploaded.mp4"}, 400, "input_video"),
    ("bad scheme", {"input_video": "ftp://example.com/a.mp4"}, 400, "input_video"),
    ("bad data uri", {"input_video": "data:video/mp4;base64,@@@"}, 400, "input_video"),
    ("undecodable data", {"input_video": "data:video/mp4;base64," + base64.b64encode(b"not a video").decode()},
     400, "input_video"),
    ("missing image", {"input_image": "nope.png"}, 400, "input_image"),
]


@pytest.mark.parametrize("name,payload,status,field", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
@pytest.mark.parametrize("endpoint", ["/api/ai/queue", "/api/ai/videos/generate"])
def test_bad_requests_are_4xx_naming_the_field(srv, endpoint, name, payload, status, field):
    if isinstance(payload, bytes):
        got, _, body = call(srv, "POST", endpoint, raw=payload)
    else:
        b = request(**{"input_video": srv.clip, **payload})
        b = {k: v for k, v in b.items() if v is not None}
        got, _, body = call(srv, "POST", endpoint, b)
    assert got == status, body
    assert body["field"] == field and field in body["detail"], body


def test_bad_url_is_a_4xx_before_queueing(srv, media_server):
    before = len(call(srv, "GET", "/api/ai/queue")[2]["generations"])
    status, _, body = call(srv, "POST", "/api/ai/queue", request(input_video=media_server.url("missing.mp4")))
    assert status == 400 and body["field"] == "input_video" and "404" in body["detail"], body
    assert len(call(srv, "GET", "/api/ai/queue")[2]["generations"]) == before  # nothing was queued


def test_unknown_generation_is_404(srv):
    gid = str(uuid.uuid4())
    for method, path in (("GET", f"/api/ai/queue/{gid}"), ("DELETE", f"/api/ai/queue/{gid}"),
                         ("GET", f"/api/events?generation_id={gid}")):
        status, _, body = call(srv, method, path)
        assert status == 404 and body["field"] == "generation_id", (method, body)


def test_bearer_key_when_configured(srv):
    key_file = srv.base_dir / "user" / api.API_KEY_FILE
    path = f"/api/ai/models/{MODEL}"
    assert call(srv, "GET", path, headers={"Authorization": "Bearer anything"})[0] == 200  # accepted, not required
    key_file.write_text(json.dumps({"api_key": "s3cret"}))
    try:
        status, headers, body = call(srv, "GET", path)
        assert status == 401 and body["field"] == "authorization" and headers.get("WWW-Authenticate") == "Bearer"
        assert call(srv, "GET", path, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert call(srv, "POST", "/api/ai/queue", request(input_video=srv.clip))[0] == 401
        assert call(srv, "GET", path, headers={"Authorization": "Bearer s3cret"})[0] == 200
    finally:
        key_file.unlink()
    assert call(srv, "GET", path)[0] == 200


# ----------------------------------------------------------------------------------------
# the three modes
# ----------------------------------------------------------------------------------------

def test_sync_generate_with_a_data_uri(srv, media_dir):
    uri = "data:video/mp4;base64," + base64.b64encode((media_dir / CLIP[0]).read_bytes()).decode()
    t0 = time.perf_counter()
    status, _, body = call(srv, "POST", "/api/ai/videos/generate", request(input_video=uri, seed=11))
    assert status == 200, body
    assert body["status"] == "succeeded" and body["seed"] == 11 and body["progress"] == 1.0
    assert body["request"]["input_video"].startswith("data:video/mp4;base64,<")  # stored shortened
    assert body["result_url"].startswith(srv.url + "/view?")
    info = fetch_mp4(body["result_url"], srv.out / "sync.mp4")
    assert_playable(info)
    assert info["has_audio"]
    print(f"\nsync generation: {time.perf_counter() - t0:.1f}s")


def test_queue_poll_sse_order_and_cancel_queued(srv, media_server):
    a = queue(srv, input_video=media_server.url(CLIP[0]), seed=1)  # http URL (fetched before queueing)
    b = queue(srv, input_video=srv.clip, seed=2, generate_audio=False)  # input-folder name
    c = queue(srv, input_video=srv.clip, seed=3)
    sse = SSEReader(f"{srv.url}/api/events?generation_id={b}&progress=1")
    assert sse.connected.wait(30) and sse.error is None

    status, _, cancelled = call(srv, "DELETE", f"/api/ai/queue/{c}")
    assert status == 200 and cancelled["status"] == "cancelled", cancelled
    assert get(srv, c)["status"] == "cancelled"

    seen = set()
    deadline = time.monotonic() + 900
    while True:  # poll a; it must report queued/processing (with progress) and then succeed
        rec = get(srv, a)
        seen.add(rec["status"])
        if rec["status"] in api.TERMINAL:
            break
        if rec["status"] == "processing":
            assert 0.0 <= rec["progress"] <= 1.0
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert rec["status"] == "succeeded", rec
    assert "processing" in seen
    assert_playable(fetch_mp4(rec["result_url"], srv.out / "a.mp4"))

    sse.join(900)
    assert not sse.is_alive() and sse.error is None, sse.error
    assert sse.headers["Content-Type"].startswith("text/event-stream")
    done = [e for e in sse.events if e["event"] == "media_generation_completed"]
    assert len(done) == 1, sse.lines
    data = json.loads(done[0]["data"])
    assert data["generation_id"] == b and data["status"] == "succeeded"
    # the data line directly follows the event line (what hosted-API scripts read)
    i = sse.lines.index("event: media_generation_completed\n")
    assert sse.lines[i + 1].startswith("data: {")
    info = fetch_mp4(data["result_url"], srv.out / "b.mp4")
    assert_playable(info)
    assert not info["has_audio"]
    progress = [json.loads(e["data"]) for e in sse.events if e["event"] == "media_generation_progress"]
    assert progress and all(p["generation_id"] == b for p in progress)  # asked for with ?progress=1
    assert any(p["status"] == "processing" for p in progress)
    ids = [int(e["id"]) for e in sse.events if "id" in e]
    assert len(ids) == len(progress) + 1 and ids == sorted(set(ids))  # increasing event ids

    ra, rb, rc = get(srv, a), get(srv, b), get(srv, c)
    assert ra["finished_at"] <= rb["started_at"]  # in order
    assert rc["status"] == "cancelled" and rc["started_at"] is None
    assert srv.history(c) is None  # never ran
    # a late SSE subscriber for a finished generation gets its event at once, then the stream ends
    late = SSEReader(f"{srv.url}/api/events?generation_id={a},{b}", timeout=60)
    late.join(60)
    assert sorted(json.loads(e["data"])["generation_id"] for e in late.events
                  if e["event"] == "media_generation_completed") == sorted([a, b])
    # an unfiltered stream replays what was missed after Last-Event-ID
    req = urllib.request.Request(srv.url + "/api/events", headers={"Last-Event-ID": "0"})
    replayed, lines = set(), []
    with urllib.request.urlopen(req, timeout=30) as r:
        for raw in r:
            lines.append(raw.decode())
            if raw == b"\n":
                replayed = {json.loads(e["data"])["generation_id"] for e in api.parse_sse(lines)
                            if e["event"] == "media_generation_completed"}
                if {a, b, c} <= replayed:
                    break
    assert {a, b, c} <= replayed


def test_cancel_running(srv):
    d = queue(srv, input_video=srv.clip, seed=4)
    wait_for(srv, d, ("processing",) + api.TERMINAL)
    status, _, body = call(srv, "POST", f"/api/ai/queue/{d}/cancel")
    assert status in (200, 202), body
    rec = wait_for(srv, d)
    assert rec["status"] == "cancelled" and rec["started_at"], rec
    assert "cancelled" in rec["error_message"]
    status, _, body = call(srv, "DELETE", f"/api/ai/queue/{d}")
    assert status == 200 and body["status"] == "cancelled"


# ----------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------

def run_cli(*args, timeout=900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(harness.REPO_ROOT / "nodes" / "cli.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=harness.subprocess_env())


def test_cli_generate_with_server(srv, media_dir, tmp_path):
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"model": MODEL, "prompt": PROMPT, "input_video": "placeholder", "seed": 5}))
    out = tmp_path / "cli"
    proc = run_cli("generate", "--server", srv.url, "--request", str(body),
                   "--input-video", str(media_dir / CLIP[0]), "--num-frames", "9", "--frames-per-second", "8",
                   "--output", str(out) + "/")
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.parent == out and path.suffix == ".mp4"
    assert_playable(harness.probe_media(path))
    assert "uploaded" in proc.stderr and "100.0%" in proc.stderr, proc.stderr
    assert re.search(r"\] +\d+\.\d% SamplerCustomAdvanced \d/8", proc.stderr), proc.stderr  # websocket progress


def test_cli_reports_the_servers_message(srv):
    proc = run_cli("generate", "--server", srv.url, "--prompt", "x", "--input-video", "not_on_the_server.mp4",
                   "--num-frames", "9", timeout=120)
    assert proc.returncode == 1
    assert "input_video" in proc.stderr and "not_on_the_server.mp4" in proc.stderr, proc.stderr
    proc = run_cli("generate", "--server", srv.url, "--prompt", "x", "--input-video", "a.mp4",
                   "--video-strength", "3", timeout=60)
    assert proc.returncode == 2 and "video_strength" in proc.stderr


def test_cli_models_asks_the_server(srv):
    proc = run_cli("models", "--server", srv.url, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 of 4 required files missing" in proc.stdout and proc.stdout.count("  ok  ") >= 4


def test_cli_generate_with_comfyui(tmp_path, media_dir):
    staged = harness.ComfyServer(tmp_path / "base", env=ENV, packs=harness.ALL_PACKS)
    staged.prepare()  # base dir with the tiny models and the custom nodes; the CLI starts ComfyUI itself
    base = staged.base_dir
    comfy_args = ["--cpu", "--base-directory", str(base), "--database-url", f"sqlite:///{base / 'comfyui.db'}",
                  "--disable-api-nodes", "--disable-all-custom-nodes", "--whitelist-custom-nodes", *staged.packs]
    out = tmp_path / "result.mp4"
    proc = run_cli("generate", "--comfyui", str(ENV.comfyui_path), "--comfy-python", ENV.comfy_python,
                   "--comfyui-args", " ".join(shlex.quote(a) for a in comfy_args),
                   "--prompt", PROMPT, "--input-video", str(media_dir / CLIP[0]), "--num-frames", "9",
                   "--frames-per-second", "8", "--seed", "6", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(out)
    assert_playable(harness.probe_media(out))
    port = int(re.search(r"--port (\d+)", proc.stderr).group(1))
    assert "stopped ComfyUI" in proc.stderr
    with socket.socket() as s:  # the server it started is gone
        assert s.connect_ex(("127.0.0.1", port)) != 0


# ----------------------------------------------------------------------------------------
# restart (last: it restarts the module's server)
# ----------------------------------------------------------------------------------------

def test_restart_mid_queue_keeps_honest_records(srv):
    status, _, listing = call(srv, "GET", "/api/ai/queue?status=succeeded")
    finished = [g["generation_id"] for g in listing["generations"]]
    if not finished:  # run alone: make one finished generation first
        status, _, body = call(srv, "POST", "/api/ai/videos/generate", request(input_video=srv.clip, seed=10))
        assert status == 200, body
        finished = [body["generation_id"]]
    e = queue(srv, input_video=srv.clip, seed=7)
    f = queue(srv, input_video=srv.clip, seed=8)
    wait_for(srv, e, ("processing",))
    assert get(srv, f)["status"] == "queued"
    records = srv.base_dir / "user" / "rv2v" / "generations"
    assert (records / f"{e}.json").is_file() and (records / f"{f}.json").is_file()
    srv.stop()
    srv.start()
    re_ = get(srv, e)
    assert re_["status"] == "failed" and re_["error_message"] == api.RESTART_RUNNING, re_
    rf = get(srv, f)
    assert rf["status"] == "failed" and rf["error_message"] == api.RESTART_QUEUED, rf
    assert rf["started_at"] is None and re_["started_at"]
    for gid in finished:  # finished generations are still there, results still downloadable
        rec = get(srv, gid)
        assert rec["status"] == "succeeded"
        assert_playable(fetch_mp4(rec["result_url"], srv.out / f"after_restart_{gid}.mp4"),
                        size=(512, 512))
    assert get(srv, finished[0])["request"]["model"] == MODEL
    # the restarted server still generates
    status, _, body = call(srv, "POST", "/api/ai/videos/generate", request(input_video=srv.clip, seed=9))
    assert status == 200 and body["status"] == "succeeded", body
