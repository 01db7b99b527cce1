"""Unit tests of the hosted-compatible API's pure parts and of the CLI (no ComfyUI needed).

Request parsing/validation (every field: valid, out of range, wrong type, missing
dependency), the model object and its schema, prompt building, history and progress
interpretation, the record store (atomic writes; the status machine and restart recovery are in
tests/test_api_status.py), the route table, SSE formatting,
authorization, and the CLI's argument handling, websocket framing, ``models`` and
``control`` commands (``control`` runs the real pipeline on a tiny clip).
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from rv2v.nodes.cli import main as cli
from rv2v.nodes.cli.errors import CliError
from rv2v.nodes.cli.generate import local_media, request_from_args, validate_request
from rv2v.nodes.cli.progress import ProgressBar
from rv2v.nodes.cli.websocket import ws_accept_key, ws_decode_frame, ws_encode_frame
from rv2v.nodes.pure import api, params

ROOT = Path(__file__).resolve().parents[1]
MODEL = params.MODEL_ID
BASE = {"model": MODEL, "prompt": "a fox in the snow", "input_video": "clip.mp4"}


def body(**kw):
    out = dict(BASE)
    out.update(kw)
    return {k: v for k, v in out.items() if v is not ...}


def rejects(b, field, status=400, **kw):
    with pytest.raises(api.ApiError) as info:
        api.parse_request(b, **kw)
    assert info.value.status == status, info.value.detail
    assert info.value.field == field, info.value.detail
    assert field in info.value.detail  # the message names the field
    return info.value


# ----------------------------------------------------------------------------------------
# Request parsing and validation
# ----------------------------------------------------------------------------------------

def test_minimal_request_gets_the_preset_defaults():
    s = api.parse_request(body())
    assert (s.prompt, s.input_video) == ("a fox in the snow", "clip.mp4")
    for p in params.PARAMS:
        if not p.required and p.name != "num_frames":
            assert getattr(s, p.name) == p.default, p.name
    assert s.num_frames == 121


def test_model_field_is_optional_but_must_be_this_model():
    api.parse_request(body(model=...))
    rejects(body(model="ltx-2-fast"), "model", status=404)
    rejects(body(model=7), "model")
    rejects(body(model=None) | {"model": ""}, "model", status=404)


def test_unknown_field_is_named():
    e = rejects(body(motion_bucket=3), "motion_bucket")
    assert "not a parameter" in e.detail


@pytest.mark.parametrize("raw", [[], "text", 3, None])
def test_body_must_be_an_object(raw):
    rejects(raw, "request")


@pytest.mark.parametrize("raw", [b"", b"  ", b"{", b"\xff\xfe", "nope"])
def test_json_body_errors_are_400(raw):
    with pytest.raises(api.ApiError) as info:
        api.parse_json_body(raw)
    assert info.value.status == 400 and info.value.field == "request"


def test_json_body_ok():
    assert api.parse_json_body(b'{"a": 1}') == {"a": 1}


# (field, valid values, out-of-range values, wrong-type values)
FIELD_CASES = [
    ("prompt", ["x", "a" * params.MAX_PROMPT_CHARS], ["a" * (params.MAX_PROMPT_CHARS + 1), "   "], [3, True, ["x"]]),
    ("input_video", ["clip.mp4", "https://example.com/a.mp4", "data:video/mp4;base64,AAAA"], [], [3, False, {}]),
    ("input_image", ["img.png", "https://example.com/a.png", ""], [], [1.5, True]),
    ("control_video_url", ["ctrl.mp4", "https://example.com/c.mp4"], [], [0, []]),
    ("skip_control_preprocess", [True, False], [], ["true", 1, 0, "no"]),
    ("preserve_original_video", [False], [], ["yes", 1]),
    ("video_strength", [0, 0.0, 0.5, 1, 1.0], [-0.01, 1.01, 2, float("nan")], ["0.5", True, [0.5]]),
    ("strength", [0.01, 0.5, 1.0], [0, 0.0, -1, 1.5], ["1", False]),
    ("num_frames", [9, 17, 121, 481, 100.0], [8, 0, -1, 482, 1000], ["121", 12.5, True]),
    ("resolution", list(params.RESOLUTIONS), ["1080p", "AUTO", ""], [1, True]),
    ("frames_per_second", [1, 24, 23.976, 60], [0, 0.5, 61, 120], ["24", False]),
    ("generate_audio", [True, False], [], ["false", 0]),
    ("video_quality", list(params.VIDEO_QUALITIES), ["ultra", ""], [3]),
    ("negative_prompt", ["", "blurry"], ["a" * (params.MAX_PROMPT_CHARS + 1)], [5, ["x"]]),
    ("seed", [0, 42, params.SEED_MAX], [-1, params.SEED_MAX + 1], ["42", 1.5, False]),
    ("control_type", ["canny"], ["edges"], [1]),
]


@pytest.mark.parametrize("field,valid,out_of_range,wrong_type", FIELD_CASES, ids=[c[0] for c in FIELD_CASES])
def test_every_field_valid_out_of_range_wrong_type(field, valid, out_of_range, wrong_type):
    for value in valid:
        s = api.parse_request(body(**{field: value}))
        got = getattr(s, field)
        if params.BY_NAME[field].kind == "media" and value == "":
            assert got is None
        elif field == "num_frames":
            assert got == params.snap_num_frames(int(value))
        else:
            assert got == value, (field, value, got)
    for value in out_of_range:
        rejects(body(**{field: value}), field)
    for value in wrong_type:
        rejects(body(**{field: value}), field)
    if not params.BY_NAME[field].required:  # null means "absent" for optional fields
        assert getattr(api.parse_request(body(**{field: None})), field) == (
            params.BY_NAME[field].default if field != "num_frames" else 121)


def test_every_parameter_is_covered_by_the_field_cases():
    assert {c[0] for c in FIELD_CASES} == set(params.BY_NAME)


@pytest.mark.parametrize("field", [p.name for p in params.PARAMS if p.required])
def test_required_fields(field):
    rejects(body(**{field: ...}), field)
    rejects(body(**{field: None}), field)


def test_missing_dependency_preserve_original_video():
    e = rejects(body(preserve_original_video=True), "preserve_original_video")
    assert "skip_control_preprocess" in e.detail and "control_video_url" in e.detail
    rejects(body(preserve_original_video=True, skip_control_preprocess=True), "preserve_original_video")
    rejects(body(preserve_original_video=True, control_video_url="c.mp4"), "preserve_original_video")
    s = api.parse_request(body(preserve_original_video=True, skip_control_preprocess=True,
                               control_video_url="c.mp4", strength=0.4))
    assert s.preserve_original_video and s.strength == 0.4 and s.use_control_video


def test_ignored_combinations_are_reported_not_refused():
    s = api.parse_request(body(skip_control_preprocess=True))
    assert any("skip_control_preprocess" in n for n in s.notes)
    s = api.parse_request(body(control_video_url="c.mp4"))
    assert any("control_video_url" in n for n in s.notes)
    s = api.parse_request(body(strength=0.5))
    assert any(n.startswith("strength") for n in s.notes)
    s = api.parse_request(body(num_frames=100))
    assert s.num_frames == 97 and s.requested_num_frames == 100 and any("num_frames" in n for n in s.notes)


def test_control_type_availability():
    rejects(body(control_type="depth"), "control_type", available_control_types=("canny",))
    api.parse_request(body(control_type="depth"))  # available everywhere when not restricted
    # with a given control video the control type is not used
    api.parse_request(body(control_type="pose", skip_control_preprocess=True, control_video_url="c.mp4"),
                      available_control_types=("canny",))


def test_choose_seed():
    s = api.parse_request(body(seed=7))
    assert api.choose_seed(s) == (7, "request")
    s = api.parse_request(body())
    seed, source = api.choose_seed(s)
    assert source == "random" and 0 <= seed < 2 ** 53
    assert api.choose_seed is params.choose_seed  # one seed rule (the Settings node uses it too)


def test_choose_seed_draws_from_the_given_rng():
    import random

    s = api.parse_request(body())
    assert params.choose_seed(s, random.Random(3)) == (random.Random(3).randrange(0, 2 ** 53), "random")
    assert params.RANDOM_SEED_LIMIT == 2 ** 53
    assert params.random_seed_note(12) == "seed: none given; using 12"
    s = api.parse_request(body(seed=0))
    assert params.choose_seed(s, random.Random(3)) == (0, "request")  # 0 is a seed, not "none"


def test_summarize_request_shortens_data_uris_only():
    uri = "data:video/mp4;base64," + "A" * 5000
    out = api.summarize_request(body(input_video=uri, prompt="p" * 3000))
    assert out["input_video"] == "data:video/mp4;base64,<5000 base64 characters>"
    assert out["prompt"] == "p" * 3000  # not a media field: kept
    assert api.summarize_request(body())["input_video"] == "clip.mp4"


# ----------------------------------------------------------------------------------------
# Model object and schema
# ----------------------------------------------------------------------------------------

def test_model_object_carries_the_generated_schema():
    obj = api.model_object()
    assert obj["id"] == MODEL and obj["name"] == api.MODEL_NAME
    schema = obj["json_request_schema"]
    assert schema == params.json_request_schema()
    assert set(schema["properties"]) == {"model"} | set(params.BY_NAME)
    assert schema["required"] == ["prompt", "input_video"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["model"]["const"] == MODEL
    assert props["resolution"]["enum"] == list(params.RESOLUTIONS)
    assert props["video_quality"]["default"] == "high"
    assert props["num_frames"] == {**props["num_frames"], "type": "integer", "minimum": 9, "maximum": 481}
    assert props["strength"]["exclusiveMinimum"] == 0 and props["strength"]["maximum"] == 1
    assert "default" not in props["seed"]
    assert props["control_type"]["x-pack-extra"] is True
    json.dumps(obj)  # serialisable


def test_route_table():
    """One table of routes: unique method+path, each answered by a method of the glue's
    GenerationService, and the model object's endpoints taken from it."""
    import ast

    keys = [(r.method, r.path) for r in api.ROUTES]
    assert len(keys) == len(set(keys)) == 9
    assert all(r.path.startswith("/api/") and r.method in ("GET", "POST", "DELETE") for r in api.ROUTES)
    tree = ast.parse((ROOT / "nodes" / "glue" / "routes.py").read_text(encoding="utf-8"))
    service = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "GenerationService")
    handlers = {n.name for n in service.body if isinstance(n, ast.AsyncFunctionDef)}
    missing = {r.handler for r in api.ROUTES} - handlers
    assert not missing, missing
    assert api.model_object()["endpoints"] == {
        "sync": "POST /api/ai/videos/generate",
        "queue": "POST /api/ai/queue",
        "status": "GET /api/ai/queue/{generation_id}",
        "cancel": "DELETE /api/ai/queue/{generation_id}",
        "events": "GET /api/events",
    }


