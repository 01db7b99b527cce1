"""Media fields given as http(s) URLs and data: URIs, through the real server and the shipped workflow.

A loopback HTTP server started by the test serves the clip. Loopback addresses are refused by default
(SSRF protection); the first server allows them through the operator switch RV2V_ALLOW_PRIVATE_URLS=1,
the second keeps the default and must refuse with a message naming the field.
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import threading
from pathlib import Path

import pytest

from . import harness

ENV = harness.require_comfy_env()

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "workflows" / "api" / "ltx23_reference_video_to_video.json"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    harness.make_clip(root / "clip.mp4", 192, 128, 17, 24)
    harness.make_image(root / "still.png", 192, 128)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def _prompt(**inputs):
    w = json.loads(WORKFLOW.read_text(encoding="utf-8"))
    w["1"]["inputs"].update(num_frames=9, **inputs)
    return w


def test_url_and_data_uri_media_with_private_addresses_allowed(served, tmp_path_factory):
    url, root = served
    base = tmp_path_factory.mktemp("allow")
    data_uri = "data:image/png;base64," + base64.b64encode((root / "still.png").read_bytes()).decode()
    with harness.ComfyServer(base, env=ENV, extra_env={"RV2V_ALLOW_PRIVATE_URLS": "1"}) as srv:
        entry = srv.run(_prompt(input_video=f"{url}/clip.mp4", input_image=data_uri), timeout=600)
        files = srv.download_outputs(entry, base / "dl")
        info = harness.probe_media(files[0])
        assert info["video"]["frames"] == 9 and info["video"]["width"] == 768
        cached = list((base / "temp" / "rv2v_media").glob("*")) if (base / "temp").exists() else []
        assert not [p for p in cached if p.name.startswith(".part-")], "no partial downloads left behind"


def test_loopback_url_refused_by_default(served, tmp_path_factory):
    url, _ = served
    base = tmp_path_factory.mktemp("deny")
    with harness.ComfyServer(base, env=ENV) as srv:
        with pytest.raises(harness.PromptFailed) as info:
            srv.run(_prompt(input_video=f"{url}/clip.mp4"), timeout=600)
        text = str(info.value)
        assert "input_video" in text and "non-public address" in text
        with pytest.raises(harness.PromptRejected) as rejected:
            srv.post_prompt(_prompt(input_video="ftp://example.com/clip.mp4"))
        assert "input_video" in json.dumps(rejected.value.body) and "scheme" in json.dumps(rejected.value.body)
        with pytest.raises(harness.PromptRejected) as rejected:
            srv.post_prompt(_prompt(input_video="../secret.mp4"))
        assert "'..'" in json.dumps(rejected.value.body)
        assert not list(srv.output_dir.rglob("*.mp4"))
