#!/usr/bin/env python3
"""``python nodes/cli.py ...``: the pack's command line as a script (see ``nodes/cli/__init__.py``).

This file is only run as a script: ``import nodes.cli`` finds the package ``nodes/cli/``,
because a regular package is found before a module of the same name in the same folder
(PEP 420, "Specification": https://peps.python.org/pep-0420/#specification).

It loads the pack under an alias, never as a top-level package called ``nodes`` (ComfyUI
owns that name), and without running the pack's ``__init__`` (which registers the nodes
when ComfyUI is importable); then it runs ``nodes/cli/main.py``.
"""
import importlib
import sys
import types
from pathlib import Path

ALIAS = "rv2v"


def _main() -> int:
    here = Path(__file__).resolve().parent  # the pack's nodes/ folder
    if sys.path and Path(sys.path[0] or ".").resolve() == here:
        sys.path.pop(0)  # the script's folder: its cli/, pure/, glue/ must not be top-level names
    if ALIAS not in sys.modules:
        pkg = types.ModuleType(ALIAS)
        pkg.__path__ = [str(here.parent)]
        pkg.__file__ = str(here.parent / "__init__.py")
        sys.modules[ALIAS] = pkg
    return importlib.import_module(f"{ALIAS}.nodes.cli.main").main()


if __name__ == "__main__":
    sys.exit(_main())
