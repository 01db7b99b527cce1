"""End-to-end contract checks against a live ComfyUI server with the pack loaded.

a. ``GET /object_info`` of every ``RV2V_*`` node equals the committed snapshot
   ``tests/data/rv2v_object_info.json`` after the snapshot tool's normalisation
   (``tests/tools/dump_object_info.py``): catches widget / schema drift.
b. Core parity of the IC-LoRA guide: core ``LTXVAddGuide`` (with ``GetICLoRAParameters``
   on the ref0.5 IC-LoRA) and the pack's ``RV2V_ICLoRAGuide`` on the same latent, VAE,
   conditioning and control frames give the same latent, noise mask and keyframe
   positions; only the attention entry's strength differs (core: the guide strength,
   ours: 1.0, by design). Partial graph: only what the probes need executes (no sampling).
c. Every pack node is in the one category and every input carries a tooltip.

Skipped with a one-line reason unless COMFYUI_PATH and COMFY_PYTHON are set.
"""
from __future__ import annotations

import gzip
import importlib.util
import json

import numpy as np
import pytest

from . import harness

ENV = harness.require_comfy_env()

SNAPSHOT = harness.REPO_ROOT / "tests" / "data" / "rv2v_object_info.json"
CORE_SNAPSHOT = harness.REPO_ROOT / "tests" / "data" / "comfyui_v0.27.0_object_info.json.gz"
WORKFLOWS = sorted((harness.REPO_ROOT / "workflows").glob("*.json"))
DUMP_TOOL = harness.REPO_ROOT / "tests" / "tools" / "dump_object_info.py"
CATEGORY = "LTX-2.3 Reference V2V"
PACK_NODES = ("RV2V_Settings", "RV2V_ReferencePlan", "RV2V_Control", "RV2V_ICLoRAFile", "RV2V_ICLoRALoader", "RV2V_ICLoRAGuide",
              "RV2V_ReferenceImage", "RV2V_VideoInit", "RV2V_Schedule", "RV2V_SaveMP4",
              "RV2V_CannyPreprocessor", "RV2V_DepthPreprocessor", "RV2V_PosePreprocessor")

CLIP = "rv2v_contract_control.mp4"
WIDTH, HEIGHT, FRAMES = 256, 128, 17  # latent 8x4, divisible by the IC-LoRA factor 2
STRENGTH = 0.6


