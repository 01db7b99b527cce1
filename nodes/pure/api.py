"""The hosted-compatible HTTP API, minus the web server (pure; standard library only).

Everything here is plain data in, plain data out, so it is unit-tested without
ComfyUI; ``nodes/glue/routes.py`` wires it to ComfyUI's aiohttp server and
``nodes/cli.py`` reuses it on the client side.

* request parsing and validation (:func:`parse_request`): the model id, then the
  parameter table's own :func:`params.validate` (field names, types, ranges,
  combinations), then the pack's availability rules (``control_type``);
* prompt building (:func:`build_prompt`): the shipped API workflow with the Settings
  node's inputs set from the validated request, so the API and the UI run one graph;
* the model object (:func:`model_object`) with the JSON request schema generated
  from the parameter table;
* reading ComfyUI's history entries (:func:`interpret_history`) and progress
  (:func:`progress_fraction`);
* server-sent events formatting (:func:`sse_event`);
* the generation record store (:class:`RecordStore`): one JSON file per generation,
  written atomically, with restart recovery;
* the optional API key (:func:`load_api_key`, :func:`check_authorization`).
"""
from __future__ import annotations

import copy
import hmac
import json
import time
import os
import re
import tempfile
import urllib.parse
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import params

PACK_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_PATH = PACK_ROOT / "workflows" / "api" / "ltx23_reference_video_to_video.json"
SETTINGS_CLASS = "RV2V_Settings"
SAVE_CLASS = "RV2V_SaveMP4"
MODEL_NAME = "LTX 2.3 Quality: Reference Video to Video"

# Generation statuses (the hosted API's names).
QUEUED, PROCESSING, SUCCEEDED, FAILED, CANCELLED = "queued", "processing", "succeeded", "failed", "cancelled"
STATUSES = (QUEUED, PROCESSING, SUCCEEDED, FAILED, CANCELLED)
ACTIVE = (QUEUED, PROCESSING)
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)

COMPLETED_EVENT = "media_generation_completed"
PROGRESS_EVENT = "media_generation_progress"

RESTART_RUNNING = ("ComfyUI restarted while this generation was running; it did not finish. "
                   "Queue it again.")
RESTART_QUEUED = ("ComfyUI restarted before this generation started (ComfyUI's queue does not survive a "
                  "restart); it never ran. Queue it again.")

API_KEY_ENV = "RV2V_API_KEY"
API_KEY_FILE = "rv2v_api.json"

RECORD_VERSION = 1
_ID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class ApiError(Exception):
    """An HTTP error answer: ``status`` (4xx/5xx), ``detail`` (the message), ``field`` (or None)."""

    def __init__(self, status: int, detail: str, field: str | None = None):
        super().__init__(detail)
        self.status = int(status)
        self.detail = detail
        self.field = field

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"detail": self.detail}
        if self.field is not None:
            out["field"] = self.field
        return out


# ----------------------------------------------------------------------------------------
# Requests
# ----------------------------------------------------------------------------------------

def parse_json_body(raw: bytes | str) -> Any:
    """Decode a JSON request body; 400 naming ``request`` when it is not JSON."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "request: the body is not UTF-8 text", "request") from None
    if not raw.strip():
        raise ApiError(400, "request: the body is empty; send a JSON object with the model's parameters",
                       "request")
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicate_keys, parse_int=_parse_int)
    except _DuplicateKey as dup:
        raise ApiError(400, f"{dup.key}: is given more than once in the request body; give each field once",
                       dup.key) from None
    except RecursionError:
        raise ApiError(400, "request: the body nests too deeply to be a request", "request") from None
    except ValueError as exc:
        raise ApiError(400, f"request: the body is not valid JSON ({exc})", "request") from None


#: Integers longer than this are not converted (Python refuses above 4300 digits); validation
#: then refuses them naming the field (see params.TooLongNumber).
MAX_INT_DIGITS = 1000


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key if len(key) <= 100 else key[:100] + "..."


def _no_duplicate_keys(pairs: list) -> dict:
    """JSON objects with a key given twice are refused (json.loads would keep the last silently)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _parse_int(text: str):
    digits = len(text.lstrip("-"))
    return int(text) if digits <= MAX_INT_DIGITS else params.TooLongNumber(digits)


