"""The ComfyUI API prompt of a generation, from the shipped workflow (pure; standard library only).

The API and the UI run one graph: ``workflows/api/ltx23_reference_video_to_video.json``
with the Settings node's inputs set from the validated request (:func:`build_prompt`).
Also here: the model files that workflow loads (:func:`required_models`, for
``cli.py models``) and reading ComfyUI's ``node_errors`` of a rejected prompt.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .. import params

PACK_ROOT = Path(__file__).resolve().parents[3]
WORKFLOW_PATH = PACK_ROOT / "workflows" / "api" / "ltx23_reference_video_to_video.json"
SETTINGS_CLASS = "RV2V_Settings"
SAVE_CLASS = "RV2V_SaveMP4"


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


def check_models(needed: Sequence[Mapping[str, Any]],
                 lookup: Callable[[str], tuple[set, list]]) -> list[dict[str, Any]]:
    """The one missing-model check: each of :func:`required_models`' rows with ``file`` (the file that
    actually loads: controlnet_aux's ``yolox_l.onnx`` choice runs as ``yolox_l.torchscript.pt``),
    ``present``, ``paths`` (the folders searched) and ``source``. ``lookup(folder)`` gives the file
    names present in a model folder and the folders searched (ComfyUI's folder_paths in the server,
    a models directory or a server's ``/models/<folder>`` for the CLI)."""
    from .. import weights

    cache: dict[str, tuple[set, list]] = {}
    rows = []
    for m in needed:
        file = m["name"]
        if m["folder"] == weights.POSE_FOLDER:
            try:
                file = weights.resolve_model_name(file)
            except ValueError:
                pass
        if m["folder"] not in cache:
            cache[m["folder"]] = lookup(m["folder"])
        present, paths = cache[m["folder"]]
        rows.append({**m, "file": file, "present": file in present, "paths": list(paths),
                     "source": model_source(file)})
    return rows


def model_source(name: str) -> str:
    """Where a model file comes from (for ``cli.py models``)."""
    if name in MODEL_SOURCES:
        return MODEL_SOURCES[name]
    try:
        from .. import weights
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
