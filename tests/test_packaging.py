"""Pack layout, registry metadata, requirements parity, help pages."""
import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _reqs(lines):
    return sorted(l.strip() for l in lines if l.strip() and not l.strip().startswith(("#", "-r")))


def test_top_level_layout():
    names = {p.name for p in ROOT.iterdir() if not p.name.startswith(".") or p.name == ".ci"}
    names -= {"__pycache__", "test-output"}
    assert names == {"nodes", "workflows", "js", "tests", "__init__.py", "pyproject.toml", "README.md",
                     ".ci", "requirements.txt", "LICENSE"}, names


def test_pyproject_is_registry_ready_and_matches_requirements():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project, comfy = data["project"], data["tool"]["comfy"]
    for key in ("name", "version", "description", "license", "dependencies", "urls"):
        assert project.get(key), key
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert project["license"] == {"file": "LICENSE"} and (ROOT / "LICENSE").is_file()
    assert "Repository" in project["urls"]
    assert comfy["PublisherId"] and comfy["DisplayName"] and comfy["requires-comfyui"].startswith(">=")
    reqs = _reqs((ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines())
    assert reqs == sorted(project["dependencies"])
    assert not any(r.split("<")[0].split(">")[0].split("=")[0].strip().lower() == "torch" for r in reqs), \
        "torch must never be listed: pip would replace the user's CUDA build"


def test_every_node_has_a_help_page():
    info = json.loads((ROOT / "tests" / "data" / "rv2v_object_info.json").read_text(encoding="utf-8"))
    for node_id in info:
        page = ROOT / "js" / "docs" / f"{node_id}.md"
        assert page.is_file(), f"missing help page {page.relative_to(ROOT)}"
        assert page.read_text(encoding="utf-8").startswith("# ")


def test_snapshot_nodes_have_tooltips_prefix_and_one_category():
    info = json.loads((ROOT / "tests" / "data" / "rv2v_object_info.json").read_text(encoding="utf-8"))
    for node_id, node in info.items():
        assert node_id.startswith("RV2V_") and node["category"] == "LTX-2.3 Reference V2V"
        for section in ("required", "optional"):
            for name, spec in (node["input"].get(section) or {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"


def test_web_directory_holds_only_files_meant_to_load():
    js = [p for p in (ROOT / "js").rglob("*.js")]
    for p in js:
        assert "test" not in p.name and not p.name.endswith(".min.js.map"), p
