"""URL fetching against a loopback HTTP server started by the test.

Loopback is refused by default; these tests reach the server only through an
explicit test policy (``allow_private=True``, or ``allow_networks`` naming
127.0.0.1 where a redirect to another private address must still be refused).
Every failing case also checks that nothing (no file, no temp file) is left in
the cache folder.
"""
import http.server
import ipaddress
import logging
import socket
import threading
import time

import av
import numpy as np
import pytest

from rv2v.nodes.pure import media
from rv2v.nodes.pure import sources as S

ALLOW = S.FetchPolicy(allow_private=True, timeout=2, total_timeout=10)
ONLY_LOOPBACK_V4 = S.FetchPolicy(allow_networks=("127.0.0.1/32",), timeout=2, total_timeout=10)
FIELD = "input_video"


def _tiny_mp4(path):
    with av.open(str(path), "w", format="mp4", container_options={"movflags": "+faststart"}) as c:
        vs = c.add_stream("libx264", rate=24)
        vs.width, vs.height, vs.pix_fmt = 32, 24, "yuv420p"
        vs.options = {"preset": "ultrafast"}
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 40 * i, np.uint8), format="rgb24")
            f.pts = i
            c.mux(vs.encode(f))
        c.mux(vs.encode(None))
    return path.read_bytes()


