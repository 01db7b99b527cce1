"""ComfyUI's native HTTP API with the standard library (``generate``, ``models --server``)."""
from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from ..pure import atomic
from .errors import CliError

DEFAULT_SERVER = "http://127.0.0.1:8188"


class Client:
    """ComfyUI's native HTTP API with the standard library."""

    def __init__(self, base: str, timeout: float = 60.0, headers: dict | None = None):
        base = base.rstrip("/")
        if "://" not in base:
            base = "http://" + base
        self.base = base
        self.timeout = timeout
        self.headers = dict(headers or {})

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={**self.headers, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"cannot reach ComfyUI at {self.base}: {reason}") from None

    def json(self, method: str, path: str, payload=None, timeout: float | None = None):
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json"} if body is not None else {}
        status, raw = self.request(method, path, body, headers, timeout)
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = {"detail": raw.decode("utf-8", "replace")[:2000]}
        return status, data

    def upload(self, path: Path) -> str:
        """Upload a local file to ComfyUI's input folder; returns the name to use in a prompt.

        The name carries a content hash, so re-running with the same file reuses it and
        different files with the same name never overwrite each other."""
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:12]
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in path.name) or "media"
        name = f"rv2v_{digest}_{safe}"
        boundary = uuid.uuid4().hex
        parts = []
        for key, value in (("type", "input"), ("overwrite", "true")):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        status, raw = self.request("POST", "/upload/image", b"".join(parts),
                                   {"Content-Type": f"multipart/form-data; boundary={boundary}"},
                                   timeout=max(self.timeout, 600))
        if status != 200:
            raise CliError(f"upload of {path} failed: HTTP {status}: {raw.decode('utf-8', 'replace')[:500]}")
        body = json.loads(raw)
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else body["name"]

    def download(self, path_query: str, dest: Path) -> int:
        req = urllib.request.Request(self.base + path_query, headers=self.headers)
        dest.parent.mkdir(parents=True, exist_ok=True)
        total = 0
        with atomic.atomic_path(dest) as tmp, open(tmp, "wb") as fh, \
                urllib.request.urlopen(req, timeout=max(self.timeout, 600)) as resp:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                fh.write(chunk)
                total += len(chunk)
        return total
