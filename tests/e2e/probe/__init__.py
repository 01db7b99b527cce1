"""TEST-ONLY ComfyUI custom node pack: dump graph tensors for HTTP end-to-end tests.

Never ship this. It lives under ``tests/`` and is loaded only when the test harness
whitelists it (``--whitelist-custom-nodes probe ...``).

Node ``RV2VTest_SaveTensors`` (an output node) takes an optional LATENT, IMAGE and
CONDITIONING plus a ``name`` and writes them with safetensors to
``<output dir>/probe/<name>.safetensors``, so an HTTP test can download the file
(``GET /view?type=output&subfolder=probe&filename=<name>.safetensors``) and assert on
exact tensor values, e.g. noise-mask values, which are bit-exact across processes
(MP4 pixels are not).

Tensor keys:

* ``latent.samples`` / ``latent.noise_mask`` (and any other tensor in the LATENT dict);
  a nested AV latent (``comfy.nested_tensor.NestedTensor`` from ``LTXVConcatAVLatent``)
  is saved part by part as ``latent.samples.0`` (video), ``latent.samples.1`` (audio)...
* ``image``
* ``cond.<i>`` (the embedding of conditioning entry ``i``) and ``cond.<i>.<key>`` for
  every tensor in its options dict (``keyframe_idxs``, ...);
  ``cond.<i>.guide_attention_entries.<j>.pixel_mask`` where present.

The safetensors metadata key ``probe`` holds JSON: shapes and dtypes of every saved
tensor (``tensors``), the nesting of latents (``nested``), the non-tensor latent
entries (``latent``), and per conditioning entry the JSON-able options plus
``guide_attention_entries`` as ``[{pre_filter_count, strength, latent_shape,
has_pixel_mask}]`` (``cond``).

The node always re-executes (``fingerprint_inputs`` returns NaN), so re-queuing the
same prompt rewrites the file.
"""
from __future__ import annotations

import json
import os
import re

import torch
from safetensors.torch import save_file

import folder_paths
from comfy_api.latest import ComfyExtension, io

SUBFOLDER = "probe"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def _is_nested(x) -> bool:
    return getattr(x, "is_nested", False) and hasattr(x, "tensors")


def _jsonable(value):
    """Value if it round-trips through JSON, else a short type description."""
    if isinstance(value, torch.Size):
        return list(value)
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return f"<{type(value).__name__}>"


def collect(latent=None, image=None, conditioning=None):
    """Return (tensors, info) for the given inputs; see the module docstring."""
    tensors: dict[str, torch.Tensor] = {}
    info: dict = {"nested": {}, "latent": {}, "cond": []}

    def put(key, value):
        # clone: safetensors refuses tensors that share storage
        tensors[key] = value.detach().to("cpu").clone(memory_format=torch.contiguous_format)

    if latent is not None:
        for key, value in latent.items():
            if _is_nested(value):
                info["nested"][f"latent.{key}"] = len(value.tensors)
                for i, part in enumerate(value.tensors):
                    put(f"latent.{key}.{i}", part)
            elif torch.is_tensor(value):
                put(f"latent.{key}", value)
            else:
                info["latent"][key] = _jsonable(value)

    if image is not None:
        put("image", image)

    if conditioning is not None:
        for i, (embedding, options) in enumerate(conditioning):
            put(f"cond.{i}", embedding)
            entry = {"options": {}, "guide_attention_entries": None}
            for key, value in options.items():
                if torch.is_tensor(value):
                    put(f"cond.{i}.{key}", value)
                elif key == "guide_attention_entries" and value is not None:
                    entries = []
                    for j, e in enumerate(value):
                        mask = e.get("pixel_mask")
                        if torch.is_tensor(mask):
                            put(f"cond.{i}.guide_attention_entries.{j}.pixel_mask", mask)
                        entries.append({
                            "pre_filter_count": _jsonable(e.get("pre_filter_count")),
                            "strength": _jsonable(e.get("strength")),
                            "latent_shape": _jsonable(e.get("latent_shape")),
                            "has_pixel_mask": torch.is_tensor(mask),
                        })
                    entry["guide_attention_entries"] = entries
                else:
                    entry["options"][key] = _jsonable(value)
            info["cond"].append(entry)

    info["tensors"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in tensors.items()}
    return tensors, info


class SaveTensors(io.ComfyNode):
    """Write the given LATENT / IMAGE / CONDITIONING tensors to output/probe/<name>.safetensors."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RV2VTest_SaveTensors",
            display_name="RV2V Test: Save Tensors (test-only)",
            category="testing/rv2v",
            description="Test-only probe: saves tensors to output/probe/<name>.safetensors.",
            inputs=[
                io.String.Input("name", default="probe"),
                io.Latent.Input("latent", optional=True),
                io.Image.Input("image", optional=True),
                io.Conditioning.Input("conditioning", optional=True),
            ],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        return float("nan")  # never cached: always rewrite the file

    @classmethod
    def execute(cls, name, latent=None, image=None, conditioning=None) -> io.NodeOutput:
        if not _NAME_RE.match(name):
            raise ValueError(f"probe name must match {_NAME_RE.pattern}: {name!r}")
        tensors, info = collect(latent, image, conditioning)
        folder = os.path.join(folder_paths.get_output_directory(), SUBFOLDER)
        os.makedirs(folder, exist_ok=True)
        filename = f"{name}.safetensors"
        save_file(tensors, os.path.join(folder, filename), metadata={"probe": json.dumps(info)})
        return io.NodeOutput(ui={"probe": [{"filename": filename, "subfolder": SUBFOLDER, "type": "output"}]})


class ProbeExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [SaveTensors]


async def comfy_entrypoint() -> ProbeExtension:
    return ProbeExtension()
