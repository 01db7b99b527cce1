"""TEST-ONLY ComfyUI custom node: load the *tiny* Gemma-3 text encoder of the e2e tests.

Never ship this. It lives under ``tests/`` and is loaded only when the test harness
whitelists it (``--disable-all-custom-nodes --whitelist-custom-nodes te_adjust ...``).

Why it exists: ComfyUI core hard-codes the
Gemma-3-12B size for LTX-2.x text encoders. ``Gemma3_12BModel`` always builds
``Gemma3_12B_Config()`` with its defaults (hidden 3840, head_dim 256, vocab 262208,
a 27-layer SigLIP tower) and ``LTXAVTEModel`` always builds
``DualLinearProjection(3840 * 49, 4096, 2048)``. A tiny random-weight TE therefore
cannot be loaded by the unmodified loader; there is no file-level or node-level knob.

What it does: it wraps ``comfy.sd.load_text_encoder_state_dicts``. When one of the
state dicts is a Gemma-3 (it has ``model.layers.0.self_attn.q_norm.weight``) whose
embedding width is **not 3840**, then for the duration of that call only it swaps in

* a ``Gemma3_12B_Config`` subclass whose vocab, hidden, MLP, layer, head and head_dim
  sizes (and a tiny SigLIP vision config) are read from the tensor shapes, and
* a ``DualLinearProjection`` factory whose input is hidden x (layers + 1) and whose
  outputs are read from the checkpoint's ``text_embedding_projection.*`` shapes.

Real-size files (width 3840) go through the untouched core code. Everything else on
the TE path (tokenizer from the embedded ``spiece_model``, the 48-layer detection key,
the 49 stacked hidden states, the connectors) is ComfyUI's own. Only LTX-2.3's
``dual_linear`` projection is handled; LTX-2.0's ``single_linear`` is an inline literal.

The module registers no nodes; the wrapper is installed in ``on_load`` (idempotent;
``install()`` may also be called directly by in-process test code).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
import threading

from comfy_api.latest import ComfyExtension, io

REAL_GEMMA3_12B_WIDTH = 3840
_MARK = "_rv2v_te_adjust_original"
_LOCK = threading.RLock()
_log = logging.getLogger("rv2v_test.te_adjust")


def _count_indexed(sd, prefix: str) -> int:
    """Number of distinct ``<prefix><N>.`` blocks in a state dict."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in sd for m in [pattern.match(k)] if m}
    return max(found) + 1 if found else 0


def find_tiny_gemma(state_dicts):
    """Return the Gemma-3 state dict whose embedding width is not 3840, else None."""
    for sd in state_dicts:
        emb = sd.get("model.embed_tokens.weight")
        if emb is None or "model.layers.0.self_attn.q_norm.weight" not in sd:
            continue
        if emb.shape[-1] != REAL_GEMMA3_12B_WIDTH:
            return sd
    return None


