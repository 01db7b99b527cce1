"""Build the shipped workflows from one graph description.

Writes ``workflows/ltx23_reference_video_to_video.json`` (UI, format 0.4, laid
out in groups with notes) and its API-format twin
``workflows/api/ltx23_reference_video_to_video.json``.

Run:  python tests/tools/build_workflows.py        (rewrite both files)
      python tests/tools/build_workflows.py --check (exit 1 if they are stale)

The equivalence of the two files is tested independently
(tests/test_workflows.py converts the UI file with node schemas).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UI_PATH = ROOT / "workflows" / "ltx23_reference_video_to_video.json"
API_PATH = ROOT / "workflows" / "api" / "ltx23_reference_video_to_video.json"

CKPT = "ltx-2.3-22b-dev.safetensors"
DISTILLED_LORA = "ltx-2.3-22b-distilled-lora-384-1.1.safetensors"
UNION_LORA = "ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors"
TEXT_ENCODER = "gemma_3_12B_it.safetensors"
EXAMPLE_VIDEO = "reference.mp4"
EXAMPLE_PROMPT = ("A red fox trots through fresh snow in a quiet birch forest at golden hour, soft backlight, "
                  "shallow depth of field, its breath visible in the cold air, gentle wind in the branches.")


def _pure(name):
    """``nodes/pure/<name>.py`` (standard library only), imported without importing the pack."""
    if "_rv2v_pure" not in sys.modules:
        spec = importlib.util.spec_from_file_location("_rv2v_pure", ROOT / "nodes" / "pure" / "__init__.py",
                                                      submodule_search_locations=[str(ROOT / "nodes" / "pure")])
        pkg = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = pkg
        spec.loader.exec_module(pkg)
    return importlib.import_module(f"_rv2v_pure.{name}")


P = _pure("params")
C = _pure("control_options")

# Link helper: ("node key", output slot)
def L(node, slot=0):
    return (node, slot)


def settings_widgets():
    """(name, value) in the Settings node's widget order, plus the frontend's extra widgets."""
    out = []
    for p in P.WIDGET_ORDER:
        if p.kind == "media":
            value = EXAMPLE_VIDEO if p.required else ""
        elif p.name == "prompt":
            value = EXAMPLE_PROMPT
        elif p.name == "seed":
            value = 42
        else:
            value = p.default
        out.append((p.name, value))
        if p.name == "seed":
            out.append((None, "randomize"))  # control_after_generate (UI only)
    out.append((None, "image"))  # upload button of the first upload combo (UI only)
    return out


# Each node: key -> dict(type, title, group, pos, size, widgets=[(name, value)], inputs={name: link},
#                        outputs=[(name, type)])
NODES = {
    "settings": dict(
        type="RV2V_Settings", title="Settings (all 15 preset parameters)", group="Settings",
        pos=(40, 120), size=(420, 880),
        widgets=settings_widgets(),
        outputs=[("settings", "RV2V_SETTINGS"), ("prompt", "STRING"), ("negative_prompt", "STRING"),
                 ("seed", "INT"), ("report", "STRING")],
    ),
    "ckpt": dict(
        type="CheckpointLoaderSimple", title="Load LTX-2.3 dev checkpoint", group="Models",
        pos=(960, 120), size=(380, 100), widgets=[("ckpt_name", CKPT)],
        outputs=[("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")],
    ),
    "distilled": dict(
        type="LoraLoaderModelOnly", title="Distilled LoRA (0.5)", group="Models",
        pos=(960, 260), size=(380, 82), widgets=[("lora_name", DISTILLED_LORA), ("strength_model", 0.5)],
        inputs={"model": L("ckpt", 0)}, outputs=[("MODEL", "MODEL")],
    ),
    "iclora": dict(
        type="RV2V_ICLoRALoader", title="Union Control IC-LoRA (1.0)", group="Models",
        pos=(960, 500), size=(380, 80), widgets=[("strength_model", 1.0)],
        inputs={"model": L("distilled", 0), "ic_lora": L("iclorafile", 0)},
        outputs=[("model", "MODEL"), ("downscale_factor", "INT")],
    ),
    "te": dict(
        type="LTXAVTextEncoderLoader", title="Gemma 3 12B text encoder", group="Models",
        pos=(960, 620), size=(380, 106), widgets=[("text_encoder", TEXT_ENCODER), ("ckpt_name", CKPT),
                                                   ("device", "default")],
        outputs=[("CLIP", "CLIP")],
    ),
    "audiovae": dict(
        type="LTXVAudioVAELoader", title="Audio VAE", group="Models",
        pos=(960, 766), size=(380, 60), widgets=[("ckpt_name", CKPT)], outputs=[("Audio VAE", "VAE")],
    ),
    "plan": dict(
        type="RV2V_ReferencePlan", title="Reference planning (decodes input_video)", group="Inputs",
        pos=(520, 120), size=(380, 200), widgets=[("downscale_factor", 2), ("working_short_side", 544)],
        inputs={"settings": L("settings", 0), "downscale_factor": L("iclorafile", 1)},
        outputs=[("frames", "IMAGE"), ("width", "INT"), ("height", "INT"), ("length", "INT"),
                 ("fps", "FLOAT"), ("fps_int", "INT"), ("source_audio", "AUDIO"), ("report", "STRING")],
    ),
    "control": dict(
        type="RV2V_Control", title="Control video (canny / depth / pose / given)", group="Control",
        pos=(520, 440), size=(380, 900),
        widgets=[("width", 896), ("height", 512), ("length", 121), *((o.name, o.default) for o in C.OPTIONS)],
        inputs={"settings": L("settings", 0), "frames": L("plan", 0), "width": L("plan", 1),
                "height": L("plan", 2), "length": L("plan", 3)},
        outputs=[("control", "IMAGE")],
    ),
    "pos": dict(
        type="CLIPTextEncode", title="Prompt", group="Generate", pos=(1400, 120), size=(300, 90),
        widgets=[("text", "")], inputs={"text": L("settings", 1), "clip": L("te", 0)},
        outputs=[("CONDITIONING", "CONDITIONING")],
    ),
    "neg": dict(
        type="CLIPTextEncode", title="Negative prompt", group="Generate", pos=(1400, 250), size=(300, 90),
        widgets=[("text", "")], inputs={"text": L("settings", 2), "clip": L("te", 0)},
        outputs=[("CONDITIONING", "CONDITIONING")],
    ),
    "cond": dict(
        type="LTXVConditioning", title="Frame rate conditioning", group="Generate", pos=(1400, 380),
        size=(300, 80), widgets=[("frame_rate", 24.0)],
        inputs={"positive": L("pos", 0), "negative": L("neg", 0), "frame_rate": L("plan", 4)},
        outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
    ),
    "init": dict(
        type="RV2V_VideoInit", title="Start latents (empty or preserved video)", group="Generate",
        pos=(1400, 500), size=(300, 220),
        widgets=[("width", 896), ("height", 512), ("length", 121), ("fps", 24.0)],
        inputs={"settings": L("settings", 0), "vae": L("ckpt", 2), "audio_vae": L("audiovae", 0),
                "frames": L("plan", 0), "width": L("plan", 1), "height": L("plan", 2), "length": L("plan", 3),
                "fps": L("plan", 4), "source_audio": L("plan", 6)},
        outputs=[("video_latent", "LATENT"), ("audio_latent", "LATENT")],
    ),
    "image": dict(
        type="RV2V_ReferenceImage", title="Reference image (first frame)", group="Generate",
        pos=(1740, 120), size=(300, 110), widgets=[("strength", 1.0)],
        inputs={"vae": L("ckpt", 2), "latent": L("init", 0), "settings": L("settings", 0)},
        outputs=[("latent", "LATENT")],
    ),
    "guide": dict(
        type="RV2V_ICLoRAGuide", title="IC-LoRA guide (control video)", group="Generate",
        pos=(1740, 270), size=(300, 200), widgets=[("downscale_factor", 2), ("video_strength", 0.6)],
        inputs={"positive": L("cond", 0), "negative": L("cond", 1), "vae": L("ckpt", 2),
                "latent": L("image", 0), "control": L("control", 0), "downscale_factor": L("iclorafile", 1),
                "settings": L("settings", 0)},
        outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")],
    ),
    "concat": dict(
        type="LTXVConcatAVLatent", title="Join video + audio latents", group="Generate",
        pos=(1740, 510), size=(300, 60),
        inputs={"video_latent": L("guide", 2), "audio_latent": L("init", 1)}, outputs=[("latent", "LATENT")],
    ),
    "guider": dict(
        type="CFGGuider", title="CFG 1", group="Generate", pos=(2080, 120), size=(260, 100),
        widgets=[("cfg", 1.0)],
        inputs={"model": L("iclora", 0), "positive": L("guide", 0), "negative": L("guide", 1)},
        outputs=[("GUIDER", "GUIDER")],
    ),
    "sampler": dict(
        type="KSamplerSelect", title="Sampler", group="Generate", pos=(2080, 260), size=(260, 60),
        widgets=[("sampler_name", "euler_ancestral_cfg_pp")], outputs=[("SAMPLER", "SAMPLER")],
    ),
    "noise": dict(
        type="RandomNoise", title="Noise (seed from Settings)", group="Generate", pos=(2080, 360),
        size=(260, 82), widgets=[("noise_seed", 42), (None, "fixed")],
        inputs={"noise_seed": L("settings", 3)}, outputs=[("NOISE", "NOISE")],
    ),
    "schedule": dict(
        type="RV2V_Schedule", title="Distilled sigmas", group="Generate", pos=(2080, 480), size=(260, 100),
        widgets=[("mode", "anchored"), ("strength_without_preserve", False)],
        inputs={"settings": L("settings", 0)}, outputs=[("sigmas", "SIGMAS")],
    ),
    "sample": dict(
        type="SamplerCustomAdvanced", title="Sample", group="Generate", pos=(2080, 620), size=(260, 120),
        inputs={"noise": L("noise", 0), "guider": L("guider", 0), "sampler": L("sampler", 0),
                "sigmas": L("schedule", 0), "latent_image": L("concat", 0)},
        outputs=[("output", "LATENT"), ("denoised_output", "LATENT")],
    ),
    "separate": dict(
        type="LTXVSeparateAVLatent", title="Split video / audio", group="Output", pos=(2400, 120),
        size=(260, 60), inputs={"av_latent": L("sample", 0)},
        outputs=[("video_latent", "LATENT"), ("audio_latent", "LATENT")],
    ),
    "crop": dict(
        type="LTXVCropGuides", title="Remove guide frames", group="Output", pos=(2400, 220), size=(260, 80),
        inputs={"positive": L("guide", 0), "negative": L("guide", 1), "latent": L("separate", 0)},
        outputs=[("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")],
    ),
    "decode": dict(
        type="VAEDecode", title="Decode video", group="Output", pos=(2400, 340), size=(260, 50),
        inputs={"samples": L("crop", 2), "vae": L("ckpt", 2)}, outputs=[("IMAGE", "IMAGE")],
    ),
    "audiodecode": dict(
        type="LTXVAudioVAEDecode", title="Decode audio", group="Output", pos=(2400, 430), size=(260, 50),
        inputs={"samples": L("separate", 1), "audio_vae": L("audiovae", 0)}, outputs=[("Audio", "AUDIO")],
    ),
    "save": dict(
        type="RV2V_SaveMP4", title="Save MP4", group="Output", pos=(2700, 120), size=(420, 520),
        widgets=[("filename_prefix", "LTX23_RV2V"), ("crf_override", -1)],
        inputs={"images": L("decode", 0), "settings": L("settings", 0), "audio": L("audiodecode", 0)},
        outputs=[("path", "STRING")],
    ),
    "iclorafile": dict(
        type="RV2V_ICLoRAFile", title="Union Control IC-LoRA file (downscale factor)", group="Models",
        pos=(960, 380), size=(380, 80), widgets=[("lora_name", UNION_LORA)],
        outputs=[("ic_lora", "RV2V_ICLORA"), ("downscale_factor", "INT")],
    ),
}

# Socket (non-widget) inputs per node type, in slot order (for UI "inputs" arrays).
SOCKETS = {
    "RV2V_ReferencePlan": [("settings", "RV2V_SETTINGS")],
    "RV2V_Control": [("settings", "RV2V_SETTINGS"), ("frames", "IMAGE")],
    "RV2V_Schedule": [("settings", "RV2V_SETTINGS")],
    "LoraLoaderModelOnly": [("model", "MODEL")],
    "RV2V_ICLoRALoader": [("model", "MODEL"), ("ic_lora", "RV2V_ICLORA")],
    "CLIPTextEncode": [("clip", "CLIP")],
    "LTXVConditioning": [("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
    "RV2V_VideoInit": [("settings", "RV2V_SETTINGS"), ("vae", "VAE"), ("audio_vae", "VAE"),
                       ("frames", "IMAGE"), ("source_audio", "AUDIO")],
    "RV2V_ReferenceImage": [("vae", "VAE"), ("latent", "LATENT"), ("settings", "RV2V_SETTINGS"),
                            ("image", "IMAGE")],
    "RV2V_ICLoRAGuide": [("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("vae", "VAE"),
                         ("latent", "LATENT"), ("control", "IMAGE"), ("settings", "RV2V_SETTINGS")],
    "LTXVConcatAVLatent": [("video_latent", "LATENT"), ("audio_latent", "LATENT")],
    "CFGGuider": [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
    "SamplerCustomAdvanced": [("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"),
                              ("sigmas", "SIGMAS"), ("latent_image", "LATENT")],
    "LTXVSeparateAVLatent": [("av_latent", "LATENT")],
    "LTXVCropGuides": [("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT")],
    "VAEDecode": [("samples", "LATENT"), ("vae", "VAE")],
    "LTXVAudioVAEDecode": [("samples", "LATENT"), ("audio_vae", "VAE")],
    "RV2V_SaveMP4": [("images", "IMAGE"), ("settings", "RV2V_SETTINGS"), ("audio", "AUDIO")],
}

WIDGET_TYPES = {  # type of widget inputs that get linked (UI input entry type)
    "downscale_factor": "INT", "width": "INT", "height": "INT", "length": "INT", "fps": "FLOAT",
    "frame_rate": "FLOAT", "text": "STRING", "noise_seed": "INT",
}

GROUPS = {
    "Settings": ((20, 40, 460, 1100), "#3f789e"),
    "Inputs": ((500, 40, 420, 300), "#3f6a8a"),
    "Control": ((500, 360, 420, 1000), "#3f8a5a"),
    "Models": ((940, 40, 420, 820), "#8a8a3f"),
    "Generate": ((1380, 40, 980, 740), "#6b3f8a"),
    "Output": ((2380, 40, 760, 640), "#8a4f3f"),
}

NOTES = [
    ((20, 1160, 460, 300), "How to use",
     "1. Upload the reference video in **Settings → input_video** (or type a URL in API prompts).\n"
     "2. Write the **prompt**. Optional: **input_image** anchors the first frame.\n"
     "3. Optional: **▶ Preview control video** on the Control node checks the control video first.\n"
     "4. Queue. The MP4 appears in **Save MP4** and in ComfyUI's output folder.\n\n"
     "Problems with the settings are listed in red under the Settings node before you queue.\n"
     "Precomputed control video: set **control_video_url** and turn on **skip_control_preprocess**.\n"
     "True video-to-video: also turn on **preserve_original_video** and lower **strength** (0.5 keeps ~half)."),
    ((940, 880, 420, 300), "Model files",
     f"- `models/checkpoints/{CKPT}`\n"
     f"- `models/loras/{DISTILLED_LORA}` (strength 0.5)\n"
     f"- `models/loras/{UNION_LORA}` (strength 1.0)\n"
     f"- `models/text_encoders/{TEXT_ENCODER}` (Gemma 3 12B; fp8/fp4 variants also work)\n\n"
     "Download from Hugging Face: Lightricks/LTX-2.3, Lightricks/LTX-2.3-22b-IC-LoRA-Union-Control, "
     "Comfy-Org/ltx-2 (split_files/text_encoders)."),
    ((500, 1380, 420, 240), "Control",
     f"The control video the IC-LoRA follows. Default: canny edges {C.BY_NAME['canny_low'].default}/"
     f"{C.BY_NAME['canny_high'].default} at a {C.BY_NAME['canny_resolution'].default} px shorter side, "
     "exactly like the official workflow's controlnet_aux node (Settings → control_type also offers depth, "
     "pose and an experimental composite). With skip_control_preprocess the given control video is used, "
     "resampled to the output size and frame count.\n\n"
     "**▶ Preview control video** (button on the Control node) runs only Settings → Reference planning → "
     "Control and plays the result in the node: no model is loaded."),
]


def build_api() -> dict:
    keys = list(NODES)
    ids = {k: str(i + 1) for i, k in enumerate(keys)}
    api = {}
    for k in keys:
        n = NODES[k]
        inputs = {}
        for name, value in n.get("widgets", []):
            if name is not None:
                inputs[name] = value
        for name, (src, slot) in n.get("inputs", {}).items():
            inputs[name] = [ids[src], slot]
        api[ids[k]] = {"class_type": n["type"], "inputs": inputs, "_meta": {"title": n["title"]}}
    return api


def build_ui() -> dict:
    keys = list(NODES)
    ids = {k: i + 1 for i, k in enumerate(keys)}
    links = []
    out_links = {}  # (node id, slot) -> [link ids]
    in_link = {}  # (node id, input name) -> link id
    for k in keys:
        n = NODES[k]
        for name, (src, slot) in n.get("inputs", {}).items():
            lid = len(links) + 1
            src_type = NODES[src]["outputs"][slot][1]
            links.append([lid, ids[src], slot, ids[k], None, src_type])
            out_links.setdefault((ids[src], slot), []).append(lid)
            in_link[(ids[k], name)] = lid
    nodes = []
    for order, k in enumerate(keys):
        n = NODES[k]
        nid = ids[k]
        ui_inputs = []
        for name, typ in SOCKETS.get(n["type"], []):
            ui_inputs.append({"name": name, "type": typ, "link": in_link.get((nid, name))})
        for name, _value in n.get("widgets", []):
            if name is not None and (nid, name) in in_link:
                ui_inputs.append({"name": name, "type": WIDGET_TYPES[name], "widget": {"name": name},
                                  "link": in_link[(nid, name)]})
        missing = set(n.get("inputs", {})) - {e["name"] for e in ui_inputs}
        assert not missing, f"{k}: links to inputs without a UI slot: {missing}"
        for slot, entry in enumerate(ui_inputs):
            if entry["link"] is not None:
                links[entry["link"] - 1][4] = slot
        outputs = []
        for slot, (name, typ) in enumerate(n.get("outputs", [])):
            outputs.append({"name": name, "type": typ, "links": out_links.get((nid, slot), []),
                            "slot_index": slot})
        node = {
            "id": nid, "type": n["type"], "pos": list(n["pos"]), "size": list(n["size"]), "flags": {},
            "order": order, "mode": 0, "inputs": ui_inputs, "outputs": outputs,
            "properties": {"Node name for S&R": n["type"]},
            "title": n["title"],
        }
        if n["type"].startswith("RV2V_"):
            node["properties"]["cnr_id"] = "comfyui-ltx23-reference-v2v"
        else:
            node["properties"]["cnr_id"] = "comfy-core"
        if "widgets" in n:
            node["widgets_values"] = [v for _name, v in n["widgets"]]
        nodes.append(node)
    next_id = len(nodes) + 1
    for (x, y, w, h), title, text in NOTES:
        nodes.append({"id": next_id, "type": "MarkdownNote", "pos": [x, y], "size": [w, h], "flags": {},
                      "order": len(nodes), "mode": 0, "inputs": [], "outputs": [], "title": title,
                      "properties": {}, "widgets_values": [text], "color": "#432", "bgcolor": "#653"})
        next_id += 1
    groups = [{"id": i + 1, "title": t, "bounding": list(b), "color": c, "font_size": 24, "flags": {}}
              for i, (t, (b, c)) in enumerate(GROUPS.items())]
    return {
        "id": "7d1c2b6e-4c1b-4f0e-9a53-1c2e5b9a0f23",
        "revision": 0,
        "last_node_id": next_id - 1,
        "last_link_id": len(links),
        "nodes": nodes,
        "links": links,
        "groups": groups,
        "config": {},
        "extra": {"ds": {"scale": 0.6, "offset": [90, 30]}, "frontendVersion": "1.45.20"},
        "models": [
            {"name": CKPT, "directory": "checkpoints",
             "url": f"https://huggingface.co/Lightricks/LTX-2.3/resolve/main/{CKPT}"},
            {"name": DISTILLED_LORA, "directory": "loras",
             "url": f"https://huggingface.co/Lightricks/LTX-2.3/resolve/main/{DISTILLED_LORA}"},
            {"name": UNION_LORA, "directory": "loras",
             "url": "https://huggingface.co/Lightricks/LTX-2.3-22b-IC-LoRA-Union-Control/resolve/main/"
                    + UNION_LORA},
            {"name": TEXT_ENCODER, "directory": "text_encoders",
             "url": "https://huggingface.co/Comfy-Org/ltx-2/resolve/main/split_files/text_encoders/"
                    + TEXT_ENCODER},
        ],
        "version": 0.4,
    }


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the files differ from the builder")
    args = ap.parse_args(argv)
    wanted = {UI_PATH: dumps(build_ui()), API_PATH: dumps(build_api())}
    stale = [p for p, text in wanted.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)} (run python tests/tools/build_workflows.py)")
        return 1 if stale else 0
    for p, text in wanted.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
