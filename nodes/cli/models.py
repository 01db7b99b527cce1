"""``models``: the model files the shipped workflow needs, and which are missing where."""
from __future__ import annotations

import json
from pathlib import Path

from ..pure import api
from .client import Client
from .errors import EXIT_FAILED, EXIT_OK


def model_status(args) -> list[dict]:
    needed = api.required_models(api.load_workflow())
    available: dict[str, set] | None = None
    where = None
    if args.server:
        client = Client(args.server)
        available = {}
        for folder in sorted({m["folder"] for m in needed}):
            status, names = client.json("GET", f"/models/{folder}")
            available[folder] = set(names or []) if status == 200 and isinstance(names, list) else set()
        where = f"the ComfyUI at {client.base}"
    elif args.comfyui or args.models_dir:
        root = Path(args.models_dir or Path(args.comfyui) / "models").expanduser()
        available = {}
        for m in needed:
            folder = root / m["folder"]
            available.setdefault(m["folder"], set())
            if (folder / m["name"]).is_file():
                available[m["folder"]].add(m["name"])
        where = str(root)
    rows = []
    for m in needed:
        row = {**m, "source": api.model_source(m["name"]), "path": f"models/{m['folder']}/{m['name']}"}
        if available is not None:
            row["present"] = m["name"] in available.get(m["folder"], set())
            row["checked_in"] = where
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
