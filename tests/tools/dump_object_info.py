"""Write tests/data/rv2v_object_info.json: the /object_info entries of the pack's nodes.

Run with ComfyUI's Python:  $COMFY_PYTHON tests/tools/dump_object_info.py $COMFYUI_PATH
File-list combos (input files, LoRAs) are emptied so the snapshot does not depend
on a machine's folders. tests/e2e checks the snapshot against a live server.
"""
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "rv2v_object_info.json"


def normalise(info: dict) -> dict:
    info.pop("python_module", None)  # depends on the folder the pack is installed in
    for section in ("required", "optional"):
        for name, spec in (info.get("input", {}).get(section) or {}).items():
            if len(spec) > 1 and isinstance(spec[1], dict) and (
                    any(spec[1].get(k) for k in ("image_upload", "video_upload")) or name == "lora_name"):
                spec[1]["options"] = []
    return info


def main() -> int:
    comfy = Path(sys.argv[1]).resolve()
    sys.path.insert(0, str(comfy))
    sys.argv = [sys.argv[0], "--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()
    import utils.extra_config  # noqa: F401  (before `server`, see tiny_models.md §8)
    spec = importlib.util.spec_from_file_location("rv2v_pack", ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    pack = importlib.util.module_from_spec(spec)
    sys.modules["rv2v_pack"] = pack
    spec.loader.exec_module(pack)
    from rv2v_pack.nodes.glue.extension import NODES

    data = {}
    for cls in NODES:
        info = cls.GET_NODE_INFO_V1()
        data[info["name"]] = normalise(json.loads(json.dumps(info, default=str)))
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(data)} nodes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
