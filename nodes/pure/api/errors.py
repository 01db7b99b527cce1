"""The HTTP API's error answer (pure; standard library only).

Every module of the API raises :class:`ApiError` for a request it refuses; the glue
(``nodes/glue/routes.py``) turns it into the JSON answer ``{"detail", "field"}``.
"""
from __future__ import annotations

from typing import Any


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
