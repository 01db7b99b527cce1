"""``generate``: run the shipped workflow on a ComfyUI server and download the MP4.

It uses ComfyUI's native API in four steps, one function each:

* :func:`prepare`: the request body from ``--request`` and the flags, validated like the
  hosted API does (``nodes/pure/api.py``); local media files found and checked (never
  upload an empty file), all before starting or contacting a server;
* :func:`submit`: upload the local media (``/upload/image``), queue the shipped API
  workflow with the parameters applied (``/prompt``);
* :func:`wait`: a progress bar from ComfyUI's websocket (``/ws``), ``/history`` as the
  source of truth (polled when there is no websocket);
* :func:`fetch`: download the MP4 (``/view``).

:func:`cmd_generate` runs them, inside a local ComfyUI with ``--comfyui PATH``
(``local_comfy.py``), and cancels the queued prompt on Ctrl-C.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import uuid
from pathlib import Path

from ..pure import api, params, sources
from .client import DEFAULT_SERVER, Client
from .errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CliError
from .local_comfy import LocalComfy
from .progress import ProgressBar
from .websocket import WebSocket


# ----------------------------------------------------------------------------------------
# prepare
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


def check_media(settings: "params.Settings") -> None:
    """Refuse a disallowed URL scheme and an empty local file, before any server is contacted."""
    for p in api.media_fields():
        value = getattr(settings, p.name) or ""
        if value and sources.kind_of(value) == "bad-scheme":
            raise CliError(str(sources.bad_scheme(p.name, value, allowed=(
                "http(s), a data: URI, a local file (uploaded) or a file name in ComfyUI's input folder"))), EXIT_USAGE)
        path = local_media(value)
        if path is not None and path.stat().st_size == 0:
            raise CliError(f"{p.name}: {str(path)!r} is an empty file (0 bytes)", EXIT_USAGE)


def prepare(args, say) -> "params.Settings":
    """Step 1: the validated settings of this run (exit 2 on a bad value, naming the field)."""
    settings = validate_request(request_from_args(args))
    check_media(settings)
    for note in settings.notes:
        say(f"note: {note}")
    return settings


# ----------------------------------------------------------------------------------------
# submit
# ----------------------------------------------------------------------------------------

def connect(base: str, api_key: str | None = None) -> Client:
    """A client for the ComfyUI at ``base``, checked to have this pack's nodes."""
    client = Client(base, headers={"Authorization": f"Bearer {api_key}"} if api_key else None)
    status, info = client.json("GET", f"/object_info/{api.SETTINGS_CLASS}")
    if status != 200 or not isinstance(info, dict) or api.SETTINGS_CLASS not in info:
        raise CliError(f"the ComfyUI at {client.base} does not have this pack's nodes "
                       f"({api.SETTINGS_CLASS} is unknown): install the pack in its custom_nodes folder")
    return client


class Job:
    """One run on one server: ``prompt_id`` is set as soon as ComfyUI accepted the prompt and
    cleared once it finished (a Ctrl-C in between cancels it, :func:`cancel`)."""

    def __init__(self, client: Client):
        self.client = client
        self.prompt: dict = {}
        self.prompt_id: str | None = None


def upload_media(client: Client, settings: "params.Settings", say) -> None:
    """Upload every local media file and put its ComfyUI input name into ``settings``."""
    for p in api.media_fields():
        path = local_media(getattr(settings, p.name) or "")
        if path is not None:
            name = client.upload(path)
            say(f"uploaded {path} as {name!r} ({p.name})")
            setattr(settings, p.name, name)


def _message(data, fallback: str) -> str:
    """The server's reason in an error answer (node errors name the field)."""
    if isinstance(data, dict):
        if data.get("node_errors"):
            return api.node_error_message(data["node_errors"])[1]
        err = data.get("error")
        if isinstance(err, dict):
            return f"{err.get('message', '')}: {err.get('details', '')}".strip(": ") or fallback
        if err or data.get("detail"):
            return str(err or data.get("detail"))
    return fallback


def submit(job: Job, settings: "params.Settings", say) -> "Watcher":
    """Step 2: upload, build the prompt, queue it. Returns the :class:`Watcher`, connected before
    queueing so that no progress message is missed (the caller closes it)."""
    client = job.client
    upload_media(client, settings, say)
    seed, source = api.choose_seed(settings)
    if source == "random":
        say(f"seed: {seed} (random)")
    job.prompt = prompt = api.build_prompt(api.load_workflow(), settings, seed)
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
        job.prompt_id = answer["prompt_id"]
        say(f"queued prompt {job.prompt_id}")
    except BaseException:
        watcher.close()
        raise
    return watcher


def cancel(job: Job, say) -> None:
    """Remove the queued prompt, or interrupt it when it is running."""
    job.client.json("POST", "/queue", {"delete": [job.prompt_id]})
    job.client.json("POST", "/interrupt", {"prompt_id": job.prompt_id})
    say(f"cancelled prompt {job.prompt_id}")


# ----------------------------------------------------------------------------------------
# wait
# ----------------------------------------------------------------------------------------

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



def wait(job: Job, watcher: Watcher, *, quiet: bool = False, timeout: float = 0) -> dict:
    """Step 3: follow the prompt to its end with a progress bar; the output of the Save node
    (``filename``, ``subfolder``, ``type``), or the server's error message as a :class:`CliError`."""
    bar = ProgressBar(enabled=not quiet)
    try:
        entry = watcher.wait(job.prompt_id, job.prompt, bar, timeout)
    finally:
        bar.close()
    outcome = api.interpret_history(entry, api.find_nodes(job.prompt, api.SAVE_CLASS))
    if outcome["status"] != api.SUCCEEDED:
        raise CliError(f"generation {outcome['status']}: {outcome['error_message']}")
    return outcome["result"]


# ----------------------------------------------------------------------------------------
# fetch
# ----------------------------------------------------------------------------------------

def fetch(client: Client, result: dict, output: str | None, say) -> Path:
    """Step 4: download the MP4 to ``output`` (a file, or a folder: the server's file name in it;
    default: the current folder)."""
    dest = Path(output).expanduser() if output else Path.cwd()
    if dest.is_dir() or (output or "").endswith(("/", os.sep)):
        dest = dest / result["filename"]
    size = client.download(api.view_path(result), dest)
    say(f"saved {dest} ({size} bytes)")
    return dest


# ----------------------------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------------------------

def cmd_generate(args) -> int:
    say = (lambda *a: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    settings = prepare(args, say)
    if args.server and args.comfyui:
        raise CliError("give --server or --comfyui, not both", EXIT_USAGE)
    local = None
    if args.comfyui:
        local = LocalComfy(args.comfyui, args.comfy_python, shlex.split(args.comfyui_args or ""),
                           startup_timeout=args.startup_timeout, say=say)
    job = None
    try:
        if local is not None:
            local.start()
        job = Job(connect(local.url if local else (args.server or DEFAULT_SERVER), args.api_key))
        watcher = submit(job, settings, say)
        try:
            result = wait(job, watcher, quiet=args.quiet, timeout=args.timeout)
        finally:
            watcher.close()
        job.prompt_id = None  # finished: nothing left to cancel while downloading
        print(str(fetch(job.client, result, args.output, say)))
        if local is not None:
            local.keep_log = False
        return EXIT_OK
    except KeyboardInterrupt:
        if job is not None and job.prompt_id is not None:
            cancel(job, say)
        return EXIT_INTERRUPTED
    finally:
        if local is not None:
            local.close()