class _State:
    mp4 = b""
    hosts: list = []


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", ctype=None, length=True, headers=()):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _redirect(self, location, status=302):
        self._send(status, headers=[("Location", location)])

    def do_GET(self):  # noqa: C901 - one branch per scenario
        _State.hosts.append(self.headers.get("Host"))
        path = self.path
        port = self.server.server_address[1]
        if path == "/clip.mp4":
            self._send(200, _State.mp4, "video/mp4")
        elif path == "/notype":
            self._send(200, _State.mp4)
        elif path == "/octet":
            self._send(200, _State.mp4, "application/octet-stream")
        elif path == "/redirect":
            self._redirect("/clip.mp4", 301)
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/loop-a":
            self._redirect("/loop-b")
        elif path == "/loop-b":
            self._redirect(f"http://127.0.0.1:{port}/loop-a")
        elif path.startswith("/chain/"):
            self._redirect(f"/chain/{int(path.rsplit('/', 1)[1]) + 1}")
        elif path == "/to-private":
            self._redirect("http://10.20.30.40/clip.mp4")
        elif path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/to-name":
            self._redirect(f"http://internal.example.test:{port}/clip.mp4")
        elif path == "/to-file":
            self._redirect("file:///etc/passwd")
        elif path == "/to-ftp":
            self._redirect("ftp://127.0.0.1/clip.mp4")
        elif path == "/no-location":
            self._send(302)
        elif path == "/html":
            self._send(200, b"<html><body>not a video</body></html>", "text/html; charset=utf-8")
        elif path == "/json":
            self._send(200, b'{"error": "nope"}', "application/json")
        elif path == "/problem":
            self._send(200, b'{"title": "x"}', "application/problem+json")
        elif path == "/lying.mp4":  # claims media, is text: caught by the decode check
            self._send(200, b"this is not a video at all\n" * 20, "video/mp4")
        elif path == "/empty":
            self._send(200, b"", "video/mp4")
        elif path == "/short":  # announces 5000 bytes, sends 100, closes
            self.send_response(200)
            self.send_header("Content-Length", "5000")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"x" * 100)
        elif path == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Length", str(10 ** 12))
            self.send_header("Connection", "close")
            self.end_headers()
        elif path == "/endless":  # no length, never ends
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Connection", "close")
            self.end_headers()
            self._pump(b"\0" * 65536, 0.0)
        elif path == "/drip":  # one byte every 0.2 s: the per-read timeout never trips
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.send_header("Connection", "close")
            self.end_headers()
            self._pump(b"d", 0.2)
        elif path == "/slow-headers":  # nothing at all for longer than the read timeout
            time.sleep(3.5)
            self._send(200, _State.mp4, "video/mp4")
        elif path == "/drip-headers":  # the status line and headers, a byte at a time
            head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 10000 + b"\r\n\r\n"
            self._pump_bytes(head, 0.2)
        else:
            self._send(404, b"no such thing", "text/plain")

    # Pumps stop after 8 s, so a broken deadline fails the elapsed-time assertions instead of hanging.
    def _pump(self, chunk, delay, seconds=8.0):
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                self.wfile.write(chunk)
                self.wfile.flush()
                if delay:
                    time.sleep(delay)
        except OSError:
            pass

    def _pump_bytes(self, data, delay, seconds=8.0):
        end = time.monotonic() + seconds
        try:
            for i in range(len(data)):
                if time.monotonic() > end:
                    break
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(delay)
        except OSError:
            pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _State.mp4 = _tiny_mp4(tmp_path_factory.mktemp("srv") / "clip.mp4")
    httpd = _Server(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _leftovers(cache):
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def _decode_check(path):
    media.probe_video(path, label=FIELD)


# ------------------------------------------------------------------------------ successes


@pytest.mark.parametrize("path", ["/clip.mp4", "/notype", "/octet", "/redirect"])
def test_media_downloads_and_is_cached(server, tmp_path, path):
    cache = tmp_path / "cache"
    got = S.download(server + path, cache, FIELD, ALLOW, check=_decode_check)
    assert got.read_bytes() == _State.mp4
    assert _leftovers(cache) == [got.name]  # no temp file next to it
    assert media.probe_video(got).frame_count == 3
    assert S.download(server + path, cache, FIELD, ALLOW) == got  # cache hit


def test_unknown_extensions_are_not_kept_in_the_cache_name(server, tmp_path):
    # .bin/.txt/.m3u8 would pick FFmpeg demuxers that render bytes/text as video or open other files
    assert S._suffix_from("/a/b.MP4") == ".mp4"
    for url_path in ("/x.bin", "/x.txt", "/x.m3u8", "/x.ffconcat", "/x", "/x.sdp"):
        assert S._suffix_from(url_path) == ".media"


def test_connection_is_pinned_to_the_checked_address(server, tmp_path, monkeypatch):
    """A name is resolved once per hop and the connection goes to that address
    (a second lookup returning a private address is never made)."""
    real = socket.getaddrinfo
    port = int(server.rsplit(":", 1)[1])
    lookups = []

    def fake(host, *args, **kwargs):
        if host == "media.example.test":
            lookups.append(host)
            addr = "127.0.0.1" if len(lookups) == 1 else "10.9.9.9"  # rebinding after the check
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    _State.hosts.clear()
    got = S.download(f"http://media.example.test:{port}/clip.mp4", tmp_path, FIELD, ONLY_LOOPBACK_V4)
    assert got.read_bytes() == _State.mp4
    assert lookups == ["media.example.test"]
    assert _State.hosts == [f"media.example.test:{port}"]  # Host header kept


# ------------------------------------------------------------------------------ failures

FAILURES = [
    ("/nothing-here", ALLOW, "HTTP 404"),
    ("/loop", ALLOW, "redirect loop"),
    ("/loop-a", ALLOW, "redirect loop"),
    ("/chain/0", ALLOW, "too many redirects (more than 5)"),
    ("/chain/0", S.FetchPolicy(allow_private=True, max_redirects=0), "too many redirects (more than 0)"),
    ("/to-private", ONLY_LOOPBACK_V4, "non-public address 10.20.30.40"),
    ("/to-metadata", ONLY_LOOPBACK_V4, "non-public address 169.254.169.254"),
    ("/to-file", ALLOW, "only http(s) URLs are allowed, got 'file:///etc/passwd'"),
    ("/to-ftp", ALLOW, "only http(s) URLs are allowed"),
    ("/no-location", ALLOW, "redirect without a Location"),
    ("/html", ALLOW, "content type 'text/html', which is not a video or image"),
    ("/json", ALLOW, "content type 'application/json'"),
    ("/problem", ALLOW, "content type 'application/problem+json'"),
    ("/empty", ALLOW, "empty body"),
    ("/short", ALLOW, "cut off after 100 bytes"),
    ("/big-declared", ALLOW, "is 1000000000000 bytes; the limit is"),
    ("/endless", S.FetchPolicy(allow_private=True, max_bytes=300_000, timeout=2),
     "larger than the 300000 byte limit (RV2V_MAX_DOWNLOAD_MB)"),
    ("/slow-headers", S.FetchPolicy(allow_private=True, timeout=1), "stalled: no data for 1 s"),
    ("/drip", S.FetchPolicy(allow_private=True, timeout=2, total_timeout=1.5),
     "did not finish within 1.5 s (RV2V_DOWNLOAD_TIMEOUT_S)"),
    ("/drip-headers", S.FetchPolicy(allow_private=True, timeout=2, total_timeout=1.5),
     "did not finish within 1.5 s"),
    ("/endless", S.FetchPolicy(allow_private=True, timeout=2, total_timeout=1.0, max_bytes=10 ** 12),
     "did not finish within 1 s"),
]


@pytest.mark.parametrize("path,policy,fragment", FAILURES, ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(FAILURES)])
def test_failed_downloads_name_the_field_and_leave_nothing(server, tmp_path, path, policy, fragment):
    cache = tmp_path / "cache"
    t0 = time.monotonic()
    with pytest.raises(S.SourceError) as info:
        S.download(server + path, cache, FIELD, policy, check=_decode_check)
    elapsed = time.monotonic() - t0
    text = str(info.value)
    assert text.startswith(f"{FIELD}: ") and fragment in text, text
    assert info.value.field == FIELD
    assert _leftovers(cache) == []
    # bounded by the deadline / read timeout (with slack for a slow machine)
    assert elapsed < policy.total_timeout + policy.timeout + 3