def test_schema_agrees_with_validation_on_defaults_and_ranges():
    props = params.json_request_schema()["properties"]
    for p in params.PARAMS:
        s = props[p.name]
        if "default" in s:
            assert s["default"] == p.default
        if "maximum" in s:
            rejects(body(**{p.name: s["maximum"] + 1}), p.name)
            api.parse_request(body(**{p.name: s["maximum"]}))


# ----------------------------------------------------------------------------------------
# Prompt building
# ----------------------------------------------------------------------------------------

def test_build_prompt_sets_only_the_settings_node():
    wf = api.load_workflow()
    original = copy.deepcopy(wf)
    s = api.parse_request(body(num_frames=100, resolution="square", input_image="img.png", generate_audio=False))
    prompt = api.build_prompt(wf, s, seed=123)
    assert wf == original  # not mutated
    nid = api.settings_node_id(prompt)
    assert nid == "1" and prompt[nid]["class_type"] == api.SETTINGS_CLASS
    inputs = prompt[nid]["inputs"]
    assert set(inputs) == set(params.BY_NAME)
    assert inputs["seed"] == 123 and inputs["num_frames"] == 100  # the node rounds and reports it
    assert inputs["resolution"] == "square" and inputs["input_image"] == "img.png"
    assert inputs["control_video_url"] == "" and inputs["generate_audio"] is False
    assert inputs["negative_prompt"] == params.DEFAULT_NEGATIVE_PROMPT
    for other in set(wf) - {nid}:
        assert prompt[other] == wf[other]
    assert api.find_nodes(prompt, api.SAVE_CLASS) == ["25"]


