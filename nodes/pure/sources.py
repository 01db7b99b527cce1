"""Resolve a media field to a local file (pure; standard library only).

A media field is one of:

* the name of a file inside ComfyUI's input folder (optionally ``sub/name.mp4``,
  or ComfyUI's annotated form ``name.mp4 [input]``);
* an ``http(s)://`` URL, downloaded (streamed, size-capped, with a connect/read
  timeout, a deadline for the whole download and a redirect cap) to a cache
  folder under a temp name and renamed when complete;
* a ``data:`` URI (base64), written the same way.

Every address a URL resolves to (at every redirect hop) is checked and the
connection is pinned to the checked address: loopback, private, link-local,
multicast, reserved and other non-global addresses (also when embedded in an
IPv6 address: ``::ffff:127.0.0.1``, 6to4, Teredo, NAT64) are refused unless the
operator allows them (``allow_private=True``, or ``allow_networks`` for chosen
networks). Responses whose Content-Type is plainly not media (``text/html``,
JSON, ...) are refused; a media type is not trusted either: a ``check``
callable (the callers decode-check the file) runs on the temp file before it
is renamed into the cache, so a failed download or check leaves nothing.

Operator settings come from environment variables (:func:`policy_from_env`).
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

from . import atomic, config

# Defaults and variable names come from the one table of operator settings (config.VARIABLES).
ENV_ALLOW_PRIVATE = "RV2V_ALLOW_PRIVATE_URLS"
ENV_ALLOW_NETWORKS = "RV2V_ALLOWED_URL_NETWORKS"
ENV_MAX_MB = "RV2V_MAX_DOWNLOAD_MB"
ENV_TOTAL_TIMEOUT = "RV2V_DOWNLOAD_TIMEOUT_S"
ENV_READ_TIMEOUT = "RV2V_DOWNLOAD_READ_TIMEOUT_S"
ENV_MAX_REDIRECTS = "RV2V_MAX_REDIRECTS"
DEFAULT_MAX_BYTES = int(config.BY_NAME[ENV_MAX_MB].default * 1024 ** 2)  # 2 GiB
DEFAULT_TIMEOUT = config.BY_NAME[ENV_READ_TIMEOUT].default  # connecting, and the longest wait for bytes
DEFAULT_TOTAL_TIMEOUT = config.BY_NAME[ENV_TOTAL_TIMEOUT].default  # a whole download, redirects included
MAX_REDIRECTS = config.BY_NAME[ENV_MAX_REDIRECTS].default


class SourceError(ValueError):
    """A media field cannot be resolved. The message names the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class FetchPolicy:
    """How URLs are fetched.

    ``timeout``: seconds allowed for connecting and for each wait for data;
    ``total_timeout``: seconds for the whole download (all redirect hops), so
    a server that drips bytes slowly cannot hold a request forever;
    ``allow_private``: fetch from any address (loopback, private, ...);
    ``allow_networks``: CIDR networks (e.g. ``"10.1.0.0/16"``) allowed although
    not public, for an operator's own media server.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT
    max_redirects: int = MAX_REDIRECTS
    allow_private: bool = False
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT
    allow_networks: tuple = ()


def policy_from_env(environ: Optional[Mapping[str, str]] = None) -> FetchPolicy:
    """The operator's fetch policy from the environment (read and parsed by :mod:`.config`:
    ``RV2V_ALLOW_PRIVATE_URLS``, ``RV2V_ALLOWED_URL_NETWORKS``, ``RV2V_MAX_DOWNLOAD_MB``,
    ``RV2V_DOWNLOAD_TIMEOUT_S``, ``RV2V_DOWNLOAD_READ_TIMEOUT_S``, ``RV2V_MAX_REDIRECTS``;
    defaults when unset, an invalid value is logged and the default used)."""
    return FetchPolicy(**config.fetch_settings(environ))


def kind_of(value: str) -> str:
    """'url', 'data', 'file', or 'bad-scheme' (a URL of another scheme: :func:`bad_scheme`)."""
    low = value.strip().lower()
    if low.startswith(("http://", "https://")):
        return "url"
    if low.startswith("data:"):
        return "data"
    if "://" in low:
        return "bad-scheme"
    return "file"


#: Where a media value may point, for the message refusing another URL scheme.
ALLOWED_SOURCES = "http(s), a data: URI, or a file name in ComfyUI's input folder"


def bad_scheme(field: str, value: str, allowed: str = ALLOWED_SOURCES) -> SourceError:
    """The one message refusing a media value whose URL scheme is not http(s) (``kind_of`` says
    'bad-scheme'); ``allowed`` says what the caller accepts instead."""
    scheme = value.strip().split("://", 1)[0]
    return SourceError(field, f"URL scheme {scheme!r} is not allowed; use {allowed}")


def strip_annotation(name: str) -> tuple[str, str]:
    """ComfyUI's 'name.png [input]' form -> (name, folder type)."""
    for tag in ("input", "output", "temp"):
        suffix = f" [{tag}]"
        if name.endswith(suffix):
            return name[: -len(suffix)], tag
    return name, "input"


