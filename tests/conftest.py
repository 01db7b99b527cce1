"""Test bootstrap.

The repository root is a ComfyUI pack (a package whose folder name depends on
where it was cloned). Tests import it under the fixed alias ``rv2v`` so that
no top-level package called ``nodes`` is ever imported (ComfyUI owns that name).
"""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALIAS = "rv2v"

if ALIAS not in sys.modules:
    spec = importlib.util.spec_from_file_location(
        ALIAS, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[ALIAS] = module
    spec.loader.exec_module(module)
