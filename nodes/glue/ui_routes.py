"""Small routes for the pack's frontend extension (js/): which model files a graph needs are absent.

``POST /rv2v/models/check`` with ``{"prompt": <API-format graph>}`` answers
``{"missing": [{folder, name, optional, needed_for, source, paths, node, input}], "checked": N}``.
It reveals no more than ComfyUI's own ``/object_info`` does (the file names in each model folder).
"""
from __future__ import annotations

import folder_paths
from aiohttp import web
from server import PromptServer

from ..pure import api

MAX_BODY = 4 * 1024 * 1024


def _folder_lookup(folder: str) -> tuple[set, list]:
    try:
        return set(folder_paths.get_filename_list(folder)), list(folder_paths.get_folder_paths(folder))
    except KeyError:  # a model folder ComfyUI does not know
        return set(), []


def missing_models(prompt: dict) -> tuple[list[dict], int]:
    """The graph's missing model files (the pure check, with ComfyUI's model folders)."""
    needed = api.required_models(prompt)
    missing = [{**{k: v for k, v in r.items() if k not in ("file", "present")}, "name": r["file"]}
               for r in api.check_models(needed, _folder_lookup) if not r["present"]]
    return missing, len(needed)


async def check_models(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return web.json_response({"error": f"body larger than {MAX_BODY} bytes"}, status=413)
    try:
        body = await request.json()
    except Exception:  # noqa: BLE001 - any parse failure is the client's
        return web.json_response({"error": "body must be JSON: {\"prompt\": <API-format graph>}"}, status=400)
    prompt = body.get("prompt") if isinstance(body, dict) else None
    if not isinstance(prompt, dict):
        return web.json_response({"error": "prompt: must be an API-format graph (a JSON object)"}, status=400)
    missing, checked = missing_models(prompt)
    return web.json_response({"missing": missing, "checked": checked})


def register() -> None:
    PromptServer.instance.routes.post("/rv2v/models/check")(check_models)