def test_build_prompt_needs_one_settings_node():
    s = api.parse_request(body())
    with pytest.raises(ValueError):
        api.build_prompt({"9": {"class_type": "Other", "inputs": {}}}, s, 1)


def test_required_models_of_the_shipped_workflow():
    listed = api.required_models(api.load_workflow())
    models = {(m["folder"], m["name"]) for m in listed if not m["optional"]}
    assert models == {
        ("checkpoints", "ltx-2.3-22b-dev.safetensors"),
        ("loras", "ltx-2.3-22b-distilled-lora-384-1.1.safetensors"),
        ("loras", "ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors"),
        ("text_encoders", "gemma_3_12B_it.safetensors"),
    }
    assert {name for _, name in models} == set(api.MODEL_SOURCES)
    for m in listed:  # preprocessor weights: only for some control types
        assert not m["optional"] or m["needed_for"].startswith("control_type"), m


def test_required_models_optional_inputs():
    wf = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}},
          "2": {"class_type": "X", "inputs": {"depth_model": "d.pth", "lora_name": ["1", 0], "pose_estimator": ""}},
          "3": {"class_type": "Y", "inputs": {"ckpt_name": "a.safetensors"}}}
    got = api.required_models(wf)
    assert [(m["folder"], m["name"], m["optional"]) for m in got] == [
        ("checkpoints", "a.safetensors", False), ("rv2v_depth", "d.pth", True)]
    assert api.model_source("ltx-2.3-22b-dev.safetensors").startswith("Hugging Face Lightricks/LTX-2.3")
    assert api.model_source("unknown.bin") == "the README (Model files)"


