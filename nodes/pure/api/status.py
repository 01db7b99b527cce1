"""The generation status machine (pure; standard library only).

A generation record (``records.py``) moves ``queued -> processing -> succeeded | failed |
cancelled``; a terminal status never changes again. The machine reads only plain data:
the record and a :class:`Snapshot` of ComfyUI's queue (running and pending prompts, as
``PromptQueue.get_current_queue_volatile`` gives them), the history entries of the
active generations (``PromptQueue.get_history``) and the progress registry
(``comfy_execution/progress.py``). It changes the record in place and answers an
:class:`Update` saying what the caller must do: save the record, send events, wake who
waits for the generation. ``nodes/glue/routes.py`` reads ComfyUI, calls :func:`advance`
every poll, and does what the update says.

* queued -> processing: the prompt is among the running ones;
* processing -> succeeded / failed / cancelled: its history entry says how it ended
  (:func:`history.interpret_history`); an interrupt the API asked for is "cancelled while
  running", another interrupt (someone pressed cancel in ComfyUI) says so;
* queued -> cancelled: removed from ComfyUI's queue (:func:`cancel_queued` when the API
  removed it, or someone else did) before it ran;
* processing -> failed: gone from the queue without a history entry (the history was cleared);
* restart recovery (:func:`recover`): ComfyUI's queue does not survive a restart, so records
  left queued or processing become failed with a message saying why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from .errors import ApiError
from .history import interpret_history, node_state, progress_fraction
from .states import (ACTIVE, CANCELLED, COMPLETED_EVENT, FAILED, PROCESSING, PROGRESS_EVENT, QUEUED, STATUSES,
                     SUCCEEDED, TERMINAL)

RESTART_RUNNING = ("ComfyUI restarted while this generation was running; it did not finish. "
                   "Queue it again.")
RESTART_QUEUED = ("ComfyUI restarted before this generation started (ComfyUI's queue does not survive a "
                  "restart); it never ran. Queue it again.")
CANCELLED_QUEUED = "cancelled before it started"
CANCELLED_RUNNING = "cancelled while running"
INTERRUPTED_ELSEWHERE = " (interrupted in ComfyUI)"
REMOVED_FROM_QUEUE = "removed from ComfyUI's queue before it ran"
HISTORY_REMOVED = "ComfyUI's history entry of this generation was removed before its result could be read"

#: A running generation's record is saved again once its progress grew by this much.
PROGRESS_SAVE_STEP = 0.05


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


@dataclass(frozen=True)
class Snapshot:
    """What ComfyUI says at one moment, as plain data.

    ``running``: prompt id -> its prompt (API-format nodes) for the executing prompts;
    ``pending``: waiting prompt ids in the order ComfyUI runs them;
    ``history``: prompt id -> history entry of finished prompts (the active generations' ones);
    ``progress``: ``{"prompt_id", "nodes": {node_id: {"state", "value", "max"}}}`` of the
    progress registry, or None when it cannot be read.
    """

    running: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pending: Sequence[str] = ()
    history: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    progress: Mapping[str, Any] | None = None

    @classmethod
    def from_queue(cls, running: Iterable[Sequence], pending: Iterable[Sequence],
                   history: Mapping[str, Mapping[str, Any]] | None = None,
                   progress: Mapping[str, Any] | None = None) -> "Snapshot":
        """From ``PromptQueue.get_current_queue_volatile()``'s items ``(number, prompt_id, prompt, ...)``;
        pending items run in ``number`` order."""
        return cls(running={item[1]: item[2] for item in running},
                   pending=tuple(item[1] for item in sorted(pending, key=lambda it: it[0])),
                   history=dict(history or {}), progress=progress)


@dataclass
class Update:
    """What the caller does after a step: ``save`` the record, send ``events`` (in order) for it,
    and when ``finished`` wake who waits for it. ``saved_progress`` is the progress value the
    save records, when the save is due to progress (the caller keeps it for the next step)."""

    save: bool = False
    events: list[str] = field(default_factory=list)
    finished: bool = False
    saved_progress: float | None = None


def _finished() -> Update:
    return Update(save=True, events=[COMPLETED_EVENT], finished=True)


def advance(record: dict[str, Any], snapshot: Snapshot, saved_progress: float = 0.0) -> Update:
    """One step of an active generation from a snapshot of ComfyUI; terminal records never change.

    ``saved_progress``: the progress value of the last save due to progress."""
    if record.get("status") not in ACTIVE:
        return Update()
    gid = record["generation_id"]
    entry = snapshot.history.get(gid)
    if entry is not None:
        outcome = interpret_history(entry, record.get("save_nodes") or ())
        if outcome["status"] == CANCELLED and not record.get("cancel_requested"):
            outcome["error_message"] = (outcome["error_message"] or "interrupted") + INTERRUPTED_ELSEWHERE
        elif outcome["status"] == CANCELLED:
            outcome["error_message"] = CANCELLED_RUNNING
        record.pop("progress_detail", None)
        record.pop("queue_position", None)
        transition(record, outcome["status"], result=outcome["result"], error_message=outcome["error_message"])
        return _finished()
    if gid in snapshot.running:
        update = Update()
        if transition(record, PROCESSING):
            record.pop("queue_position", None)
            update.save = True
            update.events.append(PROGRESS_EVENT)
        _progress(record, snapshot, saved_progress, update)
        return update
    if gid in snapshot.pending:
        record["queue_position"] = list(snapshot.pending).index(gid)
        return Update()
    if record["status"] == QUEUED:
        transition(record, CANCELLED,
                   error_message=CANCELLED_QUEUED if record.get("cancel_requested") else REMOVED_FROM_QUEUE)
    else:
        transition(record, FAILED, error_message=HISTORY_REMOVED)
    record.pop("queue_position", None)
    return _finished()


def _progress(record: dict[str, Any], snapshot: Snapshot, saved_progress: float, update: Update) -> None:
    """A running generation's progress from the registry (only when the registry is about it)."""
    gid = record["generation_id"]
    registry = snapshot.progress
    if not registry or registry.get("prompt_id") != gid:
        return
    nodes = registry.get("nodes") or {}
    running = None
    for nid, st in nodes.items():
        if node_state(st) == "running":
            running = nid
    fraction = progress_fraction(nodes, int(record.get("node_count") or 0))
    if fraction > float(record.get("progress") or 0.0):
        record["progress"] = fraction
        update.events.append(PROGRESS_EVENT)
    if running is not None:
        st = nodes[running]
        node = (snapshot.running.get(gid) or {}).get(running) or {}
        record["progress_detail"] = {"node": running, "class_type": node.get("class_type"),
                                     "value": st.get("value", 0), "max": st.get("max", 1)}
    progress = float(record.get("progress") or 0.0)
    if progress - saved_progress >= PROGRESS_SAVE_STEP:
        update.save = True
        update.saved_progress = progress


def begin_cancel(record: dict[str, Any]) -> bool:
    """A cancel request. True: the generation is active and now marked ``cancel_requested`` (the
    caller removes it from ComfyUI's queue, :func:`cancel_queued`, or interrupts it, and the next
    :func:`advance` sees how it ended); False: it is already cancelled (nothing to do).
    A generation that finished otherwise is a 409."""
    if record["status"] == CANCELLED:
        return False
    if record["status"] in TERMINAL:
        raise ApiError(409, f"generation_id: generation {record['generation_id']} already {record['status']}; "
                            "nothing to cancel", "generation_id")
    record["cancel_requested"] = True
    return True


def cancel_queued(record: dict[str, Any]) -> Update:
    """The caller removed the generation from ComfyUI's queue before it started."""
    if not transition(record, CANCELLED, error_message=CANCELLED_QUEUED):
        return Update()
    return _finished()


def recover(record: dict[str, Any], known_active: Iterable[str] = ()) -> bool:
    """After a (re)start: a record left queued or processing that ComfyUI's queue does not know
    (``known_active``: its prompt ids) becomes failed with a message saying why. True if it changed."""
    if record.get("status") not in ACTIVE or record["generation_id"] in set(known_active):
        return False
    message = RESTART_RUNNING if record["status"] == PROCESSING else RESTART_QUEUED
    return transition(record, FAILED, error_message=message)
