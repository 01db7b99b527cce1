"""Media field resolution: input-folder names, data: URIs, http(s) downloads with SSRF protection."""
import base64
import http.server
import os
import threading

import pytest

from rv2v.nodes.pure import atomic
from rv2v.nodes.pure import sources as S

ALLOW = S.FetchPolicy(allow_private=True, timeout=5)


@pytest.fixture()
def dirs(tmp_path):
    inp, cache = tmp_path / "input", tmp_path / "cache"
    inp.mkdir()
    (inp / "clip.mp4").write_bytes(b"x" * 10)
    (inp / "sub").mkdir()
    (inp / "sub" / "a.png").write_bytes(b"p")
    (tmp_path / "secret.mp4").write_bytes(b"s")
    return inp, cache


def test_kinds():
    assert [S.kind_of(v) for v in ("http://a/b", "HTTPS://a", "data:x", "clip.mp4", "file:///etc/passwd",
                                   "ftp://h/x")] == ["url", "url", "data", "file", "bad-scheme", "bad-scheme"]


def test_bad_scheme_message_has_one_home(dirs):
    err = S.bad_scheme("input_image", " ftp://h/x.png")
    assert isinstance(err, S.SourceError) and err.field == "input_image"
    assert str(err) == f"input_image: URL scheme 'ftp' is not allowed; use {S.ALLOWED_SOURCES}"
    assert str(S.bad_scheme("f", "ssh://h", allowed="http(s)")) == "f: URL scheme 'ssh' is not allowed; use http(s)"
    inp, cache = dirs
    with pytest.raises(S.SourceError) as info:  # resolve refuses with the same message
        S.resolve("ftp://h/x.png", "input_image", input_dir=str(inp), cache_dir=str(cache))
    assert str(info.value) == str(err)


def test_local_names_resolve_inside_the_input_folder(dirs):
    inp, cache = dirs
    assert S.resolve("clip.mp4", "input_video", input_dir=str(inp), cache_dir=str(cache)) == inp / "clip.mp4"
    assert S.resolve("sub/a.png", "input_image", input_dir=str(inp), cache_dir=str(cache)) == inp / "sub" / "a.png"
    assert S.resolve("clip.mp4 [input]", "input_video", input_dir=str(inp), cache_dir=str(cache)).name == "clip.mp4"


@pytest.mark.parametrize("name,fragment", [
    ("../secret.mp4", "'..'"), ("/etc/passwd", "absolute"), ("sub/../../secret.mp4", "'..'"),
    ("missing.mp4", "was not found"), ("clip.mp4 [output]", "not allowed"), ("a\x00b", "NUL"),
    ("file:///etc/passwd", "scheme"), ("C:\\x.mp4", "absolute"),
])
def test_escapes_and_missing_files_are_refused_with_the_field_name(dirs, name, fragment):
    inp, cache = dirs
    with pytest.raises(S.SourceError) as info:
        S.resolve(name, "input_video", input_dir=str(inp), cache_dir=str(cache))
    assert str(info.value).startswith("input_video: ") and fragment in str(info.value)


def test_symlink_out_of_the_input_folder_is_refused(dirs):
    inp, cache = dirs
    os.symlink(inp.parent / "secret.mp4", inp / "link.mp4")
    with pytest.raises(S.SourceError, match="outside"):
        S.resolve("link.mp4", "input_video", input_dir=str(inp), cache_dir=str(cache))


def test_data_uri(dirs):
    inp, cache = dirs
    uri = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    path = S.resolve(uri, "input_image", input_dir=str(inp), cache_dir=str(cache))
    assert path.read_bytes() == b"\x89PNG fake" and path.suffix == ".png"
    for bad, frag in (("data:image/png,raw", "base64"), ("data:image/png;base64,@@@", "not valid base64"),
                      ("data:nothing", "malformed")):
        with pytest.raises(S.SourceError, match=frag):
            S.resolve(bad, "input_image", input_dir=str(inp), cache_dir=str(cache))


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/ok.mp4":
            body = b"m" * 1000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/redirect":
            self.send_response(301)
            self.send_header("Location", "/ok.mp4")
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"b" * 5000)
        elif self.path == "/empty":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _no_partials(cache):
    return not cache.exists() or not [p for p in cache.iterdir() if p.name.startswith(".")]


def test_download_and_cache(server, tmp_path):
    p = S.download(server + "/ok.mp4", tmp_path, "input_video", ALLOW)
    assert p.read_bytes() == b"m" * 1000 and p.suffix == ".mp4"
    assert S.download(server + "/ok.mp4", tmp_path, "input_video", ALLOW) == p
    assert S.download(server + "/redirect", tmp_path, "input_video", ALLOW).read_bytes() == b"m" * 1000


@pytest.mark.parametrize("path,policy,fragment", [
    ("/nope", ALLOW, "HTTP 404"),
    ("/loop", ALLOW, "redirect loop"),
    ("/big", S.FetchPolicy(allow_private=True, max_bytes=1000), "larger than the 1000 byte limit"),
    ("/empty", ALLOW, "empty body"),
    ("/ok.mp4", S.FetchPolicy(), "non-public address 127.0.0.1"),
])
def test_download_failures_leave_nothing_behind(server, tmp_path, path, policy, fragment):
    cache = tmp_path / "cache"
    with pytest.raises(S.SourceError) as info:
        S.download(server + path, cache, "input_video", policy)
    assert fragment in str(info.value) and str(info.value).startswith("input_video: ")
    assert _no_partials(cache) and not (cache.exists() and list(cache.iterdir()))


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "[::1]",
                                  "224.0.0.1", "0.0.0.0", "localhost"])
def test_private_literals_and_names_are_refused(host, tmp_path):
    with pytest.raises(S.SourceError, match="non-public"):
        S.download(f"http://{host}/x.mp4", tmp_path, "input_video", S.FetchPolicy(timeout=2))


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    dest = tmp_path / "f.bin"
    atomic.write_bytes(dest, b"old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(dest) as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("boom")
    assert dest.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]
