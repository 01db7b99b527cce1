"""Design rules: pure modules import only allowed packages; nothing imports a top-level `nodes`."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"torch", "numpy", "einops", "safetensors", "av"}


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0], 0
        elif isinstance(node, ast.ImportFrom):
            yield (node.module or "").split(".")[0], node.level


def test_pure_modules_import_only_allowed_packages():
    import sys

    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for path in sorted((ROOT / "nodes" / "pure").rglob("*.py")):
        for name, level in _imports(path):
            if level:
                continue
            assert name in stdlib or name in ALLOWED, f"{path.name} imports {name}"


def test_no_absolute_import_of_a_top_level_nodes_package():
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).parts
        if rel[0] == ".venv" or rel[:2] == ("tests", "e2e"):  # test packs run inside ComfyUI
            continue
        for name, level in _imports(path):
            assert not (level == 0 and name == "nodes"), f"{path.relative_to(ROOT)} imports top-level 'nodes'"


def test_root_init_registers_only_inside_comfyui():
    import rv2v  # loaded by conftest without ComfyUI

    assert rv2v.WEB_DIRECTORY == "./js"
    assert not hasattr(rv2v, "comfy_entrypoint")
    assert "NODE_CLASS_MAPPINGS" not in (ROOT / "__init__.py").read_text()