def check_model(model: Any) -> None:
    """The ``model`` field: absent means this pack's model; another id is a 404."""
    if model is None:
        return
    if not isinstance(model, str):
        raise ApiError(400, f"model: must be a string (the model id {params.MODEL_ID!r}), "
                            f"got {type(model).__name__}", "model")
    if model != params.MODEL_ID:
        raise ApiError(404, f"model: unknown model id {model!r}; this server provides {params.MODEL_ID!r}",
                       "model")


def parse_request(body: Any, *, available_control_types: Iterable[str] | None = None) -> params.Settings:
    """Validate a hosted-API request body -> ``params.Settings``.

    Raises :class:`ApiError`: 404 for an unknown model id, 400 naming the field for
    unknown fields, wrong types, out-of-range values, missing required fields and
    invalid combinations.
    """
    if not isinstance(body, Mapping):
        raise ApiError(400, f"request: must be a JSON object, got {type(body).__name__}", "request")
    check_model(body.get("model"))
    try:
        settings = params.validate(body, strict=True, allow_unknown=("model",))
    except params.ParamError as exc:
        raise ApiError(400, str(exc), exc.field) from None
    if available_control_types is not None:
        available = tuple(available_control_types)
        if settings.control_type not in available and not settings.use_control_video:
            raise ApiError(400, f"control_type: {settings.control_type!r} is not available in this version; use "
                                + " or ".join(repr(c) for c in available)
                                + " or give a precomputed control video with skip_control_preprocess",
                           "control_type")
    return settings


def choose_seed(settings: params.Settings, rng=None) -> tuple[int, str]:
    """(seed, source): the request's seed, or a random one (``source`` "random")."""
    if settings.seed is not None:
        return int(settings.seed), "request"
    import random

    rng = rng or random.SystemRandom()
    return int(rng.randrange(0, 2 ** 53)), "random"


def media_fields() -> tuple[params.Param, ...]:
    return tuple(p for p in params.PARAMS if p.kind == "media")


def summarize_value(value: Any, limit: int = 200) -> Any:
    """Long strings (data: URIs above all) shortened for storage in records."""
    if isinstance(value, str):
        if value[:5].lower() == "data:":
            header = value.split(",", 1)[0]
            return f"{header},<{max(0, len(value) - len(header) - 1)} base64 characters>"
        if len(value) > 4 * limit and not value.startswith(("http://", "https://")):
            return value[: 4 * limit] + f"...<{len(value) - 4 * limit} more characters>"
    return value