def test_node_error_message_extracts_the_field():
    errors = {"1": {"errors": [{"type": "custom_validation_failed", "message": "Custom validation failed for node",
                                "details": "prompt - input_video: 'x.mp4' was not found in ComfyUI's input folder"}],
                    "class_type": "RV2V_Settings"}}
    assert api.node_error_message(errors) == ("input_video", "input_video: 'x.mp4' was not found in ComfyUI's input folder")
    errors = {"2": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                                "details": "ckpt_name: 'a' not in []"}], "class_type": "CheckpointLoaderSimple"}}
    field, msg = api.node_error_message(errors)
    assert field is None and "CheckpointLoaderSimple (node 2)" in msg and "ckpt_name" in msg


# ----------------------------------------------------------------------------------------
# History and progress
# ----------------------------------------------------------------------------------------

def _entry(status_str, messages, outputs=None):
    return {"status": {"status_str": status_str, "completed": status_str == "success", "messages": messages},
            "outputs": outputs or {}}


def test_interpret_history_success():
    out = {"25": {"images": [{"filename": "LTX23_RV2V_00001_.mp4", "subfolder": "", "type": "output"}],
                  "animated": [True]},
           "1": {"text": ["ok"]}}
    got = api.interpret_history(_entry("success", [["execution_success", {}]], out), ["25"])
    assert got == {"status": "succeeded", "error_message": None,
                   "result": {"filename": "LTX23_RV2V_00001_.mp4", "subfolder": "", "type": "output"}}
    assert api.view_path(got["result"]) == "/view?filename=LTX23_RV2V_00001_.mp4&subfolder=&type=output"


def test_interpret_history_failures():
    err = ["execution_error", {"node_id": "7", "node_type": "RV2V_ReferencePlan",
                               "exception_message": "input_video: cannot decode"}]
    got = api.interpret_history(_entry("error", [["execution_start", {}], err]))
    assert got["status"] == "failed" and got["error_message"].startswith("input_video: cannot decode")
    assert "RV2V_ReferencePlan" in got["error_message"]
    got = api.interpret_history(_entry("error", [["execution_interrupted", {"node_id": "20",
                                                                             "node_type": "SamplerCustomAdvanced"}]]))
    assert got["status"] == "cancelled" and "interrupted" in got["error_message"]
    got = api.interpret_history(_entry("success", [], {"9": {"images": [{"filename": "a.png"}]}}))
    assert got["status"] == "failed" and "MP4" in got["error_message"]