def _normalise():
    spec = importlib.util.spec_from_file_location("_rv2v_dump_object_info", DUMP_TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions only; main() is not run
    return module.normalise


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("comfy_contract")
    clip = harness.make_clip(base / "src" / CLIP, WIDTH, HEIGHT, FRAMES, 25, audio=False)
    with harness.ComfyServer(base / "base", env=ENV, packs=harness.ALL_PACKS) as srv:
        srv.clip_name = srv.upload_file(clip)
        yield srv


@pytest.fixture(scope="module")
def live_info(server) -> dict:
    return server.object_info()


@pytest.fixture(scope="module")
def object_info(live_info) -> dict:
    return {name: spec for name, spec in live_info.items() if name.startswith("RV2V_")}


# ----------------------------------------------------------------------------------------
# a. schema snapshot
# ----------------------------------------------------------------------------------------

def test_node_set(object_info):
    assert sorted(object_info) == sorted(PACK_NODES)


#: Keys that depend on where the pack is installed, not on its schema: ``python_module``
#: is ``custom_nodes.<folder name>`` on a server but None in the offline snapshot tool.
INSTALL_KEYS = ("python_module",)


def _comparable(info: dict, normalise) -> dict:
    info = normalise(json.loads(json.dumps(info)))
    for key in INSTALL_KEYS:
        info.pop(key, None)
    return info


def _diff(live, snap, path="") -> list[str]:
    if isinstance(live, dict) and isinstance(snap, dict):
        out = []
        for key in sorted(set(live) | set(snap)):
            if key not in live or key not in snap:
                out.append(f"{path}/{key}: live {live.get(key, '<absent>')!r} snapshot {snap.get(key, '<absent>')!r}")
            else:
                out.extend(_diff(live[key], snap[key], f"{path}/{key}"))
        return out
    return [] if live == snap else [f"{path}: live {live!r} snapshot {snap!r}"]


def test_object_info_matches_snapshot(object_info):
    normalise = _normalise()
    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert sorted(snapshot) == sorted(object_info)
    problems = []
    for name in sorted(snapshot):
        problems += [name + d for d in _diff(_comparable(object_info[name], normalise),
                                             _comparable(snapshot[name], normalise))]
    assert problems == [], (
        f"/object_info differs from {SNAPSHOT.name} (if intended, regenerate it with "
        "$COMFY_PYTHON tests/tools/dump_object_info.py $COMFYUI_PATH):\n" + "\n".join(problems))


def test_core_snapshot_matches_the_live_core_nodes_the_workflows_use(live_info):
    """The committed core schema snapshot (used by the offline workflow lint) is the server's truth."""
    core = json.loads(gzip.decompress(CORE_SNAPSHOT.read_bytes()).decode("utf-8"))
    used = {node["type"] for wf in WORKFLOWS for node in json.loads(wf.read_text(encoding="utf-8"))["nodes"]}
    used = sorted(t for t in used if not t.startswith("RV2V_") and t in live_info)
    assert used, "the workflows use no core node the server knows"

    def schema(spec: dict, files: set) -> dict:
        # Combos that list a model folder's files (empty in the snapshot, taken on a server without
        # models) depend on the server's folders, not on the schema: compare them without the list.
        inputs = {}
        for group, fields in spec.get("input", {}).items():
            for key, value in fields.items():
                value = json.loads(json.dumps(value))
                if key in files:
                    value = ["COMBO", {k: v for k, v in value[1].items() if k != "options"}] \
                        if value[0] == "COMBO" else ["COMBO", {}]
                inputs.setdefault(group, {})[key] = value
        return {"input": inputs, "input_order": spec.get("input_order"),
                "output": spec.get("output"), "output_name": spec.get("output_name")}

    def file_lists(spec: dict) -> set:
        return {key for fields in spec.get("input", {}).values() for key, value in fields.items()
                if value[0] == [] or (value[0] == "COMBO" and value[1].get("options") == [])}

    for name in used:
        assert name in core, f"{name} missing from {CORE_SNAPSHOT.name}"
        files = file_lists(core[name])
        assert schema(core[name], files) == schema(live_info[name], files), f"{name} differs from {CORE_SNAPSHOT.name}"


def test_python_module_is_the_pack_folder(object_info):
    for name, spec in object_info.items():
        assert spec["python_module"] == f"custom_nodes.{harness.PACK_DIR_NAME}", name


# ----------------------------------------------------------------------------------------
# c. category and tooltips
# ----------------------------------------------------------------------------------------

def test_single_category(object_info):
    assert {spec["category"] for spec in object_info.values()} == {CATEGORY}


def test_every_input_has_a_tooltip(object_info):
    missing = []
    for name, spec in sorted(object_info.items()):
        for section in ("required", "optional"):
            for input_name, input_spec in (spec["input"].get(section) or {}).items():
                options = input_spec[1] if len(input_spec) > 1 and isinstance(input_spec[1], dict) else {}
                if not str(options.get("tooltip") or "").strip():
                    missing.append(f"{name}.{input_name}")
    assert missing == [], f"inputs without a tooltip: {missing}"


# ----------------------------------------------------------------------------------------
# b. core parity of the IC-LoRA guide
# ----------------------------------------------------------------------------------------

def parity_prompt(clip_name: str) -> dict:
    ckpt = harness.CHECKPOINT.split("/", 1)[1]
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "LoraLoaderModelOnly", "inputs": {
            "model": ["1", 0], "lora_name": harness.IC_LORA.split("/", 1)[1], "strength_model": 1.0}},
        "3": {"class_type": "GetICLoRAParameters", "inputs": {"iclora_model": ["2", 0]}},
        "4": {"class_type": "LTXAVTextEncoderLoader", "inputs": {
            "text_encoder": harness.TEXT_ENCODER.split("/", 1)[1], "ckpt_name": ckpt, "device": "default"}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 0], "text": "a square and a disc"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 0], "text": "blurry"}},
        "7": {"class_type": "LoadVideo", "inputs": {"file": clip_name}},
        "8": {"class_type": "GetVideoComponents", "inputs": {"video": ["7", 0]}},
        "9": {"class_type": "EmptyLTXVLatentVideo", "inputs": {
            "width": WIDTH, "height": HEIGHT, "length": FRAMES, "batch_size": 1}},
        "10": {"class_type": "LTXVAddGuide", "inputs": {
            "positive": ["5", 0], "negative": ["6", 0], "vae": ["1", 2], "latent": ["9", 0],
            "image": ["8", 0], "frame_idx": 0, "strength": STRENGTH, "iclora_parameters": ["3", 0]}},
        "11": {"class_type": "RV2V_ICLoRAGuide", "inputs": {
            "positive": ["5", 0], "negative": ["6", 0], "vae": ["1", 2], "latent": ["9", 0],
            "control": ["8", 0], "downscale_factor": 2, "video_strength": STRENGTH}},
        # the pack's IC-LoRA File node must read the same factor from the LoRA metadata (header only),
        # and the loader passes it on
        "14": {"class_type": "RV2V_ICLoRAFile", "inputs": {"lora_name": harness.IC_LORA.split("/", 1)[1]}},
        "12": {"class_type": "RV2V_ICLoRALoader", "inputs": {
            "model": ["1", 0], "ic_lora": ["14", 0], "strength_model": 1.0}},
        "13": {"class_type": "RV2V_ICLoRAGuide", "inputs": {
            "positive": ["5", 0], "negative": ["6", 0], "vae": ["1", 2], "latent": ["9", 0],
            "control": ["8", 0], "downscale_factor": ["12", 1], "video_strength": STRENGTH}},
        "20": {"class_type": "RV2VTest_SaveTensors", "inputs": {
            "name": "parity_core", "latent": ["10", 2], "conditioning": ["10", 0], "image": ["8", 0]}},
        "21": {"class_type": "RV2VTest_SaveTensors", "inputs": {
            "name": "parity_pack", "latent": ["11", 2], "conditioning": ["11", 0]}},
        "22": {"class_type": "RV2VTest_SaveTensors", "inputs": {
            "name": "parity_pack_loader", "latent": ["13", 2], "conditioning": ["13", 1]}},
    }