def config_from_shapes(sd):
    """Build a ``Gemma3_12B_Config`` subclass sized from the Gemma state dict ``sd``."""
    import comfy.text_encoders.llama as llama

    vocab, hidden = (int(n) for n in sd["model.embed_tokens.weight"].shape)
    dim = int(sd["model.layers.0.self_attn.q_norm.weight"].shape[0])
    heads = int(sd["model.layers.0.self_attn.q_proj.weight"].shape[0]) // dim
    kv_heads = int(sd["model.layers.0.self_attn.k_proj.weight"].shape[0]) // dim
    mlp = int(sd["model.layers.0.mlp.gate_proj.weight"].shape[0])
    layers = _count_indexed(sd, "model.layers.")

    vision = dict(llama.Gemma3_12B_Config.vision_config)
    patch = sd.get("vision_model.embeddings.patch_embedding.weight")
    if patch is not None:
        positions = sd["vision_model.embeddings.position_embedding.weight"].shape[0]
        side = int(round(positions ** 0.5))
        vision.update(
            hidden_size=patch.shape[0],
            num_channels=patch.shape[1],
            patch_size=patch.shape[-1],
            image_size=side * patch.shape[-1],
            intermediate_size=sd["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
            num_hidden_layers=_count_indexed(sd, "vision_model.encoder.layers."),
            # Head count does not change any tensor shape; the vision tower is not on
            # the text-encoding path, so one head is enough.
            num_attention_heads=1,
        )

    @dataclasses.dataclass
    class TinyGemma3Config(llama.Gemma3_12B_Config):
        vocab_size: int = vocab
        hidden_size: int = hidden
        intermediate_size: int = mlp
        num_hidden_layers: int = layers
        num_attention_heads: int = heads
        num_key_value_heads: int = kv_heads
        head_dim = dim  # a class attribute in core's config, not a dataclass field
        vision_config = vision

    return TinyGemma3Config


def projection_dims(state_dicts, in_dim: int):
    """(video_out, audio_out) of the checkpoint's dual_linear projection, or None."""
    for sd in state_dicts:
        video = sd.get("text_embedding_projection.video_aggregate_embed.weight")
        audio = sd.get("text_embedding_projection.audio_aggregate_embed.weight")
        if video is None or audio is None:
            continue
        if video.shape[1] != in_dim or audio.shape[1] != in_dim:
            raise ValueError(
                f"te_adjust: projection input {video.shape[1]} does not match the tiny Gemma "
                f"(hidden x (layers + 1) = {in_dim})"
            )
        return int(video.shape[0]), int(audio.shape[0])
    return None


@contextlib.contextmanager
def tiny_text_encoder(state_dicts):
    """Swap in tiny Gemma config / projection sizes while the TE is being built."""
    import comfy.text_encoders.llama as llama
    import comfy.text_encoders.lt as lt

    gemma = find_tiny_gemma(state_dicts)
    if gemma is None:
        yield False
        return

    config = config_from_shapes(gemma)
    in_dim = config.hidden_size * (config.num_hidden_layers + 1)
    dims = projection_dims(state_dicts, in_dim)
    original_config, original_projection = llama.Gemma3_12B_Config, lt.DualLinearProjection

    def tiny_projection(_in_dim, _out_video, _out_audio, **kwargs):
        if dims is None:
            return original_projection(_in_dim, _out_video, _out_audio, **kwargs)
        return original_projection(in_dim, dims[0], dims[1], **kwargs)

    _log.info(
        "te_adjust (test-only): tiny Gemma-3 TE hidden=%d layers=%d heads=%d/%d head_dim=%d "
        "vocab=%d, projection %d -> %s",
        config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
        config.num_key_value_heads, config.head_dim, config.vocab_size, in_dim, dims,
    )
    with _LOCK:
        llama.Gemma3_12B_Config = config
        lt.DualLinearProjection = tiny_projection
        try:
            yield True
        finally:
            llama.Gemma3_12B_Config = original_config
            lt.DualLinearProjection = original_projection


def install() -> bool:
    """Wrap ``comfy.sd.load_text_encoder_state_dicts`` (idempotent). Returns True if new."""
    import comfy.sd

    current = comfy.sd.load_text_encoder_state_dicts
    if hasattr(current, _MARK):
        return False

    @functools.wraps(current)
    def load_text_encoder_state_dicts(state_dicts=[], *args, **kwargs):
        with tiny_text_encoder(state_dicts):
            return current(state_dicts, *args, **kwargs)

    setattr(load_text_encoder_state_dicts, _MARK, current)
    comfy.sd.load_text_encoder_state_dicts = load_text_encoder_state_dicts
    return True


def uninstall() -> None:
    """Restore the original loader (for in-process tests that need a negative control)."""
    import comfy.sd

    current = comfy.sd.load_text_encoder_state_dicts
    original = getattr(current, _MARK, None)
    if original is not None:
        comfy.sd.load_text_encoder_state_dicts = original


class TeAdjustExtension(ComfyExtension):
    async def on_load(self) -> None:
        if install():
            _log.warning("te_adjust (test-only) installed: tiny Gemma-3 TE files will load")

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return []


async def comfy_entrypoint() -> TeAdjustExtension:
    return TeAdjustExtension()
