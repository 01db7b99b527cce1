"""Generation records: creation, the public view, the file store (pure; standard library only).

One JSON file per generation under ``<ComfyUI user dir>/rv2v/generations`` (the folder
is chosen by ``nodes/glue/routes.py``). How a record's status changes is the status
machine in ``status.py``.
"""
from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import atomic, params
from . import status as machine
from .history import view_path
from .request import summarize_request
from .states import CANCELLED, FAILED, PROCESSING, QUEUED, SUCCEEDED

RECORD_VERSION = 1
_ID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

#: Suffix of the store's temporary files (``.<generation_id>.json.<random>.tmp``, see
#: ``atomic.atomic_path``); ``.tmp-*`` is the name older versions used.
TEMP_SUFFIX = ".tmp"
STRAY_PATTERNS = (".*" + TEMP_SUFFIX, ".tmp-*")

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
    now = machine.utc_now()
    notes = list(settings.notes)
    if seed_source == "random":
        notes.append(params.random_seed_note(seed))
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

    Every write is :func:`atomic.write_bytes` with fsync (a temporary file in the same
    folder, flushed and fsynced, renamed over the record with ``os.replace``, atomic on
    POSIX and Windows), so a crash leaves either the old or the new record, never half
    of one. Leftover temporary files are removed on open. Record files are private to
    the server's user (mode 0600): they hold the requests.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        for pattern in STRAY_PATTERNS:
            for stray in self.root.glob(pattern):
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
        atomic.write_bytes(dest, data, fsync=True, suffix=TEMP_SUFFIX, mode=0o600)

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
        """After a (re)start: :func:`status.recover` on every record, saving the changed ones.
        Returns the changed records."""
        known = set(known_active)
        changed = []
        for record in self.load_all():
            if machine.recover(record, known):
                self.save(record)
                changed.append(record)
        return changed
