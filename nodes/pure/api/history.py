"""Reading ComfyUI's history entries and progress states (pure; standard library only).

A finished prompt's history entry (``PromptQueue.get_history`` in ComfyUI's
``execution.py``, which also writes its ``status.messages`` and ``outputs``) becomes
the generation's outcome (:func:`interpret_history`); ComfyUI's per-node progress
states (``comfy_execution/progress.py``) become one fraction (:func:`progress_fraction`).
"""
from __future__ import annotations

import urllib.parse
from typing import Any, Iterable, Mapping

from .states import CANCELLED, FAILED, SUCCEEDED


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


def node_state(st: Mapping[str, Any]) -> str:
    """A node's progress state name ("pending", "running", "finished", "error"), tolerating
    enum reprs ("NodeState.Finished")."""
    return str(st.get("state", "")).split(".")[-1].lower()


def progress_fraction(nodes: Mapping[str, Mapping[str, Any]], total_nodes: int) -> float:
    """Overall progress in [0, 1] from ComfyUI's per-node progress states.

    ``nodes``: {node_id: {"state": "pending"|"running"|"finished"|"error", "value", "max"}};
    ``total_nodes``: nodes in the prompt. Finished nodes count 1, running nodes value/max.
    """
    if total_nodes <= 0:
        return 0.0
    done = 0.0
    for st in nodes.values():
        state = node_state(st)
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

