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


def _imports_outside_functions(tree):
    """Imports that run when the module is imported (not inside a function body)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            yield from ((a.name.split(".")[0], 0, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield (node.module or "").split(".")[0], node.level, node.module or ""
        todo.extend(ast.iter_child_nodes(node))


def test_cli_imports_only_the_standard_library_and_pure_modules():
    """nodes/cli/ and the nodes/cli.py script run in their own process: never ComfyUI, never the glue;
    importing them needs only the standard library (torch/av only inside control's functions)."""
    import sys

    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    cli = ROOT / "nodes" / "cli"
    siblings = {p.stem for p in cli.glob("*.py")}
    paths = sorted(cli.rglob("*.py")) + [ROOT / "nodes" / "cli.py"]
    assert len(paths) >= 10
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):  # anywhere, also inside functions
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                assert (node.module or "").split(".")[0] == "pure", f"{path.name} imports ..{node.module}"
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                assert top in stdlib or top in ALLOWED, f"{path.name} imports {name}"
        for top, level, module in _imports_outside_functions(tree):
            if level == 0:
                assert top in stdlib, f"{path.name} imports {module} when imported"
            elif level == 1:
                assert top in siblings, f"{path.name} imports .{module}"
            else:
                assert module.split(".")[0] == "pure" and level == 2, f"{path.name} imports {module}"


def test_cli_generate_and_models_run_without_torch(tmp_path):
    """With torch, numpy, av (and comfy) unimportable, ``models`` works and ``generate`` validates."""
    import subprocess
    import sys

    block = "import sys; sys.modules.update(dict.fromkeys(['torch', 'numpy', 'av', 'einops', 'safetensors', 'comfy']))"
    script = str(ROOT / "nodes" / "cli.py")
    for argv, code, out in ((["models", "--json"], 0, '"folder"'),
                            (["generate", "--prompt", "x", "--input-video", "https://e.com/a.mp4",
                              "--num-frames", "many"], 2, "--num-frames"),
                            (["generate", "--help"], 0, "--input-video")):
        run = f"{block}; import runpy; sys.argv = ['cli.py', *{argv!r}]; runpy.run_path({script!r}, run_name='__main__')"
        proc = subprocess.run([sys.executable, "-c", run], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == code and out in proc.stdout + proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr


def test_root_init_registers_only_inside_comfyui():
    import rv2v  # loaded by conftest without ComfyUI

    assert rv2v.WEB_DIRECTORY == "./js"
    assert not hasattr(rv2v, "comfy_entrypoint")
    assert "NODE_CLASS_MAPPINGS" not in (ROOT / "__init__.py").read_text()
