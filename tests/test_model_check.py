"""The one missing-model check (api.check_models), used by the UI route and the CLI's models command."""
from __future__ import annotations

import argparse

from rv2v.nodes.cli import models as cli_models
from rv2v.nodes.pure import api, weights


def test_pose_choices_are_checked_as_the_file_that_loads_and_sources_are_given():
    needed = api.required_models(api.load_workflow())
    names = {m["name"] for m in needed}
    assert "yolox_l.onnx" in names  # the official workflow's choice
    present = {weights.POSE_FOLDER: {weights.POSE_DETECTOR.filename}}
    rows = api.check_models(needed, lambda folder: (present.get(folder, set()), [f"/m/{folder}"]))
    det = next(r for r in rows if r["name"] == "yolox_l.onnx")
    assert det["file"] == weights.POSE_DETECTOR.filename and det["present"] is True
    assert det["paths"] == [f"/m/{weights.POSE_FOLDER}"]
    others = [r for r in rows if r is not det]
    assert others and not any(r["present"] for r in others)
    assert all(r["source"] for r in rows)


def test_cli_models_uses_the_same_check(tmp_path):
    (tmp_path / weights.POSE_FOLDER).mkdir()
    (tmp_path / weights.POSE_FOLDER / weights.POSE_DETECTOR.filename).write_bytes(b"x")
    args = argparse.Namespace(server=None, comfyui=None, models_dir=str(tmp_path), json=True)
    rows = cli_models.model_status(args)
    det = next(r for r in rows if r["name"] == "yolox_l.onnx")
    assert det["present"] is True and det["path"] == f"models/{weights.POSE_FOLDER}/{weights.POSE_DETECTOR.filename}"
    assert all(r["checked_in"] == str(tmp_path) for r in rows)
    assert sum(r["present"] for r in rows) == 1
