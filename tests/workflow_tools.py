"""UI workflow (LiteGraph, format 0.4) -> API prompt conversion and linting (test tool).

Standard library only; used by tests/test_workflows.py to check the shipped
workflows (the pack itself never converts workflows, so this lives under tests/).
Driven by ``/object_info``-style node schemas, following the serialisation rules of
the ComfyUI frontend (github.com/Comfy-Org/ComfyUI_frontend): ``widgets_values``
holds the node's widget inputs in declaration order (required, then optional),
an extra value after each ``control_after_generate`` widget, and one extra value
for the upload button the frontend adds after the required inputs of a node
whose first upload-capable combo is required. Linked widget inputs keep their
slot in ``widgets_values``.
"""
from __future__ import annotations

from typing import Any, Iterator

UI_ONLY_TYPES = frozenset({"Note", "MarkdownNote", "PrimitiveNode", "Reroute"})
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload", "audio_upload")
MODE_NEVER, MODE_BYPASS = 2, 4


class WorkflowError(ValueError):
    pass


def _spec_type(spec: list) -> Any:
    return spec[0]


def _opts(spec: list) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def _is_widget(spec: list) -> bool:
    t = _spec_type(spec)
    if isinstance(t, list):  # legacy combo
        return True
    return t in WIDGET_TYPES and not _opts(spec).get("forceInput", False)


def _ordered_inputs(info: dict) -> Iterator[tuple[str, str, list]]:
    """(section, name, spec) in declaration order."""
    order = info.get("input_order") or {}
    for section in ("required", "optional"):
        inputs = info.get("input", {}).get(section, {}) or {}
        names = order.get(section) or list(inputs)
        for name in names:
            if name in inputs:
                yield section, name, inputs[name]


def widget_layout(info: dict) -> list[str | None]:
    """Names for each widgets_values slot (None = a UI-only value)."""
    layout: list[str | None] = []
    upload_added = False
    required = [(n, s) for sec, n, s in _ordered_inputs(info) if sec == "required"]
    first_upload = next((n for n, s in required if any(_opts(s).get(f) for f in UPLOAD_FLAGS)), None)
    for section, name, spec in _ordered_inputs(info):
        if section == "optional" and first_upload and not upload_added:
            layout.append(None)
            upload_added = True
        if not _is_widget(spec):
            continue
        layout.append(name)
        if _opts(spec).get("control_after_generate"):
            layout.append(None)
    if first_upload and not upload_added:
        layout.append(None)
    return layout


def _links_by_id(workflow: dict) -> dict[int, list]:
    out = {}
    for link in workflow.get("links", []):
        if isinstance(link, dict):
            link = [link["id"], link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"],
                    link.get("type")]
        out[int(link[0])] = link
    return out


def lint(workflow: dict, object_info: dict) -> list[str]:
    """Problems in a UI workflow: link integrity, id counters, unknown node types, widget counts."""
    problems: list[str] = []
    if workflow.get("version") != 0.4:
        problems.append(f"version is {workflow.get('version')!r}, expected 0.4")
    nodes = {int(n["id"]): n for n in workflow.get("nodes", [])}
    links = _links_by_id(workflow)
    if nodes and int(workflow.get("last_node_id", -1)) < max(nodes):
        problems.append(f"last_node_id {workflow.get('last_node_id')} < max node id {max(nodes)}")
    if links and int(workflow.get("last_link_id", -1)) < max(links):
        problems.append(f"last_link_id {workflow.get('last_link_id')} < max link id {max(links)}")
    for lid, (_, origin, oslot, target, tslot, _typ) in links.items():
        if origin not in nodes or target not in nodes:
            problems.append(f"link {lid} is dangling ({origin} -> {target})")
            continue
        outs = nodes[origin].get("outputs") or []
        ins = nodes[target].get("inputs") or []
        if oslot >= len(outs) or lid not in (outs[oslot].get("links") or []):
            problems.append(f"link {lid}: origin node {origin} output {oslot} does not list it")
        if tslot >= len(ins) or ins[tslot].get("link") != lid:
            problems.append(f"link {lid}: target node {target} input {tslot} does not reference it")
    for nid, node in nodes.items():
        for slot, entry in enumerate(node.get("inputs") or []):
            lid = entry.get("link")
            if lid is not None and lid not in links:
                problems.append(f"node {nid} input {entry.get('name')} references missing link {lid}")
        for slot, entry in enumerate(node.get("outputs") or []):
            for lid in entry.get("links") or []:
                if lid not in links:
                    problems.append(f"node {nid} output {slot} references missing link {lid}")
        ntype = node.get("type")
        if ntype in UI_ONLY_TYPES:
            continue
        if ntype not in object_info:
            problems.append(f"node {nid}: unknown node type {ntype!r}")
            continue
        expected = len(widget_layout(object_info[ntype]))
        got = len(node.get("widgets_values") or [])
        if got != expected:
            problems.append(f"node {nid} ({ntype}): {got} widgets_values, expected {expected}")
    return problems


def to_api(workflow: dict, object_info: dict) -> dict:
    """Convert a UI workflow to an API prompt (bypassed nodes resolved, muted and UI-only nodes dropped)."""
    nodes = {int(n["id"]): n for n in workflow.get("nodes", [])}
    links = _links_by_id(workflow)

    def source(lid: int, want_type: str | None, seen=()) -> list | None:
        _, origin, oslot, _t, _ts, typ = links[lid]
        node = nodes[origin]
        mode = node.get("mode", 0)
        if node.get("type") in UI_ONLY_TYPES or mode == MODE_NEVER:
            return None
        if mode == MODE_BYPASS:
            if origin in seen:
                raise WorkflowError(f"bypass cycle at node {origin}")
            for entry in node.get("inputs") or []:
                if entry.get("link") is not None and entry.get("type") == (want_type or typ):
                    return source(entry["link"], want_type or typ, seen + (origin,))
            return None
        return [str(origin), oslot]

    prompt: dict[str, Any] = {}
    for nid, node in nodes.items():
        ntype = node.get("type")
        if ntype in UI_ONLY_TYPES or node.get("mode", 0) in (MODE_NEVER, MODE_BYPASS):
            continue
        if ntype not in object_info:
            raise WorkflowError(f"node {nid}: unknown node type {ntype!r}")
        inputs: dict[str, Any] = {}
        values = list(node.get("widgets_values") or [])
        for name, value in zip(widget_layout(object_info[ntype]), values):
            if name is not None:
                inputs[name] = value
        for entry in node.get("inputs") or []:
            lid = entry.get("link")
            if lid is None:
                continue
            src = source(lid, entry.get("type"))
            if src is None:
                inputs.pop(entry["name"], None)
            else:
                inputs[entry["name"]] = src
        prompt[str(nid)] = {"class_type": ntype, "inputs": inputs,
                            "_meta": {"title": node.get("title") or ntype}}
    return prompt
