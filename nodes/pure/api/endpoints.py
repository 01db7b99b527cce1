"""The HTTP API's routes (one table) and the model object (pure; standard library only).

:data:`ROUTES` is the only list of the API's routes: ``nodes/glue/routes.py`` registers
every row on ComfyUI's server (``handler`` names the method of its ``GenerationService``
that answers it) and checks none of them shadows a core route; the model object's
``endpoints`` are the rows that have an ``endpoint`` key.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import params

MODEL_NAME = "LTX 2.3 Quality: Reference Video to Video"


@dataclass(frozen=True)
class Route:
    """One route: ``method`` and ``path`` (aiohttp pattern), the ``handler`` method name, what it
    does, and its key in the model object's ``endpoints`` (None: not listed there)."""

    method: str
    path: str
    handler: str
    summary: str
    endpoint: str | None = None


ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/ai/videos/generate", "generate",
          "validate, queue, wait, answer the finished generation", "sync"),
    Route("POST", "/api/ai/queue", "enqueue",
          'validate, queue, answer {"generations": [{"generation_id": ...}]}', "queue"),
    Route("GET", "/api/ai/queue", "list_generations",
          "this server's generations, newest first (?status=, ?limit=)"),
    Route("GET", "/api/ai/queue/{generation_id}", "status",
          "status, progress, result_url / error_message", "status"),
    Route("DELETE", "/api/ai/queue/{generation_id}", "cancel",
          "cancel a queued or running generation", "cancel"),
    Route("POST", "/api/ai/queue/{generation_id}/cancel", "cancel",
          "cancel a queued or running generation (for clients without DELETE)"),
    Route("GET", "/api/events", "events",
          "server-sent events (media_generation_completed, media_generation_progress)", "events"),
    Route("GET", "/api/ai/models", "list_models", "the model objects of this server"),
    Route("GET", "/api/ai/models/{model_id}", "model", "the model object"),
)


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
        "endpoints": {r.endpoint: f"{r.method} {r.path}" for r in ROUTES if r.endpoint},
        "json_request_schema": params.json_request_schema(),
    }
