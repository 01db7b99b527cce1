"""The Settings node's combination rules in the browser equal the backend's.

The rules travel in the node definition (``rv2v_rules`` on each Settings input, generated from the
parameter table). ``js/rv2v_rules.js`` evaluates them; here Node.js runs that file on every
combination of the fields involved and the results are compared with ``params.validate``:
the backend's error message is among the inline messages, a valid request shows none, and the fields
the UI marks inactive are the ones the backend notes as ignored. Skipped without ``node``.
"""
from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rv2v.nodes.pure import params as P

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "data" / "rv2v_object_info.json"
NODE = shutil.which("node") or shutil.which("nodejs")

GRID = {
    "prompt": ["", "a fox"],
    "input_video": ["", "ref.mp4"],
    "control_video_url": ["", "control.mp4"],
    "skip_control_preprocess": [False, True],
    "preserve_original_video": [False, True],
    "strength": [1.0, 0.5],
    "control_type": ["canny", "depth"],
}


def combos():
    keys = list(GRID)
    for values in itertools.product(*(GRID[k] for k in keys)):
        yield dict(zip(keys, values))


def node_definition_rules() -> dict:
    info = json.loads(SNAPSHOT.read_text(encoding="utf-8"))["RV2V_Settings"]
    return info


def test_rules_in_the_node_definition_come_from_the_parameter_table():
    info = node_definition_rules()
    found = {}
    for group in info["input"].values():
        for name, spec in group.items():
            if isinstance(spec, list) and len(spec) > 1 and "rv2v_rules" in spec[1]:
                found[name] = spec[1]["rv2v_rules"]
    expected = {p.name: P.ui_rules(p) for p in P.PARAMS if P.ui_rules(p)}
    assert found == expected
    assert set(found) >= {"preserve_original_video", "control_video_url", "strength", "prompt", "input_video"}


def backend(values):
    try:
        s = P.validate(values)
    except P.ParamError as exc:
        return str(exc), set()
    return None, {n.split(":", 1)[0] for n in s.notes if "ignored because" in n}


def test_browser_rules_match_backend_validation(tmp_path):
    if NODE is None:
        from e2e import harness

        harness.unavailable("needs Node.js to run js/rv2v_rules.js")
    cases = list(combos())
    script = tmp_path / "run.mjs"
    script.write_text(
        f"import {{ evaluateRules, rulesFromNodeDef }} from {json.dumps((ROOT / 'js' / 'rv2v_rules.js').as_uri())};\n"
        f"const def = {json.dumps(node_definition_rules())};\n"
        f"const cases = {json.dumps(cases)};\n"
        "const rules = rulesFromNodeDef(def);\n"
        "console.log(JSON.stringify(cases.map((c) => evaluateRules(rules, c))));\n",
        encoding="utf-8",
    )
    out = subprocess.run([NODE, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert len(results) == len(cases) == 2 ** len(GRID)
    errors_seen = 0
    for values, ui in zip(cases, results):
        error, ignored = backend(values)
        messages = [e["message"] for e in ui["errors"]]
        if error is None:
            assert messages == [], (values, messages)
            # every field the backend reports as ignored is shown as inactive, and vice versa for
            # fields holding a non-default value
            shown = {f for f in ui["inactive"] if values.get(f) not in ("", None, P.BY_NAME[f].default)}
            shown = {f for f in shown if not ui["inactive"][f].startswith("needs ")}
            assert shown == ignored, (values, ui["inactive"], ignored)
        else:
            errors_seen += 1
            assert error in messages, (values, error, messages)
        # control_video_url is visible exactly when skip_control_preprocess is on
        assert ("control_video_url" in ui["hidden"]) is (not values["skip_control_preprocess"])
        # strength is greyed out exactly when preserve_original_video is off
        assert ("strength" in ui["greyed"]) is (not values["preserve_original_video"])
        # skip_control_preprocess always stays editable (else control_video_url could never be shown)
        assert "skip_control_preprocess" not in ui["greyed"]
    assert 0 < errors_seen < len(cases)
