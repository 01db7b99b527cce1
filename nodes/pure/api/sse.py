"""Server-sent events (pure; standard library only).

The wire format of ``GET /api/events``: the WHATWG HTML standard, section "Server-sent
events" (https://html.spec.whatwg.org/multipage/server-sent-events.html).
"""
from __future__ import annotations

import json
from typing import Any, Iterable


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
    """Parse SSE text lines into {event, data, id, retry} dicts: the reader of what :func:`sse_event`
    and :func:`sse_comment` write. The pack itself only writes events (the CLI follows progress
    over ComfyUI's websocket); the tests read streams back with it (``tests/test_api.py``,
    ``tests/e2e/test_http_api.py``), and any Python client may."""
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
