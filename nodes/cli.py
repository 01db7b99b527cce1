#!/usr/bin/env python3
"""Command line for the pack: ``generate``, ``models`` and ``control``.

Run it from the pack folder (no install, no ComfyUI needed on the client side)::

    python nodes/cli.py generate --prompt "a paper-cut dancer" --input-video clip.mp4 --output out.mp4
    python nodes/cli.py generate --request body.json --server http://127.0.0.1:8188 --output out.mp4
    python nodes/cli.py generate --request body.json --comfyui ~/ComfyUI --output out.mp4
    python nodes/cli.py models --comfyui ~/ComfyUI
    python nodes/cli.py control --input-video clip.mp4 --output control.mp4
    python nodes/cli.py control --input-video clip.mp4 --control-type depth --comfyui ~/ComfyUI

``generate`` uses ComfyUI's native API: it uploads local media files
(``/upload/image``), queues the shipped API workflow with the parameters applied
(``/prompt``), shows a progress bar from ComfyUI's websocket (``/ws``, a minimal
standard-library client; it falls back to polling ``/history``), and downloads the
MP4 (``/view``). With ``--comfyui PATH`` it starts that ComfyUI on a free loopback
port first and stops it afterwards. It exits 0 on success, 1 with the server's
message when the generation fails or the server refuses it, 2 for invalid arguments.

``generate`` and ``models`` need only the standard library; ``control`` needs torch,
numpy and av (it computes the control video locally with the pack's own code).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import json
import os
import shlex
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import types
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (python nodes/cli.py): load the pack under an alias, never as a
    # top-level package called "nodes" (ComfyUI owns that name), and without running the
    # pack's __init__ (which registers nodes when ComfyUI is importable).
    _HERE = Path(__file__).resolve().parent
    if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
        sys.path.pop(0)
    _ALIAS = "rv2v"
    if _ALIAS not in sys.modules:
        _pkg = types.ModuleType(_ALIAS)
        _pkg.__path__ = [str(_HERE.parent)]
        _pkg.__file__ = str(_HERE.parent / "__init__.py")
        sys.modules[_ALIAS] = _pkg
    _PURE = _ALIAS + ".nodes.pure"
    api = importlib.import_module(_PURE + ".api")
    atomic = importlib.import_module(_PURE + ".atomic")
    params = importlib.import_module(_PURE + ".params")
    sources = importlib.import_module(_PURE + ".sources")
else:
    from .pure import api, atomic, params, sources

    _PURE = __package__ + ".pure"

DEFAULT_SERVER = "http://127.0.0.1:8188"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CliError(Exception):
    """Printed as ``error: <message>``; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


def _pure(name: str):
    return importlib.import_module(f"{_PURE}.{name}")


# ----------------------------------------------------------------------------------------
# HTTP
# ----------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------
# Websocket (RFC 6455 client, text frames only; enough for ComfyUI's /ws)
# ----------------------------------------------------------------------------------------

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_encode_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """A final client frame (masked, as clients must)."""
    mask = mask if mask is not None else os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_decode_frame(buf: bytes) -> tuple[tuple[bool, int, bytes] | None, int]:
    """Parse one frame from ``buf``: ((fin, opcode, payload), bytes used) or (None, 0) if incomplete."""
    if len(buf) < 2:
        return None, 0
    fin, opcode = bool(buf[0] & 0x80), buf[0] & 0x0F
    masked, n = bool(buf[1] & 0x80), buf[1] & 0x7F
    pos = 2
    if n == 126:
        if len(buf) < 4:
            return None, 0
        n = struct.unpack(">H", buf[2:4])[0]
        pos = 4
    elif n == 127:
        if len(buf) < 10:
            return None, 0
        n = struct.unpack(">Q", buf[2:10])[0]
        pos = 10
    mask = b""
    if masked:
        if len(buf) < pos + 4:
            return None, 0
        mask = buf[pos:pos + 4]
        pos += 4
    if len(buf) < pos + n:
        return None, 0
    payload = buf[pos:pos + n]
    if masked:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return (fin, opcode, payload), pos + n


