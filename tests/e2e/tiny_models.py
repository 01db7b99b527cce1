#!/usr/bin/env python
"""Generate seeded, random-weight, tiny LTX-2.3 model files for end-to-end tests.

The files are built from ComfyUI's *own* model classes (so they load through the
unmodified core loaders) and are written under the official file names, so the
pack's shipped workflow runs against them unmodified::

    <out>/checkpoints/ltx-2.3-22b-dev.safetensors
    <out>/loras/ltx-2.3-22b-distilled-lora-384-1.1.safetensors
    <out>/loras/ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors
    <out>/text_encoders/gemma_3_12B_it.safetensors

Usage (must run under a Python that can import ComfyUI, i.e. ``COMFY_PYTHON``)::

    $COMFY_PYTHON tests/e2e/tiny_models.py --comfyui $COMFYUI_PATH --out <models_dir>

or, from such a Python, ``generate(out_dir, comfyui_path=...)``.

What the files contain (the shapes ComfyUI v0.27.0's LTX-2.3 classes expect):

* checkpoint: an ``LTXAV`` transformer with every LTX-2.3 code-path flag kept
  (gated attention, cross-attention AdaLN, caption projection before the
  connector, split float64 rope, ...) but tiny widths and depths; the LTX-2.3
  video VAE block sequence with 8 base channels (still 128 latent channels and
  8x32x32 compression); the audio VAE (64 mel bins, 8 z-channels, 4x) and a
  BigVGAN vocoder with a 16->48 kHz bandwidth-extension stage; a ``dual_linear``
  text projection. The architecture travels in the safetensors ``config``
  metadata exactly like in the released files.
* text encoder: a Gemma-3 state dict with the structural 48 layers but width 32,
  plus a tiny SigLIP tower, plus an embedded 1024-piece SentencePiece model
  (``spiece_model`` uint8 tensor) with Gemma-3's special-token ids. Loading it
  needs the test-only loader adjustment in ``tests/e2e/te_adjust``.
* LoRAs: rank 4, ``diffusion_model.<module>.lora_A/B.weight`` keys that match
  real modules of the tiny transformer. The IC-LoRA carries the safetensors
  metadata ``reference_downscale_factor="2"`` (the "ref0.5" small-grid guide).

Content is deterministic (seeded); file *bytes* may differ between runs because
the safetensors metadata map is not written in a fixed order.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import sys
import time
from pathlib import Path

CHECKPOINT = "checkpoints/ltx-2.3-22b-dev.safetensors"
DISTILLED_LORA = "loras/ltx-2.3-22b-distilled-lora-384-1.1.safetensors"
IC_LORA = "loras/ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors"
TEXT_ENCODER = "text_encoders/gemma_3_12B_it.safetensors"

#: Relative paths of every generated file (relative to the models directory).
FILES = (CHECKPOINT, DISTILLED_LORA, IC_LORA, TEXT_ENCODER)

MODEL_VERSION = "2.3.0-tiny-random"
LORA_RANK = 4

# --------------------------------------------------------------------------------------
# Tiny configurations. Flags are LTX-2.3's; only widths/depths are shrunk. Structural
# constants that core hard-codes are kept (see tiny_models.md section 3).
# --------------------------------------------------------------------------------------

GEMMA_HIDDEN = 32
GEMMA_LAYERS = 48  # structural: "model.layers.47..." detection key and the x49 stacking
GEMMA_HEADS = 2
GEMMA_KV_HEADS = 1
GEMMA_HEAD_DIM = 16
GEMMA_MLP = 64
GEMMA_VOCAB = 1024

VIDEO_CROSS_DIM = 64  # = TE projection video output = 2 connector heads x 32
AUDIO_CROSS_DIM = 32  # = TE projection audio output = 2 connector heads x 16

TRANSFORMER_CONFIG = {
    # sizes (real: 48 layers, 32x128 video, 32x64 audio, 4096/2048 cross dims)
    "num_layers": 2,
    "num_attention_heads": 2,
    "attention_head_dim": 32,
    "cross_attention_dim": VIDEO_CROSS_DIM,
    "audio_num_attention_heads": 2,
    "audio_attention_head_dim": 16,
    "audio_cross_attention_dim": AUDIO_CROSS_DIM,
    "in_channels": 128,  # structural
    "audio_in_channels": 128,  # structural: 8 channels x 16 frequency bins
    "caption_channels": GEMMA_HIDDEN,
    # connectors (real: 8 layers, 32x128, audio 32x64)
    "connector_num_layers": 2,
    "connector_num_attention_heads": 2,
    "connector_attention_head_dim": 32,
    "connector_apply_gated_attention": True,
    "audio_connector_num_attention_heads": 2,
    "audio_connector_attention_head_dim": 16,
    # LTX-2.3 code-path switches, kept as released
    "apply_gated_attention": True,
    "cross_attention_adaln": True,
    "caption_proj_before_connector": True,
    "caption_projection_first_linear": False,
    "rope_type": "split",
    "frequencies_precision": "float64",
    "use_middle_indices_grid": True,
    "causal_temporal_positioning": True,
    "timestep_scale_multiplier": 1000.0,
    "av_ca_timestep_scale_multiplier": 1000.0,
    "positional_embedding_theta": 10000.0,
    "positional_embedding_max_pos": [20, 2048, 2048],
    "audio_positional_embedding_max_pos": [20],
}


def _res(n):
    return ["res_x", {"num_layers": n}]


VAE_CONFIG = {
    "_class_name": "CausalVideoAutoencoder",
    "dims": 3,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 128,  # structural
    # LTX-2.3 block sequence (res layers 4/6/4/2/2 -> 1): 4 (patch) x 2 x 2 x 2 = 32 in
    # space, 2 x 2 x 2 = 8 in time, 8 x 2^4 = 128 channels.
    "encoder_blocks": [
        _res(1), ["compress_space_res", {"multiplier": 2}],
        _res(1), ["compress_time_res", {"multiplier": 2}],
        _res(1), ["compress_all_res", {"multiplier": 2}],
        _res(1), ["compress_all_res", {"multiplier": 2}],
        _res(1),
    ],
    # Decoder multipliers 2/2/1/2 (base x 8 at conv_in, like 128 -> 1024 in the released
    # files); up-sampling 4 (patch) x 2 x 2 x 2 = 32 in space, 2 x 2 x 2 = 8 in time.
    "decoder_blocks": [
        _res(1), ["compress_space", {"multiplier": 2}],
        _res(1), ["compress_time", {"multiplier": 2}],
        _res(1), ["compress_all", {"multiplier": 1}],
        _res(1), ["compress_all", {"multiplier": 2}],
        _res(1),
    ],
    "encoder_base_channels": 8,  # real: 128
    "decoder_base_channels": 8,  # real: 128
    "scaling_factor": 1.0,
    "norm_layer": "pixel_norm",
    "patch_size": 4,
    "latent_log_var": "uniform",
    "use_quant_conv": False,
    "causal_decoder": False,
    "timestep_conditioning": False,
}

AUDIO_VAE_CONFIG = {
    "model": {
        "params": {
            "ddconfig": {
                "double_z": True,
                "mel_bins": 64,  # structural (vocoder conv_pre is 2 x 64)
                "z_channels": 8,  # structural (8 x 16 = 128 audio token channels)
                "resolution": 256,
                "downsample_time": False,
                "in_channels": 2,
                "out_ch": 2,
                "ch": 8,  # real: 128
                "ch_mult": [1, 2, 4],  # structural length (LATENT_DOWNSAMPLE_FACTOR = 4)
                "num_res_blocks": 1,  # real: 2
                "attn_resolutions": [],
                "dropout": 0.0,
                "mid_block_add_attention": False,
                "norm_type": "pixel",
                "causality_axis": "height",
            },
            "sampling_rate": 16000,  # structural: 16 kHz / hop 160 = 25 latents/s with 4x
        }
    },
    "preprocessing": {"stft": {"filter_length": 1024, "hop_length": 160}},
}

_AMP = {
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "stereo": True,
    "resblock": "AMP1",
    "activation": "snakebeta",
    "use_bias_at_final": False,
    "use_tanh_at_final": False,
}

VOCODER_CONFIG = {
    "vocoder": {
        **_AMP,
        "upsample_rates": [5, 2, 2, 2, 2, 2],  # product 160 = mel hop
        "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4],
        "upsample_initial_channel": 128,  # real: 1536; divisible by 2^6
    },
    "bwe": {
        **_AMP,
        "upsample_rates": [6, 5, 2, 2, 2],  # product 240 = 3 (16k -> 48k) x hop 80
        "upsample_kernel_sizes": [12, 11, 4, 4, 4],
        "upsample_initial_channel": 64,  # real: 512; divisible by 2^5
        "input_sampling_rate": 16000,
        "output_sampling_rate": 48000,
        "hop_length": 80,
        "n_fft": 512,
        "num_mels": 64,  # structural (BWE conv_pre is 2 x 64)
    },
}

GEMMA_VISION_CONFIG = {
    "num_channels": 3,
    "hidden_act": "gelu_pytorch_tanh",
    "hidden_size": 16,  # real: 1152
    "image_size": 896,
    "intermediate_size": 32,  # real: 4304
    "model_type": "siglip_vision_model",
    "num_attention_heads": 1,  # real: 16
    "num_hidden_layers": 1,  # real: 27
    "patch_size": 14,
}

# Gemma-3 special ids: pad 0, eos 1, bos 2, unk 3, 4..104 reserved, 105/106 turn tokens.
_TURN_TOKENS = ["<start_of_turn>", "<end_of_turn>"]
_RESERVED_TOKENS = [f"<unused{i}>" for i in range(105 - 4)]

# Distinct seeds per file so the LoRAs are not correlated with the base weights.
SEED_CHECKPOINT = 1234
SEED_TE = 2345
SEED_DISTILLED = 3456
SEED_IC = 4567


# --------------------------------------------------------------------------------------
# ComfyUI bootstrap
# --------------------------------------------------------------------------------------

def setup_comfy(comfyui_path: str | os.PathLike | None = None) -> None:
    """Make ComfyUI importable and force CPU before ``comfy.model_management`` loads.

    ``comfy.cli_args`` parses nothing while ``comfy.options.args_parsing`` is False,
    so ``args.cpu`` is set by hand; otherwise a CUDA build of torch on a machine
    without a GPU fails at import ("Found no NVIDIA driver").
    """
    if comfyui_path is not None:
        path = str(Path(comfyui_path).resolve())
        if path not in sys.path:
            sys.path.insert(0, path)
    from comfy.cli_args import args  # noqa: E402  (ComfyUI import)

    if "comfy.model_management" not in sys.modules:
        args.cpu = True


# --------------------------------------------------------------------------------------
# Weight filling
# --------------------------------------------------------------------------------------

def _norm_modules(root):
    """Map parameter name -> module for normalisation layers (weights near 1)."""
    import torch

    norm_types = (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.RMSNorm)
    out = {}
    for mod_name, mod in root.named_modules():
        is_norm = isinstance(mod, norm_types) or type(mod).__name__ in ("RMSNorm", "PixelNorm")
        if is_norm:
            prefix = f"{mod_name}." if mod_name else ""
            out[f"{prefix}weight"] = mod
    return out


def _fill_random(module, generator, special=None) -> dict:
    """Return a state dict of ``module`` with seeded random values.

    * matrices / conv kernels: N(0, 1/fan_in); vectors and scale-shift tables: N(0, 0.02)
    * normalisation weights: 1 + N(0, 0.02) (or N(0, 0.02) for Gemma's ``w + 1`` norms)
    * learnable registers: N(0, 1)
    * latent statistics: std U(0.5, 1.5), mean N(0, 0.1)
    * persistent anti-aliasing filter buffers keep their constructor values
    * ``special``: name -> tensor overrides (e.g. STFT / mel bases)
    """
    import torch

    special = special or {}
    norms = _norm_modules(module)
    buffers = {name for name, _ in module.named_buffers()}
    sd = module.state_dict()
    out = {}
    for name in sorted(sd):
        t = sd[name]
        leaf = name.rsplit(".", 1)[-1]
        if name in special:
            val = special[name].to(torch.float32)
        elif leaf == "std-of-means":
            val = torch.rand(t.shape, generator=generator) + 0.5
        elif leaf == "mean-of-means":
            val = torch.randn(t.shape, generator=generator) * 0.1
        elif name in buffers:
            if leaf != "filter":
                raise RuntimeError(f"unhandled persistent buffer {name!r}")
            val = t.detach().clone().to(torch.float32)
        elif "learnable_registers" in name:
            val = torch.randn(t.shape, generator=generator)
        elif "scale_shift_table" in leaf:
            val = torch.randn(t.shape, generator=generator) * 0.02
        elif name in norms:
            noise = torch.randn(t.shape, generator=generator) * 0.02
            val = noise if getattr(norms[name], "add", False) else noise + 1.0
        elif t.ndim >= 2:
            fan_in = max(1, math.prod(t.shape[1:]))
            val = torch.randn(t.shape, generator=generator) / math.sqrt(fan_in)
        else:
            val = torch.randn(t.shape, generator=generator) * 0.02
        out[name] = val
    return out


def _stft_mel_bases(n_fft: int, n_mels: int, sample_rate: int):
    """Hann-windowed DFT bases (real rows, then imaginary rows) and a slaney mel bank."""
    import torch
    import torchaudio

    n_freqs = n_fft // 2 + 1
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_freqs, dtype=torch.float64).unsqueeze(1)
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    angle = 2.0 * math.pi * k * n / n_fft
    forward = torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window], dim=0)
    inverse = torch.linalg.pinv(forward).T  # (2*n_freqs, n_fft)
    mel = torchaudio.functional.melscale_fbanks(
        n_freqs, 0.0, sample_rate / 2.0, n_mels, sample_rate, norm="slaney", mel_scale="slaney"
    ).T  # (n_mels, n_freqs)
    return (
        forward.unsqueeze(1).float(),
        inverse.unsqueeze(1).float(),
        mel.float().contiguous(),
    )


# --------------------------------------------------------------------------------------
# Components
# --------------------------------------------------------------------------------------

@contextlib.contextmanager
def tiny_gemma_config():
    """Temporarily make ``llama.Gemma3_12B`` build the tiny Gemma-3 (generator only)."""
    import dataclasses

    import comfy.text_encoders.llama as llama

    base = llama.Gemma3_12B_Config

    @dataclasses.dataclass
    class TinyGemma3Config(base):
        vocab_size: int = GEMMA_VOCAB
        hidden_size: int = GEMMA_HIDDEN
        intermediate_size: int = GEMMA_MLP
        num_hidden_layers: int = GEMMA_LAYERS
        num_attention_heads: int = GEMMA_HEADS
        num_key_value_heads: int = GEMMA_KV_HEADS
        head_dim = GEMMA_HEAD_DIM
        vision_config = GEMMA_VISION_CONFIG

    llama.Gemma3_12B_Config = TinyGemma3Config
    try:
        yield
    finally:
        llama.Gemma3_12B_Config = base


def _tokenizer_corpus(seed: int):
    """A deterministic pseudo-English corpus rich enough for a 1024-piece BPE."""
    rng = random.Random(seed)
    fixed = [
        "A cinematic shot of a person walking through a sunlit forest, camera tracking.",
        "Low quality, blurry, distorted, watermark, text, jitter, static frame.",
        "The quick brown fox jumps over the lazy dog while the camera pans left.",
        "You are a helpful assistant. Describe the video in detail, 1080p, 24 fps.",
    ]
    onsets = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "qu", "r", "s",
              "t", "v", "w", "y", "z", "br", "cr", "dr", "fl", "gr", "pl", "st", "th", "sh", "ch", "tr"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io", "ee", "oo", "y"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "ng", "st", "ck", "rt", "x"]
    words = []
    for _ in range(3000):
        syl = rng.randint(1, 3)
        words.append("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syl)))
    lines = list(fixed)
    for _ in range(6000):
        n = rng.randint(4, 14)
        sent = " ".join(rng.choice(words) for _ in range(n))
        if rng.random() < 0.3:
            sent = sent.capitalize()
        if rng.random() < 0.2:
            sent += f" {rng.randint(0, 9999)}"
        sent += rng.choice([".", ",", "!", "?", ";", ":"])
        lines.append(sent)
    return lines


def build_tokenizer(seed: int = SEED_TE) -> bytes:
    """Train the tiny Gemma-3-id-layout SentencePiece BPE model; returns the proto bytes."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_tokenizer_corpus(seed)),
        model_writer=model,
        model_type="bpe",
        vocab_size=GEMMA_VOCAB,
        character_coverage=1.0,
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3,
        pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
        user_defined_symbols=_RESERVED_TOKENS + _TURN_TOKENS,
        num_threads=1,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    proto = model.getvalue()
    sp = spm.SentencePieceProcessor(model_proto=proto)
    expected = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<start_of_turn>": 105, "<end_of_turn>": 106}
    got = {piece: sp.piece_to_id(piece) for piece in expected}
    if got != expected or sp.get_piece_size() != GEMMA_VOCAB:
        raise RuntimeError(f"tokenizer special ids {got}, size {sp.get_piece_size()}")
    return proto


def build_checkpoint(seed: int = SEED_CHECKPOINT):
    """Return (state_dict, metadata, transformer_module) for the tiny LTX-2.3 checkpoint."""
    import torch

    import comfy.ops
    from comfy.ldm.lightricks.av_model import LTXAVModel
    from comfy.ldm.lightricks.vae.audio_vae import AudioVAE
    from comfy.ldm.lightricks.vae.causal_video_autoencoder import VideoVAE
    from comfy.text_encoders.lt import DualLinearProjection

    gen = torch.Generator().manual_seed(seed)
    ops = comfy.ops.disable_weight_init
    config = {
        "transformer": TRANSFORMER_CONFIG,
        "vae": VAE_CONFIG,
        "audio_vae": AUDIO_VAE_CONFIG,
        "vocoder": VOCODER_CONFIG,
    }
    metadata = {"config": json.dumps(config), "model_version": MODEL_VERSION}

    sd = {}
    transformer = LTXAVModel(**TRANSFORMER_CONFIG, dtype=torch.float32, device="cpu", operations=ops)
    for k, v in _fill_random(transformer, gen).items():
        sd[f"model.diffusion_model.{k}"] = v

    vae = VideoVAE(config=VAE_CONFIG)
    for k, v in _fill_random(vae, gen).items():
        sd[f"vae.{k}"] = v

    audio = AudioVAE(metadata=metadata)
    bwe = VOCODER_CONFIG["bwe"]
    fwd, inv, mel = _stft_mel_bases(bwe["n_fft"], bwe["num_mels"], bwe["input_sampling_rate"])
    special = {
        "mel_stft.stft_fn.forward_basis": fwd,
        "mel_stft.stft_fn.inverse_basis": inv,
        "mel_stft.mel_basis": mel,
    }
    for k, v in _fill_random(audio.autoencoder, gen).items():
        sd[f"audio_vae.{k}"] = v
    for k, v in _fill_random(audio.vocoder, gen, special=special).items():
        sd[f"vocoder.{k}"] = v

    proj = DualLinearProjection(GEMMA_HIDDEN * (GEMMA_LAYERS + 1), VIDEO_CROSS_DIM, AUDIO_CROSS_DIM,
                                dtype=torch.float32, device="cpu", operations=ops)
    for k, v in _fill_random(proj, gen).items():
        sd[f"text_embedding_projection.{k}"] = v
    return sd, metadata, transformer


def build_text_encoder(seed: int = SEED_TE):
    """Return the tiny Gemma-3 TE state dict (including the ``spiece_model`` tensor)."""
    import torch

    import comfy.ops
    import comfy.text_encoders.llama as llama

    gen = torch.Generator().manual_seed(seed)
    with tiny_gemma_config():
        gemma = llama.Gemma3_12B({}, torch.float32, "cpu", comfy.ops.disable_weight_init)
    sd = _fill_random(gemma, gen)
    sd["spiece_model"] = torch.frombuffer(bytearray(build_tokenizer(seed)), dtype=torch.uint8).clone()
    return sd


# Modules an IC-LoRA of LTX-2.3 typically adapts (video attention, FF and the A<->V links).
_IC_TARGETS = (
    "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
    "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0",
    "ff.net.0.proj", "ff.net.2",
    "audio_to_video_attn.to_q", "audio_to_video_attn.to_k",
    "audio_to_video_attn.to_v", "audio_to_video_attn.to_out.0",
    "video_to_audio_attn.to_q", "video_to_audio_attn.to_k",
    "video_to_audio_attn.to_v", "video_to_audio_attn.to_out.0",
)


def lora_target_modules(transformer, ic: bool):
    """Names of Linear modules inside the transformer blocks that a LoRA adapts.

    The IC-LoRA adapts the ``_IC_TARGETS`` of every block; the distilled LoRA adapts
    every Linear of every block (video and audio), like a full-model distillation LoRA.
    """
    import torch

    names = []
    for name, mod in transformer.named_modules():
        if not name.startswith("transformer_blocks.") or not isinstance(mod, torch.nn.Linear):
            continue
        local = name.split(".", 2)[2]
        if ic and local not in _IC_TARGETS:
            continue
        names.append(name)
    return sorted(names)


def build_lora(transformer, seed: int, ic: bool, rank: int = LORA_RANK):
    """Rank-``rank`` LoRA in the ``diffusion_model.<module>.lora_A/B.weight`` format."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    modules = dict(transformer.named_modules())
    sd = {}
    for name in lora_target_modules(transformer, ic):
        w = modules[name].weight
        out_f, in_f = w.shape
        sd[f"diffusion_model.{name}.lora_A.weight"] = torch.randn((rank, in_f), generator=gen) / math.sqrt(in_f)
        sd[f"diffusion_model.{name}.lora_B.weight"] = torch.randn((out_f, rank), generator=gen) * 0.1
    return sd


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------

def _save(sd, path: Path, metadata=None, dtype=None):
    """Save atomically (write to a temp name, then rename) in ``dtype`` (bf16 default)."""
    import torch

    import comfy.utils

    dtype = dtype or torch.bfloat16
    out = {k: (v if v.dtype == torch.uint8 else v.to(dtype)).contiguous() for k, v in sd.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    comfy.utils.save_torch_file(out, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def generate(out_dir, comfyui_path=None, dtype: str = "bf16") -> dict:
    """Write the four tiny files under ``out_dir``; return {relative name: Path}.

    ``comfyui_path`` is put on ``sys.path`` (unless ComfyUI is already importable).
    ``dtype`` is ``"bf16"`` (as the released files) or ``"fp32"``.
    """
    setup_comfy(comfyui_path)
    import torch

    torch_dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    out = Path(out_dir)
    paths = {rel: out / rel for rel in FILES}

    ckpt_sd, metadata, transformer = build_checkpoint()
    _save(ckpt_sd, paths[CHECKPOINT], metadata=metadata, dtype=torch_dtype)
    _save(build_text_encoder(), paths[TEXT_ENCODER], dtype=torch_dtype)
    _save(build_lora(transformer, SEED_DISTILLED, ic=False), paths[DISTILLED_LORA], dtype=torch_dtype)
    _save(build_lora(transformer, SEED_IC, ic=True), paths[IC_LORA],
          metadata={"reference_downscale_factor": "2"}, dtype=torch_dtype)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH"),
                        help="ComfyUI checkout (default: $COMFYUI_PATH)")
    parser.add_argument("--out", required=True, help="models directory to write into")
    parser.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16")
    ns = parser.parse_args(argv)
    if not ns.comfyui:
        parser.error("--comfyui (or $COMFYUI_PATH) is required")
    t0 = time.perf_counter()
    paths = generate(ns.out, comfyui_path=ns.comfyui, dtype=ns.dtype)
    for rel, path in paths.items():
        print(f"{path}  {path.stat().st_size:,} bytes")
    print(f"generated {len(paths)} files in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
