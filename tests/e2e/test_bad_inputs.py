"""End-to-end: the bad-input corpus against a real ComfyUI with the pack and tiny models.

The corpus (``tests/test_bad_inputs_unit.py``: wrong JSON types, NaN/inf/huge numbers, empty and
100 kB prompts, unicode, duplicate and unknown fields, out-of-range and invalid enum values,
wrong model id, bad media files, path escapes, symlinks out of the input folder, bad URL schemes,
private URLs, broken data: URIs) goes through three channels, each case expecting its own message
(the field's name plus a distinctive part):

* the HTTP API: ``POST /api/ai/queue`` and ``POST /api/ai/videos/generate`` answer 4xx with
  ``{"detail", "field"}`` (never 5xx);
* the Settings node inside ComfyUI: ``POST /prompt`` with the shipped API workflow whose Settings
  node inputs carry the bad value answers 400 with ``node_errors`` (the node's own
  ``validate_inputs``, or ComfyUI's input conversion for values it refuses first); URLs and
  data: URIs, which the node fetches when it runs, fail in the Settings node with the message;
* the CLI: ``python nodes/cli.py generate --server URL --request body.json`` exits non-zero
  (2 when it refuses the request itself, 1 with the server's message) naming the field.

Afterwards nothing is left behind (no partial, temp-named or empty files; no new outputs or
records; only complete cache entries), nothing was queued by a refused request, and the server
still answers and still generates.

Skipped (one-line reason) unless COMFYUI_PATH and COMFY_PYTHON are set.
"""
from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from . import harness

ENV = harness.require_comfy_env()

from rv2v.nodes.pure import api, params  # noqa: E402