class WebSocket:
    """Blocking websocket client: ``recv(timeout)`` returns a text message, None on timeout."""

    def __init__(self, url: str, timeout: float = 10.0):
        parts = urllib.parse.urlsplit(url)
        secure = parts.scheme in ("wss", "https")
        port = parts.port or (443 if secure else 80)
        sock = socket.create_connection((parts.hostname, port), timeout)
        if secure:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        self.sock = sock
        self.buf = b""
        self.fragments: list[bytes] = []
        key = base64.b64encode(os.urandom(16)).decode()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        sock.sendall((f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError("websocket handshake: connection closed")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise OSError(f"websocket handshake refused: {lines[0]}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        if headers.get("sec-websocket-accept") != ws_accept_key(key):
            raise OSError("websocket handshake: bad Sec-WebSocket-Accept")

    def recv(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            frame, used = ws_decode_frame(self.buf)
            if frame is not None:
                self.buf = self.buf[used:]
                fin, opcode, payload = frame
                if opcode == 0x8:
                    raise EOFError("websocket closed by the server")
                if opcode == 0x9:
                    self.sock.sendall(ws_encode_frame(0xA, payload))
                    continue
                if opcode == 0xA:
                    continue
                if opcode in (0x1, 0x2):
                    self.fragments = [payload]
                    self._binary = opcode == 0x2
                elif opcode == 0x0:
                    self.fragments.append(payload)
                if fin:
                    data, self.fragments = b"".join(self.fragments), []
                    if not getattr(self, "_binary", False):
                        return data.decode("utf-8", "replace")
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise EOFError("websocket closed")
            self.buf += chunk

    def close(self) -> None:
        try:
            self.sock.sendall(ws_encode_frame(0x8, struct.pack(">H", 1000)))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


# ----------------------------------------------------------------------------------------
# Progress bar
# ----------------------------------------------------------------------------------------

class ProgressBar:
    """``[#######-------]  42% label`` on a terminal (redrawn), or a line per 10% otherwise."""

    def __init__(self, stream=None, width: int = 30, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_step = -1
        self.last_label = None
        self.shown = False

    def render(self, fraction: float, label: str = "") -> str:
        fraction = min(1.0, max(0.0, fraction))
        fill = int(round(fraction * self.width))
        return f"[{'#' * fill}{'-' * (self.width - fill)}] {fraction * 100:5.1f}% {label}".rstrip()

    def update(self, fraction: float, label: str = "") -> None:
        if not self.enabled:
            return
        line = self.render(fraction, label)
        if self.tty:
            self.stream.write("\r" + line[:200].ljust(100))
            self.stream.flush()
            self.shown = True
            return
        step = int(fraction * 10)
        if step != self.last_step or label != self.last_label:
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last_step, self.last_label = step, label

    def close(self) -> None:
        if self.enabled and self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()


# ----------------------------------------------------------------------------------------
# Local ComfyUI
# ----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_comfy_python(comfyui: Path) -> str:
    env = os.environ.get("COMFY_PYTHON")
    if env:
        return env
    for rel in ("venv/bin/python", ".venv/bin/python", "venv/Scripts/python.exe", ".venv/Scripts/python.exe",
                "../python_embeded/python.exe", "python_embeded/python.exe"):
        cand = comfyui / rel
        if cand.is_file():
            return str(cand)
    return sys.executable


class LocalComfy:
    """``main.py`` of a ComfyUI checkout on a free loopback port, stopped by :meth:`stop`."""

    def __init__(self, path: str, python: str | None = None, extra_args=(), startup_timeout: float = 600,
                 say=print):
        self.path = Path(path).expanduser().resolve()
        if not (self.path / "main.py").is_file():
            raise CliError(f"--comfyui {path}: no main.py there (give the ComfyUI folder)", EXIT_USAGE)
        self.python = python or default_comfy_python(self.path)
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="rv2v-comfyui-", suffix=".log", delete=False)
        self.say = say

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return Path(self.log.name).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self) -> "LocalComfy":
        self.port = free_port()
        cmd = [self.python, "main.py", "--listen", "127.0.0.1", "--port", str(self.port),
               "--disable-auto-launch", *self.extra_args]
        self.say(f"starting ComfyUI: {' '.join(shlex.quote(c) for c in cmd)} (in {self.path}; log {self.log.name})")
        kwargs = {"start_new_session": True} if os.name == "posix" else {}
        self.proc = subprocess.Popen(cmd, cwd=str(self.path), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, **kwargs)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CliError(f"ComfyUI exited with {self.proc.returncode} during startup:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/system_stats", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise CliError(f"ComfyUI did not answer within {self.startup_timeout:.0f}s:\n{self.log_tail()}")

    def remove_log(self) -> None:
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass

    def stop(self, timeout: float = 20) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.terminate()
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait(timeout=timeout)
        except ProcessLookupError:
            pass


# ----------------------------------------------------------------------------------------
# generate
# ----------------------------------------------------------------------------------------

def flag_name(p) -> str:
    return "--" + p.name.replace("_", "-")


def add_param_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("parameters (the preset's names; override --request)")
    for p in params.PARAMS:
        names = [flag_name(p)] + ([f"--{p.name}"] if "_" in p.name else [])
        extra = {}
        if p.kind == "bool":
            extra = {"nargs": "?", "const": "true", "metavar": "true|false"}
        elif p.kind == "enum":
            extra = {"metavar": "|".join(p.choices)}
        elif p.kind == "media":
            extra = {"metavar": "FILE|URL"}
        else:
            extra = {"metavar": {"text": "TEXT", "int": "N", "float": "X"}[p.kind]}
        default = "" if p.default is None else f" (default: {p.default if p.name != 'negative_prompt' else 'the preset default'})"
        group.add_argument(*names, dest=f"param_{p.name}", default=None, help=p.description + default, **extra)


def request_from_args(args) -> dict:
    """The request body: --request JSON, then the flags on top (parsed from strings)."""
    body: dict = {}
    if args.request:
        try:
            raw = sys.stdin.buffer.read() if args.request == "-" else Path(args.request).read_bytes()
        except OSError as exc:
            raise CliError(f"--request {args.request}: {exc}", EXIT_USAGE) from None
        try:  # the API's own decoder: duplicate fields, too-long numbers and deep nesting name the field
            body = api.parse_json_body(raw)
        except api.ApiError as exc:
            raise CliError(f"{exc.detail} (in --request {args.request})", EXIT_USAGE) from None
        if not isinstance(body, dict):
            raise CliError(f"request: must be a JSON object, got {type(body).__name__} (in --request "
                           f"{args.request})", EXIT_USAGE)
    for p in params.PARAMS:
        value = getattr(args, f"param_{p.name}", None)
        if value is None:
            continue
        try:
            body[p.name] = params.coerce(p, value, strict=False)
        except params.ParamError as exc:
            raise CliError(f"{p.name} ({flag_name(p)}): {exc.detail}", EXIT_USAGE) from None
    return body


def validate_request(body: dict) -> "params.Settings":
    try:
        return api.parse_request(body)
    except api.ApiError as exc:
        raise CliError(exc.detail, EXIT_USAGE) from None


def local_media(value: str) -> Path | None:
    """A media value that names an existing local file (uploaded), else None (passed through)."""
    if not value or sources.kind_of(value) != "file":
        return None
    path = Path(value).expanduser()
    try:
        return path if path.is_file() else None
    except OSError:  # e.g. a name longer than the file system allows: not a local file
        return None


def _message(data, fallback: str) -> str:
    if isinstance(data, dict):
        if data.get("node_errors"):
            return api.node_error_message(data["node_errors"])[1]
        err = data.get("error")
        if isinstance(err, dict):
            return f"{err.get('message', '')}: {err.get('details', '')}".strip(": ") or fallback
        if err or data.get("detail"):
            return str(err or data.get("detail"))
    return fallback


class Watcher:
    """Follows one prompt over the websocket (progress) with /history as the source of truth."""

    def __init__(self, client: Client, client_id: str, say):
        self.client = client
        self.client_id = client_id
        self.ws = None
        self.say = say
        ws_base = "ws" + client.base[4:] if client.base.startswith("http") else client.base
        try:
            self.ws = WebSocket(f"{ws_base}/ws?clientId={client_id}", timeout=10)
        except (OSError, EOFError) as exc:
            say(f"(no websocket: {exc}; polling for progress instead)")

    def wait(self, prompt_id: str, prompt: dict, bar: ProgressBar, timeout: float) -> dict:
        total = len(prompt)
        cached: set = set()
        fraction, label = 0.0, "queued"
        deadline = time.monotonic() + timeout if timeout else None
        next_poll = 0.0
        while True:
            now = time.monotonic()
            if deadline and now > deadline:
                raise CliError(f"timed out after {timeout:.0f}s waiting for prompt {prompt_id}")
            if now >= next_poll:
                status, hist = self.client.json("GET", f"/history/{prompt_id}")
                if status == 200 and isinstance(hist, dict) and prompt_id in hist:
                    bar.update(1.0 if api.interpret_history(hist[prompt_id])["status"] == api.SUCCEEDED
                               else fraction, "done")
                    return hist[prompt_id]
                next_poll = now + (2.0 if self.ws else 0.5)
            if self.ws is None:
                time.sleep(0.5)
                continue
            try:
                text = self.ws.recv(0.5)
            except (OSError, EOFError):
                self.ws = None
                continue
            if not text:
                continue
            try:
                msg = json.loads(text)
            except ValueError:
                continue
            kind, data = msg.get("type"), msg.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if kind == "execution_start":
                label = "started"
            elif kind == "execution_cached":
                cached = set(data.get("nodes") or [])
            elif kind == "progress_state":
                nodes = data.get("nodes") or {}
                fraction = max(fraction, api.progress_fraction(nodes, max(1, total - len(cached))))
                running = [n for n, st in nodes.items() if st.get("state") == "running"]
                if running:
                    nid = running[-1]
                    st = nodes[nid]
                    label = prompt.get(nid, {}).get("class_type", nid)
                    if float(st.get("max") or 1) > 1:
                        label += f" {int(st.get('value') or 0)}/{int(st.get('max'))}"
            elif kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                next_poll = 0.0
            elif kind in ("execution_success", "execution_error", "execution_interrupted"):
                next_poll = 0.0
            bar.update(fraction, label)

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


def cmd_generate(args) -> int:
    say = (lambda *a: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    body = request_from_args(args)
    settings = validate_request(body)
    for p in api.media_fields():  # before starting or contacting a server; never upload an empty file
        value = getattr(settings, p.name) or ""
        if value and sources.kind_of(value) == "bad-scheme":
            raise CliError(f"{p.name}: URL scheme {value.split('://', 1)[0]!r} is not allowed; use http(s), a "
                           "data: URI, a local file (uploaded) or a file name in ComfyUI's input folder", EXIT_USAGE)
        path = local_media(value)
        if path is not None and path.stat().st_size == 0:
            raise CliError(f"{p.name}: {str(path)!r} is an empty file (0 bytes)", EXIT_USAGE)
    for note in settings.notes:
        say(f"note: {note}")
    if args.server and args.comfyui:
        raise CliError("give --server or --comfyui, not both", EXIT_USAGE)
    local = None
    if args.comfyui:
        local = LocalComfy(args.comfyui, args.comfy_python, shlex.split(args.comfyui_args or ""),
                           startup_timeout=args.startup_timeout, say=say)
    prompt_id = None
    client = None
    try:
        if local is not None:
            local.start()
        client = Client(local.url if local else (args.server or DEFAULT_SERVER),
                        headers={"Authorization": f"Bearer {args.api_key}"} if args.api_key else None)
        status, info = client.json("GET", f"/object_info/{api.SETTINGS_CLASS}")
        if status != 200 or not isinstance(info, dict) or api.SETTINGS_CLASS not in info:
            raise CliError(f"the ComfyUI at {client.base} does not have this pack's nodes "
                           f"({api.SETTINGS_CLASS} is unknown): install the pack in its custom_nodes folder")
        for p in api.media_fields():
            path = local_media(getattr(settings, p.name) or "")
            if path is not None:
                name = client.upload(path)
                say(f"uploaded {path} as {name!r} ({p.name})")
                setattr(settings, p.name, name)
        seed, source = api.choose_seed(settings)
        if source == "random":
            say(f"seed: {seed} (random)")
        prompt = api.build_prompt(api.load_workflow(), settings, seed)
        client_id = uuid.uuid4().hex
        watcher = Watcher(client, client_id, say)
        try:
            status, answer = client.json("POST", "/prompt", {"prompt": prompt, "client_id": client_id})
            if status == 413:
                raise CliError(f"request: larger than the ComfyUI at {client.base} accepts (HTTP 413: "
                               f"{_message(answer, 'too large')}; its --max-upload-size); give large media as a "
                               "local file (uploaded) or an http(s) URL instead of a data: URI")
            if status != 200 or not isinstance(answer, dict) or "prompt_id" not in answer:
                raise CliError(f"ComfyUI refused the request (HTTP {status}): {_message(answer, 'no details')}")
            prompt_id = answer["prompt_id"]
            say(f"queued prompt {prompt_id}")
            bar = ProgressBar(enabled=not args.quiet)
            try:
                entry = watcher.wait(prompt_id, prompt, bar, args.timeout)
            finally:
                bar.close()
        finally:
            watcher.close()
        outcome = api.interpret_history(entry, api.find_nodes(prompt, api.SAVE_CLASS))
        if outcome["status"] != api.SUCCEEDED:
            raise CliError(f"generation {outcome['status']}: {outcome['error_message']}")
        prompt_id = None
        result = outcome["result"]
        dest = Path(args.output).expanduser() if args.output else Path.cwd()
        if dest.is_dir() or (args.output or "").endswith(("/", os.sep)):
            dest = dest / result["filename"]
        size = client.download(api.view_path(result), dest)
        say(f"saved {dest} ({size} bytes)")
        print(str(dest))
        if local is not None:
            local.keep_log = False
        return EXIT_OK
    except KeyboardInterrupt:
        if client is not None and prompt_id is not None:
            client.json("POST", "/queue", {"delete": [prompt_id]})
            client.json("POST", "/interrupt", {"prompt_id": prompt_id})
            say(f"cancelled prompt {prompt_id}")
        return EXIT_INTERRUPTED
    finally:
        if local is not None:
            local.stop()
            if getattr(local, "keep_log", True):
                say(f"stopped ComfyUI (its log: {local.log.name})")
            else:
                local.remove_log()
                say("stopped ComfyUI")


# ----------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------

def model_status(args) -> list[dict]:
    needed = api.required_models(api.load_workflow())
    available: dict[str, set] | None = None
    where = None
    if args.server:
        client = Client(args.server)
        available = {}
        for folder in sorted({m["folder"] for m in needed}):
            status, names = client.json("GET", f"/models/{folder}")
            available[folder] = set(names or []) if status == 200 and isinstance(names, list) else set()
        where = f"the ComfyUI at {client.base}"
    elif args.comfyui or args.models_dir:
        root = Path(args.models_dir or Path(args.comfyui) / "models").expanduser()
        available = {}
        for m in needed:
            folder = root / m["folder"]
            available.setdefault(m["folder"], set())
            if (folder / m["name"]).is_file():
                available[m["folder"]].add(m["name"])
        where = str(root)
    rows = []
    for m in needed:
        row = {**m, "source": api.model_source(m["name"]), "path": f"models/{m['folder']}/{m['name']}"}
        if available is not None:
            row["present"] = m["name"] in available.get(m["folder"], set())
            row["checked_in"] = where
        rows.append(row)
    return rows


def cmd_models(args) -> int:
    rows = model_status(args)
    required = [r for r in rows if not r["optional"]]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            state = "" if "present" not in r else ("  ok       " if r["present"] else "  MISSING  ")
            print(f"{state}{r['path']}" + (f"   (optional: only for {r['needed_for']})" if r["optional"] else ""))
            print(f"             used by {r['class_type']} (node {r['node']}); from {r['source']}")
        if "present" in rows[0]:
            missing = [r for r in required if not r["present"]]
            optional_missing = [r for r in rows if r["optional"] and not r["present"]]
            print(f"\n{len(missing)} of {len(required)} required files missing in {rows[0]['checked_in']}"
                  + (f"; {len(optional_missing)} optional files missing" if optional_missing else ""))
        else:
            print("\n(give --comfyui PATH, --models-dir DIR or --server URL to check which are missing)")
    return EXIT_FAILED if any(r.get("present") is False for r in required) else EXIT_OK


# ----------------------------------------------------------------------------------------
# control
# ----------------------------------------------------------------------------------------

DOWNLOAD_HINT = "pass --download-missing"


def control_models(control_type: str, *, models_dir=None, depth_model: str = "video_depth_anything_vits.pth",
                   bbox_detector: str = "yolox_l.onnx", pose_estimator: str = "dw-ll_ucoco_384_bs5.torchscript.pt",
                   composite_mode: str = "all", download_missing: bool = False, progress=None) -> dict:
    """Paths of the model files a control type needs ({"depth": path, "pose": (det, est)}), resolved like
    the nodes do (models/rv2v_depth + models/videodepthanything, models/rv2v_pose; ONNX choices map to the
    TorchScript files); a missing file names the file, the folders searched and the download URL."""
    cv, weights, composite, backends = (_pure(n) for n in ("control_video", "weights", "composite",
                                                           "pose.backends"))
    try:
        use_depth, _canny, use_pose = (composite.layers_for_mode(composite_mode) if control_type == "composite"
                                       else (control_type == "depth", False, control_type == "pose"))
        names = []
        if use_depth:
            names.append(("depth", weights.DEPTH_FOLDER, depth_model))
        if use_pose:
            names += [("detector", weights.POSE_FOLDER, backends.resolve_model_name(bbox_detector)),
                      ("estimator", weights.POSE_FOLDER, backends.resolve_model_name(pose_estimator))]
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if names and models_dir is None and not all(Path(n).expanduser().is_file() for _, _, n in names):
        raise CliError(f"control_type {control_type!r} needs model files: give --models-dir DIR (ComfyUI's models "
                       "folder) or --comfyui PATH", EXIT_USAGE)
    found, missing = {}, []
    for key, folder, name in names:  # every missing file is reported before any work
        try:
            found[key] = cv.find_model(name, folder, models_dir, download_missing=download_missing,
                                       download_hint=DOWNLOAD_HINT,
                                       progress=(lambda d, t, n=name: progress(d / max(1, t), f"download {n}"))
                                       if progress else None)
        except FileNotFoundError as exc:
            missing.append(str(exc))
        except (OSError, RuntimeError) as exc:  # weights.DownloadError
            raise CliError(str(exc)) from None
    if missing:
        raise CliError("\n".join(missing))
    return found


def make_control(input_video: str, output: str, *, num_frames: int = 121, frames_per_second: float = 24.0,
                 resolution: str = "auto", control_type: str = "canny", video_quality: str = "high",
                 canny_low: int = 92, canny_high: int = 200, canny_resolution: int = 512,
                 downscale_factor: int = 2, progress=None, models_dir=None,
                 depth_model: str = "video_depth_anything_vits.pth", depth_input_size: int = 518,
                 bbox_detector: str = "yolox_l.onnx", pose_estimator: str = "dw-ll_ucoco_384_bs5.torchscript.pt",
                 detect_body: bool = True, detect_hand: bool = True, detect_face: bool = True,
                 composite_mode: str = "all", depth_weight: float = 0.5, edge_weight: float = 1.0,
                 pose_weight: float = 1.0, download_missing: bool = False, device: str = "cpu") -> dict:
    """The control video the workflow would compute (Reference planning + Control nodes), as an MP4.

    Canny, depth, pose or the experimental composite, computed by the pack's own code
    (``pure/control_video.py``): the frames are decoded as uint8 and every stage writes chunk by chunk
    into that buffer, so host memory stays near the uint8 clip (no float32 copy of the clip)."""
    settings = params.validate({"prompt": "control", "input_video": input_video, "num_frames": num_frames,
                                "frames_per_second": frames_per_second, "resolution": resolution,
                                "control_type": control_type, "video_quality": video_quality}, strict=False)
    ctype = settings.control_type
    files = control_models(ctype, models_dir=models_dir, depth_model=depth_model, bbox_detector=bbox_detector,
                           pose_estimator=pose_estimator, composite_mode=composite_mode,
                           download_missing=download_missing, progress=progress)
    import torch

    media, planning, cv, weights = (_pure(n) for n in ("media", "planning", "control_video", "weights"))
    notes = list(settings.notes)
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    depth_net = pose_backend = None
    if "depth" in files:
        note = weights.licence_note(files["depth"])
        if note and weights.entry(files["depth"]).non_commercial:
            notes.append(note)
        try:
            depth_net = cv.load_depth(files["depth"], device=dev)
        except (ValueError, RuntimeError) as exc:
            raise CliError(f"depth model {files['depth']}: {exc}") from None
    if "detector" in files:
        try:
            pose_backend = cv.load_pose(files["detector"], files["estimator"], device=dev)
        except RuntimeError as exc:
            raise CliError(str(exc)) from None
    path = str(Path(input_video).expanduser())
    info = media.probe_video(path, label="input_video")
    width, height = planning.output_size(settings.resolution, info.width, info.height, downscale_factor)
    scale = max(planning.AUTO_FIRST_SHORT / min(info.width, info.height), width / info.width, height / info.height)
    wk, hk = max(width, round(info.width * scale)), max(height, round(info.height * scale))
    n, fps = int(settings.num_frames), float(settings.frames_per_second)
    step = (lambda done, total, what: progress(done / max(1, total), what)) if progress else None
    frames, report = media.decode_video(path, fps_out=fps, num_frames=n, mode="time", size=(wk, hk),
                                        label="input_video", dtype=torch.uint8,
                                        progress=(lambda d, t: step(d, t, "decode")) if step else None)
    control = cv.control_frames(
        frames[:n], ctype, width, height, canny_low=canny_low, canny_high=canny_high,
        canny_resolution=canny_resolution, depth_model=depth_net, depth_input_size=depth_input_size,
        pose_backend=pose_backend, body=detect_body, hands=detect_hand, face=detect_face,
        composite_mode=composite_mode, depth_weight=depth_weight, edge_weight=edge_weight, pose_weight=pose_weight,
        device=dev, in_place=True, progress=step)
    del frames
    control = _pure("imageops").pad_with_last_frame(control, n)
    media.encode_mp4(output, control[:n], fps=fps, audio=None, crf=media.crf_for_quality(settings.video_quality),
                     progress=(lambda d, t: step(d, t, "encode")) if step else None)
    return {"output": str(output), "width": width, "height": height, "frames": n, "fps": fps,
            "control_type": ctype, "files": files, "notes": notes,
            "padded": int(getattr(report, "padded", 0) or 0)}


def cmd_control(args) -> int:
    bar = ProgressBar(enabled=not args.quiet)
    output = args.output or str(Path(args.input_video).with_suffix("")) + "_control.mp4"
    models_dir = args.models_dir or (str(Path(args.comfyui).expanduser() / "models") if args.comfyui else None)
    try:
        info = make_control(args.input_video, output, num_frames=args.num_frames,
                            frames_per_second=args.frames_per_second, resolution=args.resolution,
                            control_type=args.control_type, video_quality=args.video_quality,
                            canny_low=args.canny_low, canny_high=args.canny_high,
                            canny_resolution=args.canny_resolution, downscale_factor=args.downscale_factor,
                            progress=bar.update, models_dir=models_dir, depth_model=args.depth_model,
                            depth_input_size=args.depth_input_size, bbox_detector=args.bbox_detector,
                            pose_estimator=args.pose_estimator, detect_body=not args.no_body,
                            detect_hand=not args.no_hands, detect_face=not args.no_face,
                            composite_mode=args.composite_mode, depth_weight=args.depth_weight,
                            edge_weight=args.edge_weight, pose_weight=args.pose_weight,
                            download_missing=args.download_missing, device=args.device)
    except params.ParamError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except InterruptedError as exc:
        raise CliError(str(exc), EXIT_INTERRUPTED) from None
    except ValueError as exc:  # media errors name the field
        raise CliError(str(exc)) from None
    finally:
        bar.close()
    if not args.quiet:
        for note in info["notes"]:
            print(f"note: {note}", file=sys.stderr)
        for key, path in info["files"].items():
            print(f"{key} model: {path}", file=sys.stderr)
        print(f"{info['control_type']} control video: {info['width']}x{info['height']}, {info['frames']} frames "
              f"@ {info['fps']:g} fps", file=sys.stderr)
    print(info["output"])
    return EXIT_OK


# ----------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python nodes/cli.py",
        description=f"{api.MODEL_NAME} ({params.MODEL_ID}) from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="run the preset on a ComfyUI server and download the MP4",
                       description="Queue the shipped workflow with these parameters on ComfyUI, show progress, "
                                   "download the MP4. Local media files are uploaded; URLs, data: URIs and names "
                                   "of files in ComfyUI's input folder are passed through.")
    g.add_argument("--request", metavar="BODY.json",
                   help="a hosted-API JSON request body ({\"model\": ..., \"prompt\": ..., ...}); '-' reads stdin")
    g.add_argument("--server", help=f"ComfyUI address (default {DEFAULT_SERVER})")
    g.add_argument("--comfyui", metavar="PATH", help="start the ComfyUI in PATH on a free loopback port, stop it after")
    g.add_argument("--comfy-python", metavar="PYTHON",
                   help="Python for --comfyui (default: $COMFY_PYTHON, a venv inside PATH, or this Python)")
    g.add_argument("--comfyui-args", metavar="ARGS", default="",
                   help="more main.py arguments for --comfyui, one string (e.g. \"--cpu --base-directory D\")")
    g.add_argument("--startup-timeout", type=float, default=600, help="seconds to wait for --comfyui to start")
    g.add_argument("--output", "-o", metavar="PATH", help="MP4 file or folder (default: the current folder)")
    g.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (default: never)")
    g.add_argument("--api-key", help="sent as 'Authorization: Bearer <key>' (for servers behind a proxy that wants one)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress output; print only the MP4 path")
    add_param_flags(g)
    g.set_defaults(func=cmd_generate)

    m = sub.add_parser("models", help="list the model files the workflow needs and which are missing")
    m.add_argument("--comfyui", metavar="PATH", help="check PATH/models")
    m.add_argument("--models-dir", metavar="DIR", help="check this models folder")
    m.add_argument("--server", help="check what a running ComfyUI lists (GET /models/<folder>)")
    m.add_argument("--json", action="store_true", help="machine-readable output")
    m.set_defaults(func=cmd_models)

    c = sub.add_parser("control", help="make the control video from a reference video locally (no ComfyUI)")
    c.add_argument("--input-video", "--input_video", required=True, metavar="FILE")
    c.add_argument("--output", "-o", metavar="FILE", help="default: <input>_control.mp4")
    c.add_argument("--num-frames", "--num_frames", type=int, default=121)
    c.add_argument("--frames-per-second", "--frames_per_second", type=float, default=24.0)
    c.add_argument("--resolution", default="auto", choices=params.RESOLUTIONS)
    c.add_argument("--control-type", "--control_type", default="canny", choices=params.CONTROL_TYPES)
    c.add_argument("--video-quality", "--video_quality", default="high", choices=params.VIDEO_QUALITIES)
    c.add_argument("--canny-low", type=int, default=92)
    c.add_argument("--canny-high", type=int, default=200)
    c.add_argument("--canny-resolution", type=int, default=512)
    c.add_argument("--downscale-factor", type=int, default=2,
                   help="the IC-LoRA's reference downscale factor (the Union Control LoRA: 2)")
    c.add_argument("--models-dir", metavar="DIR",
                   help="ComfyUI's models folder: depth weights in DIR/rv2v_depth/ (or DIR/videodepthanything/), "
                        "DWPose files in DIR/rv2v_pose/ (needed for depth, pose and composite)")
    c.add_argument("--comfyui", metavar="PATH", help="use PATH/models as --models-dir")
    c.add_argument("--depth-model", default="video_depth_anything_vits.pth",
                   help="Video Depth Anything file name in the models folder, or a path (default: %(default)s)")
    c.add_argument("--depth-input-size", type=int, default=518, help="shorter side the depth network sees")
    c.add_argument("--bbox-detector", default="yolox_l.onnx",
                   help="DWPose detector (yolox_l.onnx runs as yolox_l.torchscript.pt)")
    c.add_argument("--pose-estimator", default="dw-ll_ucoco_384_bs5.torchscript.pt", help="DWPose pose model")
    c.add_argument("--no-body", action="store_true", help="pose: do not draw the body")
    c.add_argument("--no-hands", action="store_true", help="pose: do not draw the hands")
    c.add_argument("--no-face", action="store_true", help="pose: do not draw the face")
    c.add_argument("--composite-mode", default="all", choices=("all", "depth+pose", "canny+pose", "depth+canny"),
                   help="experimental composite: which layers (depth -> edges -> pose)")
    c.add_argument("--depth-weight", type=float, default=0.5)
    c.add_argument("--edge-weight", type=float, default=1.0)
    c.add_argument("--pose-weight", type=float, default=1.0)
    c.add_argument("--download-missing", action="store_true",
                   help="download a missing depth/pose model file from Hugging Face into the models folder")
    c.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    c.add_argument("--quiet", "-q", action="store_true")
    c.set_defaults(func=cmd_control)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. piped into head
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