def safe_join(root: str | os.PathLike, name: str, field: str) -> Path:
    """Join a client-given relative name under root; refuse escapes (.., absolute, symlinks out)."""
    if not name or name.strip() == "":
        raise SourceError(field, "file name is empty")
    if "\x00" in name:
        raise SourceError(field, "file name contains a NUL character")
    p = Path(name)
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise SourceError(field, f"{name!r} must be a file name inside ComfyUI's input folder, not an absolute path")
    if any(part == ".." for part in Path(name.replace("\\", "/")).parts):
        raise SourceError(field, f"{name!r} must not contain '..'")
    root_real = Path(os.path.realpath(root))
    full = Path(os.path.realpath(root_real / name))
    if full != root_real and root_real not in full.parents:
        raise SourceError(field, f"{name!r} resolves outside ComfyUI's input folder")
    return full


def resolve_local(value: str, roots: dict[str, str], field: str) -> Path:
    name, tag = strip_annotation(value.strip())
    root = roots.get(tag)
    if root is None:
        raise SourceError(field, f"folder type [{tag}] is not allowed here")
    path = safe_join(root, name, field)
    try:
        found = path.is_file()
    except (OSError, ValueError) as exc:  # e.g. a name longer than the file system allows
        raise SourceError(field, f"{name[:80]!r} cannot be used as a file name "
                                 f"({getattr(exc, 'strerror', None) or exc})") from None
    if not found:
        raise SourceError(field, f"{name!r} was not found in ComfyUI's {tag} folder ({root}); "
                                 "upload it there or give an http(s) URL")
    return path


