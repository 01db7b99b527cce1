"""Small routes for the pack's frontend extension (js/): which model files a graph needs are absent.

``POST /rv2v/models/check`` with ``{"prompt": <API-format graph>}`` answers
``{"missing": [{folder, name, optional, needed_for, source, paths, node, input}], "checked": N}``.
It reveals no more than ComfyUI's own ``/object_info`` does (the file names in each model folder).
"""
from __future__ import annotations

import folder_paths
from aiohttp import web
from server import PromptServer

from ..pure import api, weights
from ..pure.pose import backends

MAX_BODY = 4 * 1024 * 1024


def missing_models(prompt: dict) -> tuple[list[dict], int]:
    needed = api.required_models(prompt)
    missing = []
    for m in needed:
        if m["folder"] == weights.POSE_FOLDER:  # yolox_l.onnx runs as yolox_l.torchscript.pt
            try:
                m = {**m, "name": backends.resolve_model_name(m["name"])}
            except ValueError:
                pass
        try:
            present = set(folder_paths.get_filename_list(m["folder"]))
            paths = list(folder_paths.get_folder_paths(m["folder"]))
        except KeyError:  # a model folder ComfyUI does not know
            present, paths = set(), []
        if m["name"] in present:
            continue
        missing.append({**m, "source": api.model_source(m["name"]), "paths": paths})
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
