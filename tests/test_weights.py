"""nodes/pure/weights.py: manifest, missing-file message, verified resumable download (loopback server)."""
from __future__ import annotations

import hashlib
import http.server
import os
import threading

import pytest

from rv2v.nodes.pure import weights

PAYLOAD = bytes(range(256)) * 1000  # 256 kB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    ranges = True
    requests: list = []

    def log_message(self, *a):  # quiet
        pass

    def do_GET(self):
        type(self).requests.append((self.path, self.headers.get("Range")))
        if self.path != "/file.bin":
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and self.ranges:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server():
    _Handler.requests = []
    _Handler.ranges = True
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_manifest_names_urls_licences():
    assert weights.DEPTH_DEFAULT == "video_depth_anything_vits.pth"
    vits, vitb, vitl = (weights.DEPTH_FILES[k] for k in ("vits", "vitb", "vitl"))
    assert vits.url == ("https://huggingface.co/depth-anything/Video-Depth-Anything-Small/resolve/main/"
                        "video_depth_anything_vits.pth")
    assert vitb.repo.endswith("-Base") and vitl.repo.endswith("-Large")
    assert vits.licence == "Apache-2.0" and not vits.non_commercial
    assert vitb.non_commercial and vitl.non_commercial
    assert weights.POSE_DETECTOR.url == "https://huggingface.co/hr16/yolox-onnx/resolve/main/yolox_l.torchscript.pt"
    assert weights.POSE_ESTIMATOR.url == ("https://huggingface.co/hr16/DWPose-TorchScript-BatchSize5/resolve/main/"
                                          "dw-ll_ucoco_384_bs5.torchscript.pt")
    assert {w.folder for w in weights.MANIFEST.values()} == {"rv2v_depth", "rv2v_pose"}
    assert weights.entry("sub/dir/yolox_l.torchscript.pt") is weights.POSE_DETECTOR
    assert weights.entry("mine.pth") is None
    assert "non-commercial" in weights.licence_note("video_depth_anything_vitl.pth")


def test_missing_file_error_names_file_folder_and_source():
    msg = weights.missing_file_error(weights.DEPTH_FILES["vits"], ("/m/rv2v_depth",))
    assert "video_depth_anything_vits.pth" in msg and "models/rv2v_depth/" in msg
    assert "https://huggingface.co/depth-anything/Video-Depth-Anything-Small" in msg
    assert "/m/rv2v_depth" in msg and "download_missing" in msg
    cli = weights.missing_file_error(weights.DEPTH_FILES["vits"], (), download_hint="pass --download-missing")
    assert "or pass --download-missing to fetch it." in cli and "on the node" not in cli
    assert cli.replace("pass --download-missing", "enable download_missing on the node") == \
        weights.missing_file_error(weights.DEPTH_FILES["vits"])


def test_download_success(server, tmp_path):
    seen = []
    path = weights.download(server + "/file.bin", tmp_path / "d", "f.pth", sha256=SHA, size=len(PAYLOAD),
                            chunk=65536, progress=lambda d, t: seen.append((d, t)))
    assert open(path, "rb").read() == PAYLOAD
    assert os.listdir(tmp_path / "d") == ["f.pth"]  # no .part left
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    # an existing file is not downloaded again
    n = len(_Handler.requests)
    assert weights.download(server + "/file.bin", tmp_path / "d", "f.pth") == path
    assert len(_Handler.requests) == n


def test_download_resumes_with_range(server, tmp_path):
    (tmp_path / "f.pth.part").write_bytes(PAYLOAD[:100_000])
    path = weights.download(server + "/file.bin", tmp_path, "f.pth", sha256=SHA)
    assert open(path, "rb").read() == PAYLOAD
    assert _Handler.requests[-1] == ("/file.bin", "bytes=100000-")


def test_download_restarts_when_server_ignores_range(server, tmp_path):
    _Handler.ranges = False
    (tmp_path / "f.pth.part").write_bytes(b"garbage" * 10)
    path = weights.download(server + "/file.bin", tmp_path, "f.pth", sha256=SHA)
    assert open(path, "rb").read() == PAYLOAD


def test_download_bad_hash_removes_file(server, tmp_path):
    with pytest.raises(weights.DownloadError, match="SHA-256"):
        weights.download(server + "/file.bin", tmp_path, "f.pth", sha256="0" * 64)
    assert os.listdir(tmp_path) == []


def test_download_bad_size_removes_file(server, tmp_path):
    with pytest.raises(weights.DownloadError, match="size"):
        weights.download(server + "/file.bin", tmp_path, "f.pth", size=len(PAYLOAD) + 1)
    assert os.listdir(tmp_path) == []


def test_download_404(server, tmp_path):
    with pytest.raises(weights.DownloadError, match="HTTP 404"):
        weights.download(server + "/nope.bin", tmp_path, "f.pth")
    assert os.listdir(tmp_path) == []


def test_download_can_be_stopped(server, tmp_path):
    with pytest.raises(InterruptedError):
        weights.download(server + "/file.bin", tmp_path, "f.pth", should_stop=lambda: True)
    assert not (tmp_path / "f.pth").exists()


def test_no_download_at_import():
    import importlib
    import sys
    import urllib.request

    calls = []
    orig = urllib.request.urlopen
    urllib.request.urlopen = lambda *a, **k: calls.append(a)
    try:
        sys.modules.pop("rv2v.nodes.pure.weights", None)
        importlib.import_module("rv2v.nodes.pure.weights")
    finally:
        urllib.request.urlopen = orig
    assert calls == []