def _load_corpus():
    """The corpus lives with the pure-level tests (one list for every channel)."""
    path = harness.REPO_ROOT / "tests" / "test_bad_inputs_unit.py"
    spec = importlib.util.spec_from_file_location("rv2v_bad_inputs_corpus", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus = _load_corpus()
CASES = corpus.ALL_CASES
CLIP = "rv2v_bad_ref.mp4"
MAX_UPLOAD_MB = 1  # the server's --max-upload-size, so the body-size limit is cheap to hit
ENDPOINTS = ("/api/ai/queue", "/api/ai/videos/generate")
WATCHED = ("input", "output", "temp", "user")
RECORDS = Path("user") / "rv2v" / "generations"


def call(srv, method: str, path: str, raw: bytes | None = None, timeout: float = 600):
    """(status, decoded JSON or None) of one request."""
    headers = {"Content-Type": "application/json"} if raw is not None else {}
    req = urllib.request.Request(srv.url + path, data=raw, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    try:
        return status, (json.loads(body) if body else None)
    except ValueError:
        return status, {"raw": body.decode("utf-8", "replace")}


def snapshot(base: Path) -> dict[str, int]:
    """Every file under the watched folders: relative path -> size (symlinks by their link)."""
    out = {}
    for sub in WATCHED:
        for path in (base / sub).rglob("*"):
            if path.is_symlink() or path.is_file():
                out[str(path.relative_to(base))] = path.lstat().st_size
    return out


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_inputs")
    # No RV2V_ALLOW_PRIVATE_URLS: loopback and private URLs must be refused.
    server = harness.ComfyServer(base / "base", env=ENV, packs=harness.ALL_PACKS,
                                 extra_args=["--max-upload-size", str(MAX_UPLOAD_MB)],
                                 extra_env={"RV2V_ALLOW_PRIVATE_URLS": "0"})
    with server:
        harness.make_clip(server.input_dir / CLIP, 128, 128, 17, 25, audio=True)
        corpus.write_bad_media(server.input_dir, base / "outside")
        server.cli_cwd = base / "cli_cwd"  # an empty folder: no case names a local file there
        server.cli_cwd.mkdir()
        server.before = snapshot(server.base_dir)
        server.queue_before = call(server, "GET", "/api/ai/queue?limit=100000")[1]["generations"]
        server.seen = {"api": 0, "node": 0, "cli": 0}
        yield server
    print(f"\nbad-input corpus: {server.seen['api']} HTTP API requests, {server.seen['node']} Settings-node "
          f"prompts, {server.seen['cli']} CLI runs")


def request_body(case) -> bytes:
    return corpus.encode(corpus.apply(case, corpus.base_request(CLIP)))


# ----------------------------------------------------------------------------------------
# HTTP API
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_http_api_refuses_with_the_field(srv, case, endpoint):
    status, body = call(srv, "POST", endpoint, request_body(case), timeout=120)
    srv.seen["api"] += 1
    assert status == case.status, (status, body)
    assert body["field"] == case.field, body
    assert body["detail"].startswith(case.field + ":") and case.fragment in body["detail"], body
    assert len(body["detail"]) < 2000, body  # a 100 kB value is never echoed back


def test_http_api_refuses_a_body_over_the_size_limit(srv):
    """A data: URI larger than the server's --max-upload-size: 413 naming the request and the limit."""
    big = base64.b64encode(os.urandom(MAX_UPLOAD_MB * 1024 * 1024 + 4096)).decode()
    raw = corpus.encode(corpus.base_request("data:video/mp4;base64," + big))
    for endpoint in ENDPOINTS:
        status, body = call(srv, "POST", endpoint, raw)
        srv.seen["api"] += 1
        assert status == 413, body
        assert body["field"] == "request" and str(MAX_UPLOAD_MB * 1024 * 1024) in body["detail"], body
        assert "--max-upload-size" in body["detail"], body


# ----------------------------------------------------------------------------------------
# The Settings node inside ComfyUI (POST /prompt)
# ----------------------------------------------------------------------------------------

NODE_CASES = [c for c in CASES if c.node is not None]


def node_prompt(case) -> dict:
    """The shipped API workflow with the case's values as the Settings node's inputs."""
    prompt = api.load_workflow()
    inputs = prompt[api.settings_node_id(prompt)]["inputs"]
    for key, value in corpus.apply(case, corpus.base_request(CLIP)).items():
        if key != "model":
            inputs[key] = value
    for key, value in (case.body if isinstance(case.body, dict) else {}).items():
        if value is corpus.DROP:
            inputs.pop(key, None)
    return prompt


def post_prompt(srv, prompt: dict):
    """(status, body) of POST /prompt with the prompt as JSON (NaN/Infinity as literals)."""
    raw = json.dumps({"prompt": prompt, "client_id": srv.client_id}).encode()
    return call(srv, "POST", "/prompt", raw, timeout=120)


def settings_errors(body: dict) -> list[dict]:
    node_errors = body.get("node_errors") or {}
    prompt = api.load_workflow()
    nid = api.settings_node_id(prompt)
    assert set(node_errors) == {nid}, body  # only the Settings node is refused
    return node_errors[nid]["errors"]


@pytest.mark.parametrize("case", NODE_CASES, ids=[c.name for c in NODE_CASES])
def test_settings_node_validation_refuses_with_the_field(srv, case):
    mode, fragment = (case.node, case.fragment) if isinstance(case.node, str) else case.node
    status, body = post_prompt(srv, node_prompt(case))
    srv.seen["node"] += 1
    if mode == "run":  # fetched when the node runs: validation passes, the Settings node fails
        assert status == 200 and not body.get("node_errors"), body
        with pytest.raises(harness.PromptFailed) as info:
            srv.wait(body["prompt_id"], timeout=300)
        err = info.value.error
        assert err.get("node_type") == "RV2V_Settings", err
        message = err.get("exception_message", "")
        assert message.startswith(case.field + ":") and fragment in message, message
        return
    assert status == 400, body
    errors = settings_errors(body)
    if mode == "same":  # the node's own validate_inputs
        field, message = api.node_error_message(body["node_errors"])
        assert field == case.field and message.startswith(case.field + ":") and fragment in message, body
        assert all(e["type"] == "custom_validation_failed" for e in errors), errors
    else:  # ComfyUI's input conversion got there first; its message names the input
        assert mode == "core"
        assert any(fragment in e["message"] and (e.get("extra_info") or {}).get("input_name") == case.field
                   for e in errors), errors


# ----------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------

CLI_CASES = [c for c in CASES if c.cli]


def run_cli(srv, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(harness.REPO_ROOT / "nodes" / "cli.py"), "generate", "--server", srv.url,
           "--timeout", "240", "--quiet", *args]
    srv.seen["cli"] += 1
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(srv.cli_cwd),
                          env=harness.subprocess_env())


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_cli_exits_non_zero_naming_the_field(srv, case, tmp_path):
    req = tmp_path / "body.json"
    req.write_bytes(request_body(case))
    out = tmp_path / "out"
    proc = run_cli(srv, "--request", str(req), "--output", str(out) + "/")
    expected = 2 if case.where == "client" else 1
    assert proc.returncode == expected, proc.stderr
    err = proc.stderr
    assert "error: " in err and case.field in err and case.fragment in err, err
    assert "Traceback" not in err, err
    assert proc.stdout == "" and not out.exists()  # nothing was written


def test_cli_refuses_a_request_over_the_servers_size_limit(srv, tmp_path):
    big = base64.b64encode(os.urandom(MAX_UPLOAD_MB * 1024 * 1024 + 4096)).decode()
    req = tmp_path / "body.json"
    req.write_bytes(corpus.encode(corpus.base_request("data:video/mp4;base64," + big)))
    proc = run_cli(srv, "--request", str(req))
    assert proc.returncode == 1 and "request: larger than" in proc.stderr and "413" in proc.stderr, proc.stderr


def test_cli_uploads_a_bad_local_file_and_reports_the_servers_refusal(srv, tmp_path):
    """A local file is uploaded (content-hashed name); the server's refusal names the field."""
    bad = tmp_path / "local_text.mp4"
    bad.write_bytes(b"a text file renamed .mp4\n" * 10)
    proc = run_cli(srv, "--prompt", "x", "--input-video", str(bad), "--num-frames", "9")
    assert proc.returncode == 1, proc.stderr
    assert "input_video" in proc.stderr and "local_text.mp4" in proc.stderr, proc.stderr
    assert "not a readable media file" in proc.stderr, proc.stderr


# ----------------------------------------------------------------------------------------
# Afterwards: nothing left behind, nothing queued, the server still serves
# ----------------------------------------------------------------------------------------

def test_nothing_left_behind_and_nothing_queued(srv):
    base = srv.base_dir
    after = snapshot(base)
    new = sorted(set(after) - set(srv.before))
    changed = sorted(k for k in srv.before if k in after and after[k] != srv.before[k] and k.startswith("input"))
    gone = sorted(set(srv.before) - set(after))
    print(f"\nnew files after the corpus: {new}")
    assert not gone and not changed, (gone, changed)  # nothing deleted or rewritten in the input folder
    assert not [f for f in new if f.startswith("output")], new  # no outputs
    assert not [f for f in new if f.startswith(str(RECORDS))], new  # no generation records
    uploads = re.compile(r"^input/rv2v_[0-9a-f]{12}_[\w.-]+$")  # the CLI's content-hashed uploads
    assert all(uploads.match(f) for f in new if f.startswith("input")), new
    cache = re.compile(r"^temp/rv2v_media/[0-9a-f]{32}\.[a-z0-9]+$")  # complete, content-addressed entries
    assert all(cache.match(f) for f in new if f.startswith("temp")), new
    for sub in WATCHED:
        leftovers = [f for f in corpus.partial_or_empty_files(base / sub)
                     if f"{sub}/{f}" not in srv.before]  # the corpus' own empty files were there before
        assert leftovers == [], (sub, leftovers)
    status, listing = call(srv, "GET", "/api/ai/queue?limit=100000")
    assert status == 200 and listing["generations"] == srv.queue_before  # a refused request is never queued
    queue = srv.get_json("/queue")
    assert queue["queue_running"] == [] and queue["queue_pending"] == [], queue


def test_server_still_serves_and_generates(srv):
    assert srv.proc is not None and srv.proc.poll() is None, srv.log_tail()
    assert srv.get_json("/system_stats")["system"]
    status, model = call(srv, "GET", f"/api/ai/models/{params.MODEL_ID}")
    assert status == 200 and model["id"] == params.MODEL_ID
    status, body = call(srv, "POST", "/api/ai/videos/generate", corpus.encode(corpus.base_request(CLIP)))
    assert status == 200 and body["status"] == "succeeded", body
    assert not re.search(r"\[RV2V API\] (POST|GET|DELETE) \S+ failed", srv.log), srv.log_tail()  # no 500s