def _cache_name(key: str, suffix: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + suffix


#: Extensions kept for cached downloads. Any other name gets ``.media`` so that
#: FFmpeg picks the demuxer from the content: some extensions select demuxers
#: that render arbitrary bytes or text as pictures (``.bin``, ``.txt``) or open
#: other files (``.m3u8``, ``.ffconcat``).
MEDIA_SUFFIXES = frozenset((
    ".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts", ".flv",
    ".ogv", ".3gp", ".wmv", ".gif", ".png", ".apng", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff",
    ".m4a", ".mp3", ".wav", ".ogg", ".flac", ".aac", ".opus",
))
_UNKNOWN_SUFFIX = ".media"

_DATA_URI_SUFFIXES = {"video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov",
                      "video/x-matroska": ".mkv", "image/png": ".png", "image/jpeg": ".jpg",
                      "image/webp": ".webp", "image/gif": ".gif"}


def _suffix_from(url_path: str) -> str:
    suffix = Path(urllib.parse.unquote(url_path)).suffix.lower()
    return suffix if suffix in MEDIA_SUFFIXES else _UNKNOWN_SUFFIX


#: Content types that are plainly not media (web pages, API answers, documents).
_NON_MEDIA_TOP = ("text", "multipart", "message", "font", "model")
_NON_MEDIA_APP = frozenset((
    "json", "xml", "javascript", "x-javascript", "ecmascript", "xhtml+xml", "pdf", "zip", "gzip",
    "x-gzip", "x-tar", "x-sh", "x-httpd-php", "x-www-form-urlencoded", "rtf", "msword", "wasm",
    "vnd.apple.mpegurl", "x-mpegurl", "dash+xml",
))


def check_content_type(content_type: Optional[str], field: str, source: str) -> None:
    """Refuse a declared type that is plainly not a video or image. A media type
    (or none, or ``application/octet-stream``) passes: content is checked by
    decoding, never trusted from the type."""
    base = (content_type or "").split(";")[0].strip().lower()
    if not base or "/" not in base:
        return
    top, sub = base.split("/", 1)
    if top in _NON_MEDIA_TOP or (top == "application" and (sub in _NON_MEDIA_APP or sub.endswith(("+json", "+xml")))):
        raise SourceError(field, f"{source} has content type {base!r}, which is not a video or image "
                                 "(is it a web page or an API answer rather than the media file itself?)")


def write_data_uri(value: str, cache_dir: str | os.PathLike, field: str,
                   max_bytes: int = DEFAULT_MAX_BYTES, check: Optional[Callable[[str], object]] = None) -> Path:
    """Decode a base64 ``data:`` URI into the cache (atomic; ``check(temp_path)``
    runs before the rename and a failure leaves nothing)."""
    header, sep, payload = value.partition(",")
    if not sep or not header.lower().startswith("data:"):
        raise SourceError(field, "malformed data: URI (expected data:<type>;base64,<payload>)")
    if ";base64" not in header.lower():
        raise SourceError(field, "data: URIs must be base64-encoded (data:<type>;base64,...)")
    if len(payload) * 3 // 4 > max_bytes:
        raise SourceError(field, f"data: URI is larger than the {max_bytes} byte limit ({ENV_MAX_MB})")
    mime = header[5:].split(";")[0].strip().lower()
    check_content_type(mime, field, "the data: URI")
    try:
        data = base64.b64decode(payload, validate=True)
    except (ValueError, base64.binascii.Error):
        raise SourceError(field, "data: URI payload is not valid base64") from None
    if not data:
        raise SourceError(field, "data: URI payload is empty")
    suffix = _DATA_URI_SUFFIXES.get(mime, _UNKNOWN_SUFFIX)
    dest = Path(cache_dir) / _cache_name(hashlib.sha256(data).hexdigest(), suffix)
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(dest, suffix=".part" + dest.suffix) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(data)
            if check is not None:
                check(tmp)
    return dest


def check_address(host: str, port: int, field: str, allow_private: bool, allow_networks=()) -> str:
    """Resolve host and refuse non-public addresses (every address the name has;
    ``allow_networks`` lists CIDR networks allowed anyway). Returns the address
    to connect to, so the connection uses the address that was checked."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SourceError(field, f"cannot resolve host {host!r}: {exc.strerror}") from None
    except (UnicodeError, ValueError) as exc:
        raise SourceError(field, f"invalid host name {host!r} ({exc})") from None
    if not infos:
        raise SourceError(field, f"host {host!r} has no address")
    networks = [ipaddress.ip_network(n, strict=False) for n in allow_networks]
    chosen = None
    for info in infos:
        addr = info[4][0]
        ip = ipaddress.ip_address(addr.split("%")[0])
        allowed = allow_private or is_public_address(ip) or any(ip in n for n in networks if n.version == ip.version)
        if not allowed:
            raise SourceError(field, f"refusing to fetch from {host!r}: it resolves to the non-public address "
                                     f"{ip} (loopback, private, link-local, multicast and reserved addresses "
                                     f"are blocked unless the server operator allows them: {ENV_ALLOW_PRIVATE}=1 "
                                     f"or {ENV_ALLOW_NETWORKS})")
        chosen = chosen or addr
    return chosen


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def is_public_address(ip) -> bool:
    """True for a globally routable unicast address. IPv4 addresses embedded in
    IPv6 ones (mapped, IPv4-compatible, 6to4, Teredo, NAT64) are judged by the
    IPv4 address."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        if int(ip) >> 32 == 0:  # ::/96 (IPv4-compatible, deprecated), :: and ::1
            return False
        if ip.sixtofour is not None and not is_public_address(ip.sixtofour):
            return False
        if ip.teredo is not None and not is_public_address(ip.teredo[1]):
            return False
        if any(ip in net for net in _NAT64) and not is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)):
            return False
    return bool(ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified
                                      or ip.is_loopback or ip.is_link_local or ip.is_private))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a pre-checked address while keeping the Host header."""

    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self.raw_sock = None

    def connect(self):
        self.sock = self.raw_sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address
        self.raw_sock = None

    def connect(self):
        sock = self.raw_sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _Deadline:
    """The whole-download time limit. A watchdog thread shuts the current
    connection's socket down when the time is up, which ends any blocked
    connect/handshake/read at once (a per-read timeout alone never trips on a
    server that sends one byte every few seconds)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._conn = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(min(max(0.0, seconds), threading.TIMEOUT_MAX), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def passed(self) -> bool:
        return self.expired or self.remaining() <= 0

    def watch(self, conn) -> None:
        with self._lock:
            self._conn = conn
            if self.expired:
                _shutdown(conn)

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            if self._conn is not None:
                _shutdown(self._conn)

    def cancel(self) -> None:
        self._timer.cancel()


def _shutdown(conn) -> None:
    for sock in (getattr(conn, "sock", None), getattr(conn, "raw_sock", None)):
        if sock is None:
            continue
        try:  # the plain socket call: safe on an SSL socket another thread is reading
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except (OSError, ValueError, TypeError):
            pass


def download(url: str, cache_dir: str | os.PathLike, field: str, policy: FetchPolicy = FetchPolicy(),
             progress=None, check: Optional[Callable[[str], object]] = None) -> Path:
    """Download url into cache_dir (atomic). Cached by URL; returns the file path.

    ``check(temp_path)`` (e.g. a decode check) runs on the complete download
    before it is renamed into the cache; if it raises, the file is removed and
    the exception propagates. Every failure leaves no file behind."""
    dest = Path(cache_dir) / _cache_name(url, _suffix_from(urllib.parse.urlsplit(url).path))
    if dest.is_file():
        return dest
    deadline = _Deadline(policy.total_timeout)
    try:
        return _download(url, dest, field, policy, progress, check, deadline)
    finally:
        deadline.cancel()


def _download(url, dest, field, policy, progress, check, deadline) -> Path:
    current = url
    seen = {url}
    for _hop in range(policy.max_redirects + 1):
        parts = urllib.parse.urlsplit(current)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(field, f"only http(s) URLs are allowed, got {current!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise SourceError(field, f"invalid port in {current!r}") from None
        address = check_address(parts.hostname, port, field, policy.allow_private, policy.allow_networks)
        if deadline.passed():
            raise _deadline_error(field, url, deadline)
        cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        conn = cls(parts.hostname, port, address, max(0.01, min(policy.timeout, deadline.remaining())))
        deadline.watch(conn)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            with _network_errors(field, url, policy, deadline):
                conn.request("GET", target, headers={"User-Agent": "comfyui-ltx23-rv2v", "Accept": "*/*",
                                                     "Accept-Encoding": "identity"})
                resp = conn.getresponse()
                if resp.status in (301, 302, 303, 307, 308):
                    location = resp.getheader("Location")
                    if not location:
                        raise SourceError(field, f"redirect without a Location from {current!r}")
                    nxt = urllib.parse.urljoin(current, location.strip())
                    if nxt in seen:
                        raise SourceError(field, f"redirect loop: {current!r} redirects back to {nxt!r}, which "
                                                 f"was already visited (started at {url!r})")
                    seen.add(nxt)
                    current = nxt
                    continue
                if resp.status != 200:
                    raise SourceError(field, f"download of {url!r} failed: HTTP {resp.status} {resp.reason}")
                check_content_type(resp.getheader("Content-Type"), field, repr(url))
                length = resp.getheader("Content-Length")
                if length and length.strip().isdigit() and int(length) > policy.max_bytes:
                    raise SourceError(field, f"{url!r} is {int(length)} bytes; the limit is {policy.max_bytes} "
                                             f"({ENV_MAX_MB})")
                dest.parent.mkdir(parents=True, exist_ok=True)
            with atomic.atomic_path(dest, suffix=".part" + dest.suffix) as tmp:
                with _network_errors(field, url, policy, deadline):
                    _stream_to(resp, tmp, policy, field, url, progress, deadline)
                if check is not None:
                    check(tmp)  # e.g. a decode check; its error names the field
            return dest
        finally:
            conn.close()
    raise SourceError(field, f"too many redirects (more than {policy.max_redirects}) for {url!r}")


@contextlib.contextmanager
def _network_errors(field: str, url: str, policy: FetchPolicy, deadline: "_Deadline"):
    """Network/protocol failures -> SourceError naming the field; any failure
    after the deadline fired reads as the deadline."""
    try:
        yield
    except SourceError:
        if deadline.passed():
            raise _deadline_error(field, url, deadline) from None
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if deadline.passed():
            raise _deadline_error(field, url, deadline) from None
        if isinstance(exc, TimeoutError):
            raise SourceError(field, f"download of {url!r} stalled: no data for {policy.timeout:g} s "
                                     f"({ENV_READ_TIMEOUT})") from None
        if isinstance(exc, http.client.IncompleteRead):
            raise SourceError(field, f"download of {url!r} was cut off after {len(exc.partial)} bytes "
                                     "(the server closed the connection early)") from None
        raise SourceError(field, f"download of {url!r} failed: {_short_error(exc)}") from None


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _deadline_error(field: str, url: str, deadline: "_Deadline") -> SourceError:
    return SourceError(field, f"download of {url!r} did not finish within {deadline.seconds:g} s "
                              f"({ENV_TOTAL_TIMEOUT}); the server is too slow or the file too large")


def _stream_to(resp, tmp: str, policy: FetchPolicy, field: str, url: str, progress, deadline) -> None:
    """Copy the body into tmp, enforcing the size cap and the deadline."""
    total = 0
    max_bytes = policy.max_bytes
    with open(tmp, "wb") as fh:
        while True:
            chunk = resp.read1(1 << 18)
            if deadline.passed():
                raise _deadline_error(field, url, deadline)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise SourceError(field, f"{url!r} is larger than the {max_bytes} byte limit ({ENV_MAX_MB})")
            fh.write(chunk)
            if progress is not None:
                progress(total)
    if getattr(resp, "length", None):  # bytes still owed by a Content-Length response
        raise SourceError(field, f"download of {url!r} was cut off after {total} bytes; {resp.length} more "
                                 "were announced (the server closed the connection early)")
    if total == 0:
        raise SourceError(field, f"{url!r} returned an empty body")


def resolve(value: str, field: str, *, input_dir: str, cache_dir: str, policy: FetchPolicy = FetchPolicy(),
            extra_roots: dict[str, str] | None = None, check: Optional[Callable[[str], object]] = None) -> Path:
    """Resolve any media field value to a local path (downloading when needed).

    ``check(path)`` runs on a downloaded or data: URI file before it enters the
    cache (a failure removes it); local files are returned as they are."""
    if not isinstance(value, str) or not value.strip():
        raise SourceError(field, "is empty")
    value = value.strip()
    k = kind_of(value)
    if k == "url":
        return download(value, cache_dir, field, policy, check=check)
    if k == "data":
        return write_data_uri(value, cache_dir, field, policy.max_bytes, check=check)
    if k == "bad-scheme":
        raise bad_scheme(field, value)
    roots = {"input": input_dir, **(extra_roots or {})}
    return resolve_local(value, roots, field)