def test_progress_fraction():
    assert api.progress_fraction({}, 10) == 0.0
    assert api.progress_fraction({"a": {"state": "finished"}}, 0) == 0.0
    nodes = {"1": {"state": "finished", "value": 1, "max": 1}, "2": {"state": "finished"},
             "3": {"state": "running", "value": 4, "max": 8}, "4": {"state": "pending"},
             "5": {"state": "running", "value": 1, "max": 0}, "6": {"state": "error"}}
    assert api.progress_fraction(nodes, 10) == 0.25
    assert api.progress_fraction({"1": {"state": "NodeState.Finished"}}, 2) == 0.5
    assert api.progress_fraction({str(i): {"state": "finished"} for i in range(20)}, 10) == 1.0


# ----------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------

def _record(store=None, status=None):
    s = api.parse_request(body(input_video="data:video/mp4;base64," + "A" * 100))
    rec = api.new_record(api.new_generation_id(), body(), s, 5, "random", "queue", 25, ["25"])
    if status:
        rec["status"] = status
    if store is not None:
        store.save(rec)
    return rec


def test_public_view():
    rec = _record()
    view = api.public_view(rec, "http://h:1")
    assert view["status"] == "queued" and "result_url" not in view and "error_message" not in view
    api.transition(rec, "succeeded", result={"filename": "a b.mp4", "subfolder": "x", "type": "output"})
    view = api.public_view(rec, "http://h:1/")
    assert view["result_url"] == "http://h:1/view?filename=a+b.mp4&subfolder=x&type=output"
    assert view["result"]["url"] == view["result_url"] and view["result"]["content_type"] == "video/mp4"
    assert view["progress"] == 1.0
    rec2 = _record()
    api.transition(rec2, "failed", error_message="boom")
    assert api.public_view(rec2)["error_message"] == "boom"


def test_store_roundtrip_and_listing(tmp_path):
    store = api.RecordStore(tmp_path / "gen")
    a, b = _record(store), _record(store)
    assert store.load(a["generation_id"]) == a
    assert [r["generation_id"] for r in store.load_all()] == [a["generation_id"], b["generation_id"]]
    assert store.load("../../etc/passwd") is None
    assert store.load(api.new_generation_id()) is None
    with pytest.raises(ValueError):
        store.path("../x")


def test_store_writes_are_atomic(tmp_path, monkeypatch):
    store = api.RecordStore(tmp_path)
    rec = _record(store)
    before = (tmp_path / f"{rec['generation_id']}.json").read_bytes()
    changed = dict(rec, status="failed", error_message="x")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        store.save(changed)
    monkeypatch.undo()
    assert (tmp_path / f"{rec['generation_id']}.json").read_bytes() == before  # old record intact
    assert [p.name for p in tmp_path.iterdir()] == [f"{rec['generation_id']}.json"]  # no temp file left
    assert store.load(rec["generation_id"])["status"] == "queued"


def test_store_removes_stray_temp_files_and_skips_corrupt_records(tmp_path):
    (tmp_path / ".tmp-abc.json").write_text("{half")
    gid = api.new_generation_id()
    (tmp_path / f"{gid}.json").write_text("{half a record")
    (tmp_path / f"{api.new_generation_id()}.json").write_text(json.dumps({"generation_id": "someone-else"}))
    stray = tmp_path / f".{gid}.json.k3j2x1.tmp"  # what an interrupted atomic.write_bytes leaves
    stray.write_text("{half")
    keep = tmp_path / "notes.txt"
    keep.write_text("not ours")
    store = api.RecordStore(tmp_path)
    assert not (tmp_path / ".tmp-abc.json").exists()
    assert not stray.exists() and keep.exists()
    assert store.load_all() == [] and store.load(gid) is None