def test_redirect_to_a_name_that_resolves_to_a_private_address(server, tmp_path, monkeypatch):
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host == "internal.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.7.7", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(S.SourceError, match="'internal.example.test'.*non-public address 192.168.7.7"):
        S.download(server + "/to-name", tmp_path / "cache", FIELD, ONLY_LOOPBACK_V4)
    assert _leftovers(tmp_path / "cache") == []


def test_content_that_claims_to_be_media_is_checked_by_decoding(server, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(media.MediaError) as info:
        S.download(server + "/lying.mp4", cache, FIELD, ALLOW, check=_decode_check)
    assert str(info.value).startswith(f"{FIELD}: ") and "not a readable media file" in str(info.value)
    assert _leftovers(cache) == []
    # without a check the same bytes would be cached: the check is what refused them
    assert S.download(server + "/lying.mp4", cache, FIELD, ALLOW).is_file()


def test_resolve_passes_the_check_to_downloads_and_data_uris(server, tmp_path):
    import base64

    calls = []

    def check(path):
        calls.append(path)
        raise media.MediaError(path, "refused by the check", label=FIELD)

    inp, cache = tmp_path / "in", tmp_path / "cache"
    inp.mkdir()
    for value in (server + "/clip.mp4", "data:video/mp4;base64," + base64.b64encode(_State.mp4).decode()):
        with pytest.raises(media.MediaError, match="refused by the check"):
            S.resolve(value, FIELD, input_dir=str(inp), cache_dir=str(cache), policy=ALLOW, check=check)
        assert _leftovers(cache) == []
    assert len(calls) == 2 and all(p.endswith(".mp4") for p in calls)  # temp names keep the extension


def test_deadline_interrupts_a_blocked_read_promptly(server, tmp_path):
    policy = S.FetchPolicy(allow_private=True, timeout=30, total_timeout=1.0)
    t0 = time.monotonic()
    with pytest.raises(S.SourceError, match="did not finish within 1 s"):
        S.download(server + "/drip", tmp_path, FIELD, policy)
    assert time.monotonic() - t0 < 5  # the 30 s read timeout never mattered
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------------------ SSRF without a network


class _NoConnect:
    """Fails the test if a connection is attempted."""

    def __init__(self, monkeypatch):
        monkeypatch.setattr(socket, "create_connection",
                            lambda *a, **k: pytest.fail(f"connection attempted: {a}"))


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.1.2.3", "10.1.2.3", "172.16.5.4", "192.168.0.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "255.255.255.255", "[::1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]",
    "[fe80::1]", "[fc00::1]", "[fd12:3456::1]", "[ff02::1]", "[2002:7f00:1::1]", "[64:ff9b::a9fe:a9fe]",
    "[::7f00:1]", "2130706433", "0x7f000001", "017700000001", "localhost",
])
def test_non_public_literals_and_names_are_refused(host, tmp_path, monkeypatch):
    _NoConnect(monkeypatch)
    with pytest.raises(S.SourceError) as info:
        S.download(f"http://{host}/x.mp4", tmp_path, FIELD, S.FetchPolicy(timeout=2))
    assert "non-public address" in str(info.value) and str(info.value).startswith(f"{FIELD}: ")
    assert "RV2V_ALLOW_PRIVATE_URLS" in str(info.value)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("addresses", [
    ["10.0.0.7"], ["169.254.169.254"], ["::1"], ["::ffff:127.0.0.1"], ["fe80::1%1"],
    ["93.184.215.14", "10.0.0.7"],  # one bad address among good ones is enough to refuse
])
def test_names_resolving_to_non_public_addresses_are_refused(addresses, tmp_path, monkeypatch):
    _NoConnect(monkeypatch)

    def fake(host, port, *args, **kwargs):
        assert host == "cdn.example.test"
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port) if ":" not in a else (a, port, 0, 0)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(S.SourceError, match=r"'cdn.example.test': it resolves to the non-public address"):
        S.download("https://cdn.example.test/v.mp4", tmp_path, FIELD, S.FetchPolicy())
    assert _leftovers(tmp_path) == []