def summarize_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request as stored in a record: media data: URIs replaced by their size."""
    return {k: (summarize_value(v) if k in params.BY_NAME and params.BY_NAME[k].kind == "media" else v)
            for k, v in body.items()}


# ----------------------------------------------------------------------------------------
# Workflow
# ----------------------------------------------------------------------------------------

def load_workflow(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The shipped API-format workflow (a fresh copy every call)."""
    with open(path or WORKFLOW_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def find_nodes(workflow: Mapping[str, Any], class_type: str) -> list[str]:
    """Ids of the nodes of one class, in id order."""
    ids = [nid for nid, node in workflow.items() if isinstance(node, Mapping) and node.get("class_type") == class_type]
    return sorted(ids, key=lambda s: (len(s), s))


def settings_node_id(workflow: Mapping[str, Any]) -> str:
    ids = find_nodes(workflow, SETTINGS_CLASS)
    if len(ids) != 1:
        raise ValueError(f"the workflow must have exactly one {SETTINGS_CLASS} node, found {len(ids)}")
    return ids[0]


def settings_inputs(settings: params.Settings, seed: int) -> dict[str, Any]:
    """The Settings node's widget values for a validated request."""
    out: dict[str, Any] = {}
    for p in params.PARAMS:
        value = getattr(settings, p.name)
        if p.kind == "media":
            value = value or ""
        elif p.name == "seed":
            value = int(seed)
        elif p.name == "num_frames":
            value = int(settings.requested_num_frames)  # the node rounds it again and reports it
        out[p.name] = value
    return out


def build_prompt(workflow: Mapping[str, Any], settings: params.Settings, seed: int) -> dict[str, Any]:
    """The API workflow with the Settings node's inputs replaced (links and other nodes untouched)."""
    prompt = copy.deepcopy(dict(workflow))
    nid = settings_node_id(prompt)
    inputs = prompt[nid].setdefault("inputs", {})
    inputs.update(settings_inputs(settings, seed))
    return prompt


#: Inputs naming model files every run loads: input name -> ComfyUI model folder.
MODEL_INPUTS = {"ckpt_name": "checkpoints", "lora_name": "loras", "text_encoder": "text_encoders",
                "vae_name": "vae", "clip_name": "text_encoders", "unet_name": "diffusion_models"}
#: Inputs naming preprocessor weights needed only for some control types:
#: input name -> (folder, when it is needed).
OPTIONAL_MODEL_INPUTS = {
    "depth_model": ("rv2v_depth", "control_type depth or composite"),
    "bbox_detector": ("rv2v_pose", "control_type pose or composite"),
    "pose_estimator": ("rv2v_pose", "control_type pose or composite"),
}


def required_models(workflow: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Model files the workflow names: [{folder, name, node, class_type, input, optional, needed_for}]
    (unique by folder/name). ``optional`` files are only loaded for some control types."""
    seen: set[tuple[str, str]] = set()
    out = []
    for nid in sorted(workflow, key=lambda s: (len(s), s)):
        node = workflow[nid]
        if not isinstance(node, Mapping):
            continue
        for key, value in (node.get("inputs") or {}).items():
            if not isinstance(value, str) or not value:
                continue
            if key in MODEL_INPUTS:
                folder, optional, needed_for = MODEL_INPUTS[key], False, None
            elif key in OPTIONAL_MODEL_INPUTS:
                (folder, needed_for), optional = OPTIONAL_MODEL_INPUTS[key], True
            else:
                continue
            if (folder, value) not in seen:
                seen.add((folder, value))
                out.append({"folder": folder, "name": value, "node": nid, "class_type": node.get("class_type", ""),
                            "input": key, "optional": optional, "needed_for": needed_for})
    return out


def model_source(name: str) -> str:
    """Where a model file comes from (for ``cli.py models``)."""
    if name in MODEL_SOURCES:
        return MODEL_SOURCES[name]
    try:
        from . import weights
    except ImportError:
        weights = None
    entry = getattr(weights, "MANIFEST", {}).get(name) if weights is not None else None
    if entry is not None:
        return f"Hugging Face {entry.repo} ({entry.licence}); the Control node's download_missing fetches it"
    return "the README (Model files)"


def node_error_message(node_errors: Mapping[str, Any], prompt: Mapping[str, Any] | None = None) -> tuple[str | None, str]:
    """(field, message) from ComfyUI's ``node_errors`` of a rejected prompt.

    The Settings node's validation messages start with the field name
    (``"input_video: ..."``); ComfyUI wraps them as ``"<input> - <message>"``.
    """
    for nid, info in (node_errors or {}).items():
        for err in (info or {}).get("errors") or []:
            details = str(err.get("details") or "")
            message = str(err.get("message") or "invalid input")
            class_type = (info or {}).get("class_type") or ((prompt or {}).get(nid) or {}).get("class_type", "?")
            if err.get("type") == "custom_validation_failed" and " - " in details:
                text = details.split(" - ", 1)[1]
                field = text.split(":", 1)[0].strip() if ":" in text else None
                if field not in params.BY_NAME:
                    field = None
                return field, text
            return None, f"{class_type} (node {nid}): {message}: {details}".rstrip(": ")
    return None, "ComfyUI rejected the workflow"


#: Where the workflow's model files come from (for ``cli.py models`` and the docs).
MODEL_SOURCES = {
    "ltx-2.3-22b-dev.safetensors":
        "Hugging Face Lightricks/LTX-2.3 (an fp8 variant is in Lightricks/LTX-2.3-fp8)",
    "ltx-2.3-22b-distilled-lora-384-1.1.safetensors": "Hugging Face Lightricks/LTX-2.3",
    "ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors":
        "Hugging Face Lightricks/LTX-2.3-22b-IC-LoRA-Union-Control",
    "gemma_3_12B_it.safetensors": "Hugging Face Comfy-Org/ltx-2, split_files/text_encoders/",
}


# ----------------------------------------------------------------------------------------
# Model object
# ----------------------------------------------------------------------------------------

def model_object() -> dict[str, Any]:
    """The model object of ``GET /api/ai/models/<id>``."""
    return {
        "id": params.MODEL_ID,
        "object": "model",
        "name": MODEL_NAME,
        "type": "video",
        "task": "reference-video-to-video",
        "description": (
            "LTX-2.3 22B with the Union Control IC-LoRA, running in this ComfyUI: a reference video supplies "
            "motion and structure (canny control, or a precomputed control video), a prompt says what to "
            "make, an optional image anchors the first frame; returns an MP4 with generated audio."
        ),
        "provider": "local ComfyUI (comfyui-ltx23-reference-v2v)",
        "endpoints": {
            "sync": "POST /api/ai/videos/generate",
            "queue": "POST /api/ai/queue",
            "status": "GET /api/ai/queue/{generation_id}",
            "cancel": "DELETE /api/ai/queue/{generation_id}",
            "events": "GET /api/events",
        },
        "json_request_schema": params.json_request_schema(),
    }


# ----------------------------------------------------------------------------------------
# ComfyUI history and progress
# ----------------------------------------------------------------------------------------

def _node_sort_key(nid: str):
    return (len(nid), nid)


def find_video(outputs: Mapping[str, Any], prefer: Iterable[str] = ()) -> dict[str, str] | None:
    """The first MP4 in a history entry's ``outputs`` ({filename, subfolder, type}); nodes in
    ``prefer`` (the save nodes) first."""
    prefer = [str(p) for p in prefer]
    order = prefer + sorted((n for n in outputs if n not in prefer), key=_node_sort_key)
    for nid in order:
        ui = outputs.get(nid)
        if not isinstance(ui, Mapping):
            continue
        for key in ("images", "videos", "gifs"):
            for item in ui.get(key) or []:
                if isinstance(item, Mapping) and str(item.get("filename", "")).lower().endswith(".mp4"):
                    return {"filename": str(item["filename"]), "subfolder": str(item.get("subfolder") or ""),
                            "type": str(item.get("type") or "output")}
    return None


def interpret_history(entry: Mapping[str, Any], save_nodes: Iterable[str] = ()) -> dict[str, Any]:
    """A finished prompt's history entry -> {status, result, error_message}."""
    status = entry.get("status") or {}
    messages = status.get("messages") or []
    events = {}
    for message in messages:
        if isinstance(message, (list, tuple)) and len(message) == 2:
            events.setdefault(message[0], message[1] if isinstance(message[1], Mapping) else {})
    if "execution_interrupted" in events:
        data = events["execution_interrupted"]
        where = f" in {data.get('node_type')} (node {data.get('node_id')})" if data.get("node_id") else ""
        return {"status": CANCELLED, "result": None, "error_message": f"interrupted{where}"}
    if "execution_error" in events or status.get("status_str") == "error":
        data = events.get("execution_error") or {}
        msg = str(data.get("exception_message") or "ComfyUI reported an error without details").strip()
        if data.get("node_id") is not None:
            msg += f" (in {data.get('node_type')}, node {data.get('node_id')})"
        return {"status": FAILED, "result": None, "error_message": msg}
    video = find_video(entry.get("outputs") or {}, save_nodes)
    if video is None:
        return {"status": FAILED, "result": None,
                "error_message": "the workflow finished without writing an MP4"}
    return {"status": SUCCEEDED, "result": video, "error_message": None}


def progress_fraction(nodes: Mapping[str, Mapping[str, Any]], total_nodes: int) -> float:
    """Overall progress in [0, 1] from ComfyUI's per-node progress states.

    ``nodes``: {node_id: {"state": "pending"|"running"|"finished"|"error", "value", "max"}};
    ``total_nodes``: nodes in the prompt. Finished nodes count 1, running nodes value/max.
    """
    if total_nodes <= 0:
        return 0.0
    done = 0.0
    for st in nodes.values():
        state = str(st.get("state", ""))
        state = state.split(".")[-1].lower()  # tolerate enum reprs ("NodeState.Finished")
        if state == "finished":
            done += 1.0
        elif state == "running":
            try:
                mx = float(st.get("max") or 0)
                done += min(1.0, max(0.0, float(st.get("value") or 0) / mx)) if mx > 0 else 0.0
            except (TypeError, ValueError):
                pass
    return round(min(1.0, max(0.0, done / float(total_nodes))), 4)


def view_path(result: Mapping[str, str]) -> str:
    """The server-relative download path of a result (ComfyUI's ``/view``)."""
    query = urllib.parse.urlencode({"filename": result["filename"], "subfolder": result.get("subfolder", ""),
                                    "type": result.get("type", "output")})
    return f"/view?{query}"


# ----------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------

def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_last_ns = 0


def creation_stamp() -> int:
    """Strictly increasing wall-clock nanoseconds (orders records created within one millisecond)."""
    global _last_ns
    _last_ns = max(time.time_ns(), _last_ns + 1)
    return _last_ns


def new_generation_id() -> str:
    return str(uuid.uuid4())


def valid_generation_id(gid: Any) -> bool:
    return isinstance(gid, str) and bool(_ID_RE.match(gid))


def new_record(gid: str, body: Mapping[str, Any], settings: params.Settings, seed: int, seed_source: str,
               mode: str, node_count: int, save_nodes: Iterable[str] = ()) -> dict[str, Any]:
    now = utc_now()
    notes = list(settings.notes)
    if seed_source == "random":
        notes.append(f"seed: none given; using {seed}")
    return {
        "version": RECORD_VERSION,
        "generation_id": gid,
        "prompt_id": gid,
        "model": params.MODEL_ID,
        "mode": mode,
        "status": QUEUED,
        "request": summarize_request(body),
        "seed": int(seed),
        "seed_source": seed_source,
        "num_frames": settings.num_frames,
        "notes": notes,
        "created_at": now,
        "created_ns": creation_stamp(),
        "updated_at": now,
        "started_at": None,
        "finished_at": None,
        "progress": 0.0,
        "node_count": int(node_count),
        "save_nodes": list(save_nodes),
        "result": None,
        "error_message": None,
        "cancel_requested": False,
    }


def transition(record: dict[str, Any], status: str, **fields: Any) -> bool:
    """Set a record's status (and fields); timestamps follow. Returns True if anything changed.

    Terminal records never change status again.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    if record.get("status") in TERMINAL and status != record.get("status"):
        return False
    changed = record.get("status") != status
    for key, value in fields.items():
        if record.get(key) != value:
            record[key] = value
            changed = True
    if not changed:
        return False
    now = utc_now()
    record["status"] = status
    record["updated_at"] = now
    if status == PROCESSING and not record.get("started_at"):
        record["started_at"] = now
    if status in TERMINAL and not record.get("finished_at"):
        record["finished_at"] = now
        if status == SUCCEEDED:
            record["progress"] = 1.0
    return True


def public_view(record: Mapping[str, Any], base_url: str = "") -> dict[str, Any]:
    """What the API answers for a generation. ``result_url`` is absolute when ``base_url`` is given."""
    out: dict[str, Any] = {
        "generation_id": record["generation_id"],
        "model": record.get("model", params.MODEL_ID),
        "status": record["status"],
        "created_at": record.get("created_at"),
        "started_at": record.get("started_at"),
        "finished_at": record.get("finished_at"),
        "updated_at": record.get("updated_at"),
        "seed": record.get("seed"),
        "notes": list(record.get("notes") or []),
        "request": record.get("request"),
    }
    if record["status"] in (PROCESSING, SUCCEEDED) or record.get("progress"):
        out["progress"] = float(record.get("progress") or 0.0)
    if record.get("progress_detail") and record["status"] == PROCESSING:
        out["progress_detail"] = record["progress_detail"]
    if record["status"] == QUEUED and record.get("queue_position") is not None:
        out["queue_position"] = record["queue_position"]
    if record["status"] == SUCCEEDED and record.get("result"):
        result = dict(record["result"])
        url = base_url.rstrip("/") + view_path(result)
        out["result_url"] = url
        out["result"] = {"url": url, "content_type": "video/mp4", **result}
    if record["status"] in (FAILED, CANCELLED):
        out["error_message"] = record.get("error_message") or record["status"]
    return out


class RecordStore:
    """Generation records as JSON files ``<root>/<generation_id>.json``.

    Every write goes to a temporary file in the same folder, is flushed and fsynced,
    and replaces the record with ``os.replace`` (atomic on POSIX and Windows), so a
    crash leaves either the old or the new record, never half of one. Leftover
    temporary files are removed on open.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        for stray in self.root.glob(".tmp-*"):
            try:
                stray.unlink()
            except OSError:
                pass

    def path(self, gid: str) -> Path:
        if not valid_generation_id(gid):
            raise ValueError(f"not a generation id: {gid!r}")
        return self.root / f"{gid}.json"

    def save(self, record: Mapping[str, Any]) -> None:
        dest = self.path(record["generation_id"])
        data = json.dumps(record, indent=1, sort_keys=True).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _fsync_dir(self.root)

    def load(self, gid: str) -> dict[str, Any] | None:
        try:
            path = self.path(gid)
        except ValueError:
            return None
        try:
            with open(path, encoding="utf-8") as fh:
                record = json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("generation_id") == gid else None

    def load_all(self) -> list[dict[str, Any]]:
        """Every readable record, oldest first (unreadable files are skipped)."""
        out = []
        for path in self.root.glob("*.json"):
            if path.name.startswith("."):
                continue
            record = self.load(path.stem)
            if record is not None:
                out.append(record)
        out.sort(key=lambda r: (str(r.get("created_at") or ""), int(r.get("created_ns") or 0), r["generation_id"]))
        return out

    def recover(self, known_active: Iterable[str] = ()) -> list[dict[str, Any]]:
        """After a (re)start: records left queued or processing that ComfyUI's queue does not
        know become failed with a message saying why. Returns the changed records."""
        known = set(known_active)
        changed = []
        for record in self.load_all():
            if record.get("status") not in ACTIVE or record["generation_id"] in known:
                continue
            message = RESTART_RUNNING if record["status"] == PROCESSING else RESTART_QUEUED
            transition(record, FAILED, error_message=message)
            self.save(record)
            changed.append(record)
        return changed


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------
# Server-sent events
# ----------------------------------------------------------------------------------------

def sse_event(event: str | None, data: Any, event_id: int | str | None = None) -> bytes:
    """One server-sent event: ``event:`` line, then ``data:`` line(s), then ``id:``.

    ``data`` that is not a string is compact JSON (one line). The event line comes
    first so clients that read "the data line after the event line" work.
    """
    lines = []
    if event is not None:
        if not event or any(c in event for c in "\r\n:"):
            raise ValueError(f"bad event name {event!r}")
        lines.append(f"event: {event}")
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    for line in payload.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        lines.append(f"data: {line}")
    if event_id is not None:
        sid = str(event_id)
        if any(c in sid for c in "\r\n\x00"):
            raise ValueError(f"bad event id {sid!r}")
        lines.append(f"id: {sid}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def sse_comment(text: str = "") -> bytes:
    """A comment line (keep-alive); ignored by SSE clients."""
    return ("".join(f": {line}\n" for line in (text or "").split("\n")) + "\n").encode("utf-8")


def parse_sse(stream: Iterable[str]) -> Iterable[dict[str, Any]]:
    """Parse SSE text lines into {event, data, id} dicts (used by the CLI and the tests)."""
    event: dict[str, Any] = {}
    data: list[str] = []
    for raw in stream:
        line = raw.rstrip("\r\n")
        if line == "":
            if data or event:
                event["data"] = "\n".join(data)
                event.setdefault("event", "message")
                yield event
            event, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name in ("event", "id", "retry"):
            event[name] = value


# ----------------------------------------------------------------------------------------
# Authorization
# ----------------------------------------------------------------------------------------

class AuthConfigError(ValueError):
    """The key file exists but cannot be used (the server then refuses every request)."""


def load_api_key(environ: Mapping[str, str], config_path: str | os.PathLike | None) -> str | None:
    """The operator's API key: ``RV2V_API_KEY``, else ``{"api_key": "..."}`` in the config file.

    None means no key is configured (Authorization is accepted but not required).
    """
    key = (environ.get(API_KEY_ENV) or "").strip()
    if key:
        return key
    if not config_path:
        return None
    try:
        with open(config_path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise AuthConfigError(f"{config_path}: cannot read the API key file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("api_key"), str):
        raise AuthConfigError(f"{config_path}: expected {{\"api_key\": \"...\"}}")
    return data["api_key"].strip() or None


def check_authorization(header: str | None, key: str | None) -> None:
    """401 unless ``Authorization: Bearer <key>`` matches (only when a key is configured)."""
    if key is None:
        return
    if not header:
        raise ApiError(401, "authorization: this server requires 'Authorization: Bearer <key>'", "authorization")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "authorization: expected 'Authorization: Bearer <key>'", "authorization")
    if not hmac.compare_digest(token.strip().encode("utf-8"), key.encode("utf-8")):
        raise ApiError(401, "authorization: the API key is not valid", "authorization")
