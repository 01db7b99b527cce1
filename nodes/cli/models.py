"""``models``: the model files the shipped workflow needs, and which are missing where."""
from __future__ import annotations

import json
from pathlib import Path

from ..pure import api
from .client import Client
from .errors import EXIT_FAILED, EXIT_OK


def model_status(args) -> list[dict]:
    """The shipped workflow's model files (the pack's one check, ``api.check_models``), looked up in a
    running server (``--server``), a ComfyUI's models folder (``--comfyui`` / ``--models-dir``), or
    nowhere (then no row has ``present``)."""
    needed = api.required_models(api.load_workflow())
    where = None
    if args.server:
        client = Client(args.server)
        where = f"the ComfyUI at {client.base}"

        def lookup(folder):
            status, names = client.json("GET", f"/models/{folder}")
            return (set(names) if status == 200 and isinstance(names, list) else set()), [f"{where}: {folder}"]
    elif args.comfyui or args.models_dir:
        root = Path(args.models_dir or Path(args.comfyui) / "models").expanduser()
        where = str(root)

        def lookup(folder):
            d = root / folder
            return ({f.name for f in d.iterdir() if f.is_file()} if d.is_dir() else set()), [str(d)]
    else:
        def lookup(folder):
            return set(), []
    rows = []
    for r in api.check_models(needed, lookup):
        row = {k: v for k, v in r.items() if k not in ("present", "paths")}
        row["path"] = f"models/{r['folder']}/{r['file']}"
        if where is not None:
            row["present"], row["checked_in"] = r["present"], where
        rows.append(row)
    return rows


def cmd_models(args) -> int:
    rows = model_status(args)
    required = [r for r in rows if not r["optional"]]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            state = "" if "present" not in r else ("  ok       " if r["present"] else "  MISSING  ")
            print(f"{state}{r['path']}" + (f"   (optional: only for {r['needed_for']})" if r["optional"] else ""))
            print(f"             used by {r['class_type']} (node {r['node']}); from {r['source']}")
        if "present" in rows[0]:
            missing = [r for r in required if not r["present"]]
            optional_missing = [r for r in rows if r["optional"] and not r["present"]]
            print(f"\n{len(missing)} of {len(required)} required files missing in {rows[0]['checked_in']}"
                  + (f"; {len(optional_missing)} optional files missing" if optional_missing else ""))
        else:
            print("\n(give --comfyui PATH, --models-dir DIR or --server URL to check which are missing)")
    return EXIT_FAILED if any(r.get("present") is False for r in required) else EXIT_OK
