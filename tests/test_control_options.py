"""The Control option table (nodes/pure/control_options.py) and what is generated from it."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from rv2v.nodes.cli import control as cli_control, main as cli
from rv2v.nodes.pure import composite, control_options as co, control_video as cv, params

ROOT = Path(__file__).resolve().parents[1]
KIND_TYPES = {"int": "INT", "float": "FLOAT", "bool": "BOOLEAN", "combo": "COMBO"}


def test_one_home_for_control_types_and_modes():
    assert params.CONTROL_TYPES is co.CONTROL_TYPES and cv.CONTROL_TYPES is co.CONTROL_TYPES
    assert params.BY_NAME["control_type"].choices == co.CONTROL_TYPES
    assert composite.MODES is co.COMPOSITE_MODES and composite.layers_for_mode is co.layers_for_mode
    assert co.by_name("composite_mode").choices == co.COMPOSITE_MODES


def test_table_rows_are_consistent():
    assert len(co.OPTIONS) == 16 and len(co.BY_NAME) == 16
    for o in co.OPTIONS:
        assert o.kind in KIND_TYPES, o.name
        assert o.tooltip.endswith("."), o.name
        assert o.used_by and o.used_by <= set(co.CONTROL_TYPES), o.name
        if o.kind == "int":
            assert type(o.default) is int and o.min <= o.default <= o.max, o.name
        elif o.kind == "float":  # a float default stays a float in the workflow JSON (1.0, not 1)
            assert type(o.default) is float and o.min <= o.default <= o.max, o.name
        elif o.kind == "bool":
            assert type(o.default) is bool, o.name
        else:
            assert o.default in o.choices, o.name
    assert co.defaults()["canny_low"] == 92 and co.defaults()["depth_input_size"] == 518
    with pytest.raises(KeyError, match="canny_lo.*canny_low"):
        co.by_name("canny_lo")


def test_for_type_and_layers():
    names = {t: [o.name for o in co.for_type(t)] for t in co.CONTROL_TYPES}
    assert names["canny"] == ["canny_low", "canny_high", "canny_resolution", "preview"]
    assert names["depth"] == ["depth_model", "depth_input_size", "download_missing", "preview"]
    assert names["pose"] == [*co.POSE_OPTIONS, "download_missing", "preview"]
    assert names["composite"] == [o.name for o in co.OPTIONS]
    assert co.layers("canny") == (False, True, False) and co.layers("depth") == (True, False, False)
    assert co.layers("pose") == (False, False, True) and co.layers("composite") == (True, True, True)
    assert co.layers("composite", "depth+pose") == (True, False, True)
    assert co.layers("depth", "nonsense") == (True, False, False)  # the mode only matters for composite
    with pytest.raises(ValueError, match="control_type must be one of canny, depth, pose, composite"):
        co.for_type("normal")
    with pytest.raises(ValueError, match="composite mode must be one of"):
        co.layers("composite", "pose+canny")


def test_snapshot_inputs_are_the_table():
    """The committed /object_info (compared with a live server by tests/e2e/test_contract.py) is the table."""
    info = json.loads((ROOT / "tests" / "data" / "rv2v_object_info.json").read_text(encoding="utf-8"))
    node = info["RV2V_Control"]
    assert node["input_order"]["required"][5:] == [o.name for o in co.OPTIONS]
    for o in co.OPTIONS:
        kind, spec = node["input"]["required"][o.name]
        assert kind == KIND_TYPES[o.kind] and spec["default"] == o.default and spec["tooltip"] == o.tooltip
        assert spec["advanced"] is o.advanced
        for key in ("min", "max", "step"):
            assert spec.get(key) == getattr(o, key), (o.name, key)
        if o.kind == "combo":
            assert spec["options"][:len(o.choices)] == list(o.choices)
    for node_id, names in (("RV2V_DepthPreprocessor", co.DEPTH_OPTIONS), ("RV2V_PosePreprocessor", co.POSE_OPTIONS)):
        node = info[node_id]
        assert node["input_order"]["required"][1:] == [*names, "download_missing"]
        for name in (*names, "download_missing"):
            _kind, spec = node["input"]["required"][name]
            assert spec["default"] == co.by_name(name).default and spec["advanced"] is False


def test_cli_flags_come_from_the_table():
    parser = cli.build_parser()
    args = parser.parse_args(["control", "--input-video", "x.mp4"])
    for o in co.OPTIONS:
        assert hasattr(args, o.name) is o.cli, o.name
        if o.cli:
            assert getattr(args, o.name) == o.default, o.name
    args = parser.parse_args(["control", "--input-video", "x.mp4", "--no-body", "--no-hands", "--download-missing",
                              "--canny-low", "10", "--edge-weight", "0.25", "--depth-model", "/some/path.pth",
                              "--composite-mode", "depth+canny"])
    assert (args.detect_body, args.detect_hand, args.detect_face) == (False, False, True)
    assert args.download_missing is True and args.canny_low == 10 and args.edge_weight == 0.25
    assert args.depth_model == "/some/path.pth" and args.composite_mode == "depth+canny"
    with pytest.raises(SystemExit):
        parser.parse_args(["control", "--input-video", "x.mp4", "--composite-mode", "pose+canny"])
    assert cli_control.DOWNLOAD_HINT == "pass --download-missing"


@pytest.mark.parametrize("func,rename", [
    (cv.control_frames, {"body": "detect_body", "hands": "detect_hand", "face": "detect_face"}),
    (cli_control.make_control, {}),
    (cli_control.control_models, {}),
])
def test_function_defaults_are_the_table(func, rename):
    seen = 0
    for name, p in inspect.signature(func).parameters.items():
        name = rename.get(name, name)
        if name in co.BY_NAME and p.default is not inspect.Parameter.empty and p.default is not None:
            assert p.default == co.by_name(name).default, (func.__name__, name)
            seen += 1
    assert seen >= 4


def test_pad_to():
    import torch

    x = torch.arange(2 * 3).view(2, 1, 1, 3).expand(2, 2, 2, 3)
    assert torch.equal(cv.pad_to(x, 4)[2:], x[1:].expand(2, -1, -1, -1)) and cv.pad_to(x, 4).shape[0] == 4
    assert cv.pad_to(x, 1).shape[0] == 1 and torch.equal(cv.pad_to(x, 2), x)