def test_store_temp_files_are_the_ones_it_cleans(tmp_path, monkeypatch):
    """The store's own temporary file (atomic.write_bytes) matches what it removes on start."""
    store = api.RecordStore(tmp_path)
    rec = _record()
    seen = []

    def boom(src, dst):
        seen.append(os.path.basename(src))
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        store.save(rec)
    monkeypatch.undo()
    assert len(seen) == 1
    (tmp_path / seen[0]).write_text("{half")  # as if the process had died before the rename
    api.RecordStore(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_store_records_are_private(tmp_path):
    store = api.RecordStore(tmp_path)
    rec = _record(store)
    assert (tmp_path / f"{rec['generation_id']}.json").stat().st_mode & 0o777 == 0o600


# ----------------------------------------------------------------------------------------
# Server-sent events
# ----------------------------------------------------------------------------------------

def test_sse_event_format():
    data = {"generation_id": "g1", "status": "succeeded", "result_url": "http://h/view?a=1"}
    raw = api.sse_event(api.COMPLETED_EVENT, data, 7)
    text = raw.decode()
    assert text.endswith("\n\n") and text.count("\n\n") == 1
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "event: media_generation_completed"  # event line first,
    assert lines[1].startswith("data: ") and json.loads(lines[1][6:]) == data  # then one data JSON line
    assert lines[2] == "id: 7"


def test_sse_multiline_and_roundtrip():
    raw = api.sse_event(None, "line1\nline2\r\nline3")
    assert raw == b"data: line1\ndata: line2\ndata: line3\n\n"
    stream = (api.sse_comment("hi") + api.sse_event("a", {"x": "é"}, "1") + b"retry: 3000\n\n"
              + api.sse_event(None, "plain")).decode()
    events = list(api.parse_sse(stream.splitlines(keepends=True)))
    assert events[0] == {"event": "a", "data": '{"x":"é"}', "id": "1"}
    assert events[1] == {"retry": "3000", "data": "", "event": "message"}
    assert events[2] == {"event": "message", "data": "plain"}
    assert api.sse_comment("keep-alive") == b": keep-alive\n\n"


@pytest.mark.parametrize("name", ["", "a\nb", "a:b"])
def test_sse_bad_event_names(name):
    with pytest.raises(ValueError):
        api.sse_event(name, {})


# ----------------------------------------------------------------------------------------
# Authorization
# ----------------------------------------------------------------------------------------

def test_api_key_sources(tmp_path):
    cfg = tmp_path / "rv2v_api.json"
    assert api.load_api_key({}, cfg) is None
    assert api.load_api_key({}, None) is None
    cfg.write_text(json.dumps({"api_key": " s3cret "}))
    assert api.load_api_key({}, cfg) == "s3cret"
    assert api.load_api_key({"RV2V_API_KEY": "env"}, cfg) == "env"
    cfg.write_text(json.dumps({"api_key": ""}))
    assert api.load_api_key({}, cfg) is None
    for bad in ("{", json.dumps({"key": "x"}), json.dumps(["x"])):
        cfg.write_text(bad)
        with pytest.raises(api.AuthConfigError):
            api.load_api_key({}, cfg)


def test_check_authorization():
    api.check_authorization(None, None)
    api.check_authorization("Bearer anything", None)  # accepted but not required
    api.check_authorization("Bearer k1", "k1")
    api.check_authorization("bearer   k1 ", "k1")
    for header in (None, "", "k1", "Basic k1", "Bearer", "Bearer k2"):
        with pytest.raises(api.ApiError) as info:
            api.check_authorization(header, "k1")
        assert info.value.status == 401 and info.value.field == "authorization"


# ----------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------

def _args(argv):
    return cli.build_parser().parse_args(["generate", *argv])


def test_cli_flags_make_the_request_body(tmp_path):
    req = tmp_path / "body.json"
    req.write_text(json.dumps({"model": MODEL, "prompt": "from file", "input_video": "https://e.com/a.mp4",
                               "num_frames": 33, "generate_audio": True}))
    args = _args(["--request", str(req), "--prompt", "from flag", "--num-frames", "17", "--generate-audio", "false",
                  "--video_strength", "0.3", "--skip-control-preprocess", "--seed", "9", "--resolution", "square"])
    b = request_from_args(args)
    assert b == {"model": MODEL, "prompt": "from flag", "input_video": "https://e.com/a.mp4", "num_frames": 17,
                 "generate_audio": False, "video_strength": 0.3, "skip_control_preprocess": True, "seed": 9,
                 "resolution": "square"}
    s = validate_request(b)
    assert s.num_frames == 17 and s.seed == 9


def test_cli_flag_errors_name_the_field(tmp_path):
    with pytest.raises(CliError) as info:
        request_from_args(_args(["--num-frames", "many"]))
    assert info.value.code == 2 and "--num-frames" in str(info.value)
    with pytest.raises(CliError) as info:
        validate_request(request_from_args(_args(["--prompt", "x", "--input-video", "a.mp4",
                                                          "--preserve-original-video"])))
    assert info.value.code == 2 and "preserve_original_video" in str(info.value)
    bad = tmp_path / "b.json"
    bad.write_text("[1]")
    with pytest.raises(CliError):
        request_from_args(_args(["--request", str(bad)]))
    with pytest.raises(CliError) as info:
        validate_request({"model": "other", "prompt": "x", "input_video": "a"})
    assert "model" in str(info.value)


def test_cli_local_media_detection(tmp_path):
    f = tmp_path / "clip.mp4"
    f.write_bytes(b"x")
    assert local_media(str(f)) == f
    assert local_media("not-here.mp4") is None  # passed through as an input-folder name
    assert local_media("https://e.com/clip.mp4") is None
    assert local_media("data:video/mp4;base64,AA==") is None


def test_websocket_framing():
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    assert ws_accept_key(key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 example
    for n in (0, 5, 125, 126, 65535, 65536):
        payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        frame = ws_encode_frame(0x1, payload, mask=b"\x01\x02\x03\x04")
        (fin, op, got), used = ws_decode_frame(frame + b"extra")
        assert (fin, op, got, used) == (True, 1, payload, len(frame))
        assert ws_decode_frame(frame[:-1]) == (None, 0) or n == 0
    unmasked = bytes([0x81, 2]) + b"hi"
    assert ws_decode_frame(unmasked) == ((True, 1, b"hi"), 4)


def test_progress_bar_rendering(capsys):
    import io

    out = io.StringIO()
    bar = ProgressBar(stream=out, width=10)
    assert bar.render(0.42, "SamplerCustomAdvanced 3/8") == "[####------]  42.0% SamplerCustomAdvanced 3/8"
    for f in (0.0, 0.01, 0.05, 0.15, 1.0):
        bar.update(f, "x")
    assert out.getvalue().count("\n") == 3  # non-tty: one line per 10% step


def test_cli_models_lists_and_checks(tmp_path, capsys):
    models = tmp_path / "models"
    (models / "checkpoints").mkdir(parents=True)
    (models / "checkpoints" / "ltx-2.3-22b-dev.safetensors").write_bytes(b"")
    rc = cli.main(["models", "--models-dir", str(models)])
    out = capsys.readouterr().out
    assert rc == 1 and "3 of 4 required files missing" in out
    assert "ok       models/checkpoints/ltx-2.3-22b-dev.safetensors" in out
    assert "MISSING  models/text_encoders/gemma_3_12B_it.safetensors" in out
    assert "Comfy-Org/ltx-2" in out
    rc = cli.main(["models", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert rc == 0 and len([r for r in rows if not r["optional"]]) == 4 and all("present" not in r for r in rows)
    for name in ("ltx-2.3-22b-dev.safetensors", "ltx-2.3-22b-distilled-lora-384-1.1.safetensors",
                 "ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors", "gemma_3_12B_it.safetensors"):
        (models / dict((r["name"], r["folder"]) for r in rows)[name]).mkdir(exist_ok=True)
        (models / dict((r["name"], r["folder"]) for r in rows)[name] / name).write_bytes(b"")
    assert cli.main(["models", "--models-dir", str(models)]) == 0  # optional files do not fail the check
    assert "0 of 4 required files missing" in capsys.readouterr().out


def test_cli_runs_as_a_script_without_a_top_level_nodes_package(tmp_path):
    code = ("import runpy, sys; sys.argv = ['cli.py', 'models', '--json']; "
            "runpy.run_path('nodes/cli.py', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr  # run_path exits through sys.exit(0)
    assert len([r for r in json.loads(proc.stdout) if not r["optional"]]) == 4
    proc = subprocess.run([sys.executable, str(ROOT / "nodes" / "cli.py"), "generate", "--prompt", "x"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and "input_video" in proc.stderr
    check = ("import sys, runpy; sys.argv=['cli.py','models']; "
             "\ntry:\n runpy.run_path('nodes/cli.py', run_name='__main__')\nexcept SystemExit: pass\n"
             "print('NODES', 'nodes' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True)
    assert "NODES False" in proc.stdout, proc.stdout + proc.stderr


def test_cli_runs_as_a_module_from_the_pack_folder(tmp_path):
    """``python -m nodes.cli`` (README) runs nodes/cli/__main__.py: the same commands and exit codes as the
    script; the script ``nodes/cli.py`` next to the package does not hide it (a package is found first)."""
    proc = subprocess.run([sys.executable, "-m", "nodes.cli", "models", "--json"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert len([r for r in json.loads(proc.stdout) if not r["optional"]]) == 4
    proc = subprocess.run([sys.executable, "-m", "nodes.cli", "generate", "--prompt", "x"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "input_video" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, str(ROOT / "nodes" / "cli.py"), "models", "--help"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "--models-dir" in proc.stdout, proc.stderr


FAKE_COMFY_MAIN = """
import http.server, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/system_stats" else 404)
        self.end_headers()
        self.wfile.write(b"{}")
print("fake ComfyUI on", port, sys.argv[1:], flush=True)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def test_local_comfy_starts_on_a_free_loopback_port_and_stops(tmp_path):
    from rv2v.nodes.cli.local_comfy import LocalComfy

    (tmp_path / "main.py").write_text(FAKE_COMFY_MAIN)
    said = []
    local = LocalComfy(str(tmp_path), sys.executable, ["--cpu"], startup_timeout=60, say=said.append)
    local.start()
    try:
        assert local.url == f"http://127.0.0.1:{local.port}" and local.proc.poll() is None
        assert "--listen 127.0.0.1" in said[0] and "--disable-auto-launch --cpu" in said[0]
    finally:
        local.close()
    assert local.proc is None and said[-1].startswith("stopped ComfyUI (its log: ")
    assert "fake ComfyUI on" in Path(local.log.name).read_text()  # kept: the run did not succeed
    local.keep_log = False
    local.close()
    assert said[-1] == "stopped ComfyUI" and not Path(local.log.name).exists()
    with pytest.raises(CliError) as info:
        LocalComfy(str(tmp_path / "nowhere"))
    assert info.value.code == 2 and "no main.py" in str(info.value)
    (tmp_path / "main.py").write_text("raise SystemExit(3)")
    bad = LocalComfy(str(tmp_path), sys.executable, startup_timeout=60, say=said.append)
    with pytest.raises(CliError, match="exited with 3 during startup"):
        bad.start()
    bad.remove_log()


def _clip(path, width=96, height=64, frames=12, fps=24):
    import av
    import numpy as np

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            img[:, : 8 + 6 * i] = 255
            img[20:40, 30:50] = (0, 200, 0)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def test_cli_control_makes_the_control_video(tmp_path, capsys):
    av = pytest.importorskip("av")
    pytest.importorskip("torch")
    src = _clip(tmp_path / "ref.mp4")
    out = tmp_path / "control.mp4"
    rc = cli.main(["control", "--input-video", str(src), "--output", str(out), "--num-frames", "9",
                   "--frames-per-second", "12", "--resolution", "square", "--quiet"])
    assert rc == 0 and capsys.readouterr().out.strip() == str(out)
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert not c.streams.audio
    assert len(frames) == 9 and frames[0].shape == (512, 512, 3)
    gray = frames[4].mean(axis=2)
    assert (gray > 128).mean() > 0.001 and (gray < 64).mean() > 0.5  # sparse white edges on black
    rc = cli.main(["control", "--input-video", str(src), "--output", str(out), "--control-type", "depth"])
    assert rc == 2 and "control_type" in capsys.readouterr().err
    rc = cli.main(["control", "--input-video", str(tmp_path / "missing.mp4"), "--output", str(out)])
    assert rc == 1 and "input_video" in capsys.readouterr().err
