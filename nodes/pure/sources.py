"""Resolve a media field to a local file (pure; standard library only).

A media field is one of:

* the name of a file inside ComfyUI's input folder (optionally ``sub/name.mp4``,
  or ComfyUI's annotated form ``name.mp4 [input]``);
* an ``http(s)://`` URL, downloaded (streamed, size-capped, with timeouts and a
  redirect cap) to a cache folder under a temp name and renamed when complete;
* a ``data:`` URI (base64), written the same way.

Every address a URL resolves to (at every redirect hop) is checked: loopback,
private, link-local, multicast and reserved addresses are refused unless the
operator allows them (``allow_private=True``).
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import os
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from . import atomic

DEFAULT_MAX_BYTES = 2 * 1024 ** 3
DEFAULT_TIMEOUT = 30.0
MAX_REDIRECTS = 5


class SourceError(ValueError):
    """A media field cannot be resolved. The message names the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT
    max_redirects: int = MAX_REDIRECTS
    allow_private: bool = False


def kind_of(value: str) -> str:
    """'url', 'data' or 'file'."""
    low = value.strip().lower()
    if low.startswith(("http://", "https://")):
        return "url"
    if low.startswith("data:"):
        return "data"
    if "://" in low:
        return "bad-scheme"
    return "file"


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
    if not path.is_file():
        raise SourceError(field, f"{name!r} was not found in ComfyUI's {tag} folder ({root}); "
                                 "upload it there or give an http(s) URL")
    return path


def _cache_name(key: str, suffix: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + suffix


def _suffix_from(url_path: str) -> str:
    suffix = Path(urllib.parse.unquote(url_path)).suffix.lower()
    return suffix if 1 < len(suffix) <= 6 and suffix[1:].isalnum() else ".bin"


def write_data_uri(value: str, cache_dir: str | os.PathLike, field: str,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
    header, sep, payload = value.partition(",")
    if not sep or not header.lower().startswith("data:"):
        raise SourceError(field, "malformed data: URI (expected data:<type>;base64,<payload>)")
    if ";base64" not in header.lower():
        raise SourceError(field, "data: URIs must be base64-encoded (data:<type>;base64,...)")
    if len(payload) * 3 // 4 > max_bytes:
        raise SourceError(field, f"data: URI is larger than the {max_bytes} byte limit")
    try:
        data = base64.b64decode(payload, validate=True)
    except (ValueError, base64.binascii.Error):
        raise SourceError(field, "data: URI payload is not valid base64") from None
    mime = header[5:].split(";")[0].strip().lower()
    suffix = {"video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov",
              "image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}.get(mime, ".bin")
    dest = Path(cache_dir) / _cache_name(hashlib.sha256(data).hexdigest(), suffix)
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(dest, data)
    return dest


def check_address(host: str, port: int, field: str, allow_private: bool) -> str:
    """Resolve host and refuse non-public addresses. Returns the address to connect to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SourceError(field, f"cannot resolve host {host!r}: {exc.strerror}") from None
    if not infos:
        raise SourceError(field, f"host {host!r} has no address")
    chosen = None
    for info in infos:
        addr = info[4][0]
        ip = ipaddress.ip_address(addr.split("%")[0])
        if not allow_private and not _is_public(ip):
            raise SourceError(field, f"refusing to fetch from {host!r}: it resolves to the non-public address "
                                     f"{ip} (loopback, private, link-local, multicast and reserved addresses "
                                     "are blocked unless the server operator allows them)")
        chosen = chosen or addr
    return chosen


def _is_public(ip: ipaddress._BaseAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a pre-checked address while keeping the Host header."""

    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def download(url: str, cache_dir: str | os.PathLike, field: str, policy: FetchPolicy = FetchPolicy(),
             progress=None) -> Path:
    """Download url into cache_dir (atomic). Cached by URL; returns the file path."""
    dest = Path(cache_dir) / _cache_name(url, _suffix_from(urllib.parse.urlsplit(url).path))
    if dest.is_file():
        return dest
    current = url
    for _hop in range(policy.max_redirects + 1):
        parts = urllib.parse.urlsplit(current)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(field, f"only http(s) URLs are allowed, got {current!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = check_address(parts.hostname, port, field, policy.allow_private)
        cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        conn = cls(parts.hostname, port, address, policy.timeout)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            conn.request("GET", target, headers={"User-Agent": "comfyui-ltx23-rv2v", "Accept": "*/*"})
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.getheader("Location")
                if not location:
                    raise SourceError(field, f"redirect without a Location from {current!r}")
                current = urllib.parse.urljoin(current, location)
                continue
            if resp.status != 200:
                raise SourceError(field, f"download of {url!r} failed: HTTP {resp.status} {resp.reason}")
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > policy.max_bytes:
                raise SourceError(field, f"{url!r} is {int(length)} bytes; the limit is {policy.max_bytes}")
            _stream_to(resp, dest, policy.max_bytes, field, url, progress)
            return dest
        except (OSError, http.client.HTTPException) as exc:
            raise SourceError(field, f"download of {url!r} failed: {exc}") from None
        finally:
            conn.close()
    raise SourceError(field, f"too many redirects (more than {policy.max_redirects}) for {url!r}")


def _stream_to(resp, dest: Path, max_bytes: int, field: str, url: str, progress) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    with atomic.atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        while True:
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise SourceError(field, f"{url!r} is larger than the {max_bytes} byte limit")
            fh.write(chunk)
            if progress is not None:
                progress(total)
        if total == 0:
            raise SourceError(field, f"{url!r} returned an empty body")


def resolve(value: str, field: str, *, input_dir: str, cache_dir: str, policy: FetchPolicy = FetchPolicy(),
            extra_roots: dict[str, str] | None = None) -> Path:
    """Resolve any media field value to a local path (downloading when needed)."""
    if not isinstance(value, str) or not value.strip():
        raise SourceError(field, "is empty")
    value = value.strip()
    k = kind_of(value)
    if k == "url":
        return download(value, cache_dir, field, policy)
    if k == "data":
        return write_data_uri(value, cache_dir, field, policy.max_bytes)
    if k == "bad-scheme":
        scheme = value.split("://", 1)[0]
        raise SourceError(field, f"URL scheme {scheme!r} is not allowed; use http(s), a data: URI, "
                                 "or a file name in ComfyUI's input folder")
    roots = {"input": input_dir, **(extra_roots or {})}
    return resolve_local(value, roots, field)
