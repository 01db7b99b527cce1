"""The shipped workflows: lint, UI <-> API equivalence, contract defaults, official model files."""
import copy
import gzip
import json
from pathlib import Path

import pytest

from rv2v.nodes.pure import params as P
import workflow_tools as W

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "workflows" / "ltx23_reference_video_to_video.json"
API = ROOT / "workflows" / "api" / "ltx23_reference_video_to_video.json"
#: ComfyUI v0.27.0's /object_info (every core node schema), gzipped; tests/e2e/test_contract.py checks it
#: against the live server for the core nodes the workflows use.
CORE_INFO = ROOT / "tests" / "data" / "comfyui_v0.27.0_object_info.json.gz"
PACK_INFO = ROOT / "tests" / "data" / "rv2v_object_info.json"


@pytest.fixture(scope="module")
def object_info():
    info = json.loads(gzip.decompress(CORE_INFO.read_bytes()).decode("utf-8"))
    pack = json.loads(PACK_INFO.read_text(encoding="utf-8"))
    assert not set(info) & set(pack), "pack node ids must not shadow core nodes"
    info.update(pack)
    return info


@pytest.fixture(scope="module")
def ui():
    return json.loads(UI.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def api():
    return json.loads(API.read_text(encoding="utf-8"))


def test_files_are_built_from_the_one_graph_description():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(ROOT / "tests" / "tools" / "build_workflows.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ui_workflow_lints_clean(ui, object_info):
    assert W.lint(ui, object_info) == []
    assert ui["version"] == 0.4
    types = {n["type"] for n in ui["nodes"]}
    assert types <= set(object_info) | W.UI_ONLY_TYPES


def test_ui_converts_to_the_api_twin(ui, api, object_info):
    assert W.to_api(ui, object_info) == api


def test_api_twin_is_complete_and_well_typed(api, object_info):
    for nid, node in api.items():
        info = object_info[node["class_type"]]
        declared = {**info["input"].get("required", {}), **(info["input"].get("optional") or {})}
        assert set(node["inputs"]) <= set(declared), (nid, set(node["inputs"]) - set(declared))
        for name in info["input"].get("required", {}):
            assert name in node["inputs"], f"node {nid} {node['class_type']} misses required input {name}"
        for name, value in node["inputs"].items():
            if isinstance(value, list):
                src = api[value[0]]
                out_types = object_info[src["class_type"]]["output"]
                want = declared[name][0]
                got = out_types[value[1]]
                assert want == got or (want == "COMBO" and got == "STRING"), (nid, name, want, got)


def test_settings_node_exposes_all_parameters_with_contract_defaults(ui, api, object_info):
    settings = next(n for n in ui["nodes"] if n["type"] == "RV2V_Settings")
    layout = W.widget_layout(object_info["RV2V_Settings"])
    assert [x for x in layout if x] == [p.name for p in P.WIDGET_ORDER]
    assert sorted(p.name for p in P.WIDGET_ORDER) == sorted(P.BY_NAME)
    values = dict(zip(layout, settings["widgets_values"]))
    for p in P.PARAMS:
        if p.name in ("prompt", "input_video", "seed"):
            continue
        expected = "" if p.kind == "media" else p.default
        assert values[p.name] == expected, p.name
    assert values["input_video"] and values["prompt"]
    assert not any(i.get("link") for i in settings.get("inputs", [])), "Settings widgets must stay widgets"
    # The Settings node sits in the Settings group
    group = next(g for g in ui["groups"] if g["title"] == "Settings")
    x, y, w, h = group["bounding"]
    assert x <= settings["pos"][0] <= x + w and y <= settings["pos"][1] <= y + h


def test_official_model_files_and_strengths(api):
    by_type = {}
    for node in api.values():
        by_type.setdefault(node["class_type"], []).append(node["inputs"])
    assert by_type["CheckpointLoaderSimple"][0]["ckpt_name"] == "ltx-2.3-22b-dev.safetensors"
    assert by_type["LoraLoaderModelOnly"][0] == {**by_type["LoraLoaderModelOnly"][0],
                                                 "lora_name": "ltx-2.3-22b-distilled-lora-384-1.1.safetensors",
                                                 "strength_model": 0.5}
    ic = by_type["RV2V_ICLoRALoader"][0]
    (file_id, _slot) = ic["ic_lora"]
    assert api[file_id]["class_type"] == "RV2V_ICLoRAFile"
    assert api[file_id]["inputs"]["lora_name"] == "ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors"
    assert ic["strength_model"] == 1.0
    assert by_type["LTXAVTextEncoderLoader"][0]["text_encoder"].startswith("gemma_3_12B_it")
    assert by_type["CFGGuider"][0]["cfg"] == 1.0
    assert by_type["KSamplerSelect"][0]["sampler_name"] == "euler_ancestral_cfg_pp"


def test_control_preview_needs_no_model(api):
    """'Preview control video' runs the Control node's ancestors only: none of them may load a model."""
    control = next(k for k, n in api.items() if n["class_type"] == "RV2V_Control")
    seen, todo = set(), [control]
    while todo:
        nid = todo.pop()
        if nid in seen:
            continue
        seen.add(nid)
        todo += [v[0] for v in api[nid]["inputs"].values() if isinstance(v, list)]
    types = sorted(api[n]["class_type"] for n in seen)
    assert types == ["RV2V_Control", "RV2V_ICLoRAFile", "RV2V_ReferencePlan", "RV2V_Settings"], types


def test_lint_catches_broken_workflows(ui, object_info):
    broken = copy.deepcopy(ui)
    broken["links"].append([999, 12345, 0, broken["nodes"][0]["id"], 0, "MODEL"])
    broken["nodes"][1]["widgets_values"].append("extra")
    broken["nodes"].append({"id": 77, "type": "SomePackNode", "inputs": [], "outputs": []})
    problems = W.lint(broken, object_info)
    assert any("dangling" in p for p in problems)
    assert any("widgets_values" in p for p in problems)
    assert any("unknown node type 'SomePackNode'" in p for p in problems)
    assert any("last_node_id" in p for p in problems) and any("last_link_id" in p for p in problems)


def test_widget_layout_rules():
    info = {"input": {"required": {"file": ["COMBO", {"video_upload": True}], "seed": ["INT", {"control_after_generate": True}],
                                   "model": ["MODEL", {}], "x": ["FLOAT", {"forceInput": True}]},
                      "optional": {"o": ["STRING", {}]}},
            "input_order": {"required": ["file", "seed", "model", "x"], "optional": ["o"]}}
    assert W.widget_layout(info) == ["file", "seed", None, None, "o"]


def test_bypassed_and_muted_nodes_in_conversion(object_info):
    wf = {"version": 0.4, "nodes": [
        {"id": 1, "type": "CheckpointLoaderSimple", "mode": 0, "inputs": [],
         "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1]}], "widgets_values": ["a.safetensors"]},
        {"id": 2, "type": "LoraLoaderModelOnly", "mode": 4, "inputs": [{"name": "model", "type": "MODEL", "link": 1}],
         "outputs": [{"name": "MODEL", "type": "MODEL", "links": [2]}], "widgets_values": ["l.safetensors", 1.0]},
        {"id": 3, "type": "LoraLoaderModelOnly", "mode": 0, "inputs": [{"name": "model", "type": "MODEL", "link": 2}],
         "outputs": [{"name": "MODEL", "type": "MODEL", "links": []}], "widgets_values": ["m.safetensors", 0.5]},
        {"id": 4, "type": "MarkdownNote", "mode": 0, "widgets_values": ["hi"]},
    ], "links": [[1, 1, 0, 2, 0, "MODEL"], [2, 2, 0, 3, 0, "MODEL"]], "last_node_id": 4, "last_link_id": 2}
    api = W.to_api(wf, object_info)
    assert set(api) == {"1", "3"}
    assert api["3"]["inputs"] == {"lora_name": "m.safetensors", "strength_model": 0.5, "model": ["1", 0]}