@pytest.fixture(scope="module")
def parity(server, tmp_path_factory):
    entry = server.run(parity_prompt(server.clip_name), timeout=300)
    out = tmp_path_factory.mktemp("parity")
    probes = {}
    for key, node in (("core", "20"), ("pack", "21"), ("loader", "22")):
        (path,) = server.download_outputs(entry, out, node_id=node)
        probes[key] = harness.read_probe(path)
    return probes


def test_core_inputs_used_by_parity_graph(server):
    """The parity graph's core node inputs exist in this ComfyUI (schema drift guard)."""
    info = server.object_info("LTXVAddGuide")["LTXVAddGuide"]["input"]
    names = set(info["required"]) | set(info.get("optional") or {})
    assert {"positive", "negative", "vae", "latent", "image", "frame_idx", "strength", "iclora_parameters"} <= names


def test_guide_parity_latent_and_mask(parity):
    (core, _), (pack, _) = parity["core"], parity["pack"]
    assert core["image"].shape == (FRAMES, HEIGHT, WIDTH, 3)
    lf, lh, lw = (FRAMES - 1) // 8 + 1, HEIGHT // 32, WIDTH // 32
    assert core["latent.samples"].shape == (1, 128, 2 * lf, lh, lw)
    assert pack["latent.samples"].shape == core["latent.samples"].shape
    np.testing.assert_allclose(pack["latent.samples"], core["latent.samples"], rtol=1e-5, atol=1e-6)
    assert pack["latent.noise_mask"].shape == core["latent.noise_mask"].shape
    np.testing.assert_allclose(pack["latent.noise_mask"], core["latent.noise_mask"], rtol=0, atol=1e-7)
    guide = pack["latent.noise_mask"][:, :, lf:]
    assert np.allclose(guide[..., ::2, ::2], 1 - STRENGTH, atol=1e-6)


def test_guide_parity_positions_and_attention_entries(parity):
    (core, core_meta), (pack, pack_meta) = parity["core"], parity["pack"]
    np.testing.assert_array_equal(pack["cond.0.keyframe_idxs"].astype(np.float64),
                                  core["cond.0.keyframe_idxs"].astype(np.float64))
    (core_entry,) = core_meta["cond"][0]["guide_attention_entries"]
    (pack_entry,) = pack_meta["cond"][0]["guide_attention_entries"]
    assert core_entry["strength"] == pytest.approx(STRENGTH)  # core: strength is also an attention weight
    assert pack_entry["strength"] == 1.0  # ours: strength acts only through the noise mask
    for key in ("pre_filter_count", "latent_shape", "has_pixel_mask"):
        assert pack_entry[key] == core_entry[key], key
    lf, lh, lw = (FRAMES - 1) // 8 + 1, HEIGHT // 32, WIDTH // 32
    assert core_entry["pre_filter_count"] == lf * lh * lw
    assert core_entry["latent_shape"] == [lf, lh // 2, lw // 2]


def test_pack_loader_factor_matches_core(parity):
    (core, _), (loader, loader_meta) = parity["core"], parity["loader"]
    np.testing.assert_allclose(loader["latent.samples"], core["latent.samples"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(loader["latent.noise_mask"], parity["pack"][0]["latent.noise_mask"])
    # negative conditioning carries the same guide positions
    np.testing.assert_array_equal(loader["cond.0.keyframe_idxs"].astype(np.float64),
                                  core["cond.0.keyframe_idxs"].astype(np.float64))