def test_allow_networks_admits_only_the_named_network(monkeypatch):
    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ({"a.test": "10.1.2.3", "b.test": "10.9.0.1"}[host],
                                                             port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    assert S.check_address("a.test", 80, FIELD, False, ("10.1.0.0/16",)) == "10.1.2.3"
    with pytest.raises(S.SourceError, match="non-public address 10.9.0.1"):
        S.check_address("b.test", 80, FIELD, False, ("10.1.0.0/16",))
    assert S.check_address("b.test", 80, FIELD, True) == "10.9.0.1"


@pytest.mark.parametrize("address,public", [
    ("8.8.8.8", True), ("93.184.215.14", True), ("2606:4700::1111", True), ("2002:5db8:d70e::1", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("100.64.0.1", False), ("192.0.2.1", False),
    ("::ffff:169.254.1.1", False), ("2002:a00:1::1", False), ("64:ff9b::a00:1", False),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False), ("ff0e::1", False), ("::", False),
])
def test_is_public_address(address, public):
    assert S.is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("url,fragment", [
    ("ftp://example.com/a.mp4", "scheme 'ftp' is not allowed"),
    ("file:///etc/passwd", "scheme 'file' is not allowed"),
    ("gopher://x/", "scheme 'gopher' is not allowed"),
    ("http://:80/x.mp4", "only http(s) URLs are allowed"),
    ("http://example.com:99999/x.mp4", "invalid port"),
    ("data:text/html;base64,PGh0bWw+", "content type 'text/html'"),
    ("data:video/mp4;base64,", "payload is empty"),
])
def test_bad_urls_are_refused_before_any_connection(url, fragment, tmp_path, monkeypatch):
    _NoConnect(monkeypatch)
    with pytest.raises(S.SourceError) as info:
        S.resolve(url, FIELD, input_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    assert fragment in str(info.value) and str(info.value).startswith(f"{FIELD}: ")
    assert _leftovers(tmp_path / "cache") == []


# ------------------------------------------------------------------------------ operator config


def test_policy_from_env_defaults():
    p = S.policy_from_env({})
    assert p == S.FetchPolicy()
    assert (p.max_bytes, p.timeout, p.total_timeout, p.max_redirects, p.allow_private, p.allow_networks) == \
        (2 * 1024 ** 3, 30.0, 600.0, 5, False, ())


def test_policy_from_env_reads_every_setting():
    p = S.policy_from_env({
        "RV2V_ALLOW_PRIVATE_URLS": "yes", "RV2V_ALLOWED_URL_NETWORKS": "10.1.0.0/16, 192.168.1.5 ,fd00::/8",
        "RV2V_MAX_DOWNLOAD_MB": "1.5", "RV2V_DOWNLOAD_TIMEOUT_S": "90", "RV2V_DOWNLOAD_READ_TIMEOUT_S": "7.5",
        "RV2V_MAX_REDIRECTS": "2",
    })
    assert p.allow_private is True
    assert p.allow_networks == ("10.1.0.0/16", "192.168.1.5/32", "fd00::/8")
    assert (p.max_bytes, p.total_timeout, p.timeout, p.max_redirects) == (int(1.5 * 1024 ** 2), 90.0, 7.5, 2)


def test_policy_from_env_ignores_invalid_values_loudly(caplog):
    with caplog.at_level(logging.WARNING):
        p = S.policy_from_env({"RV2V_ALLOW_PRIVATE_URLS": "maybe", "RV2V_MAX_DOWNLOAD_MB": "lots",
                               "RV2V_DOWNLOAD_TIMEOUT_S": "-1", "RV2V_DOWNLOAD_READ_TIMEOUT_S": "inf",
                               "RV2V_MAX_REDIRECTS": "nan", "RV2V_ALLOWED_URL_NETWORKS": "not-a-net"})
    assert p == S.FetchPolicy()
    for name in ("RV2V_MAX_DOWNLOAD_MB", "RV2V_DOWNLOAD_TIMEOUT_S", "RV2V_DOWNLOAD_READ_TIMEOUT_S",
                 "RV2V_MAX_REDIRECTS", "RV2V_ALLOWED_URL_NETWORKS"):
        assert name in caplog.text
