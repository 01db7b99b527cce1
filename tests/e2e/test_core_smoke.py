"""HTTP smoke test: the core-only LTX-2.3 reference-video-to-video graph on tiny models.

One real ComfyUI server per module (``main.py --cpu``, isolated base directory, only the
test-only ``te_adjust`` and ``probe`` custom nodes whitelisted, so this runs whether or
not the pack itself imports yet). The prompt follows the official graph with core
nodes (shared/reference/tiny_models.md section 5, adapted to v0.27.0 schemas):
checkpoint -> distilled LoRA (0.5) -> IC-LoRA (1.0, reference_downscale_factor 2 read
by core's ``GetICLoRAParameters``) -> CFG guider; Gemma TE -> 2 x CLIPTextEncode ->
LTXVConditioning; source video -> resize -> Canny -> small-grid guide; first frame ->
LTXVImgToVideoInplace; audio latent; 8 manual sigmas; crop guides; decode; MP4.

Skipped (one-line reason) unless COMFYUI_PATH and COMFY_PYTHON are set.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from . import harness

ENV = harness.comfy_env()
if ENV is None:
    pytest.skip(harness.comfy_env_reason(), allow_module_level=True)

WIDTH, HEIGHT, FRAMES, FPS = 192, 128, 17, 25
CLIP_NAME = "rv2v_smoke_source.mp4"
# The official 8-step distilled sigma list of the LTX-2.3 preset.
SIGMAS = "1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0"


def core_prompt(clip_name: str, seed: int = 42, probe_prefix: str = "smoke") -> dict:
    """The core-only API prompt (node ids are strings; links are [node_id, output_index])."""
    ckpt = harness.CHECKPOINT.split("/", 1)[1]
    return {
        # model: checkpoint -> distilled LoRA -> IC-LoRA -> guider
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "LoraLoaderModelOnly", "inputs": {
            "model": ["1", 0], "lora_name": harness.DISTILLED_LORA.split("/", 1)[1], "strength_model": 0.5}},
        "3": {"class_type": "LoraLoaderModelOnly", "inputs": {
            "model": ["2", 0], "lora_name": harness.IC_LORA.split("/", 1)[1], "strength_model": 1.0}},
        "4": {"class_type": "GetICLoRAParameters", "inputs": {"iclora_model": ["3", 0]}},
        "5": {"class_type": "CFGGuider", "inputs": {
            "model": ["3", 0], "positive": ["19", 0], "negative": ["19", 1], "cfg": 1.0}},
        # text
        "6": {"class_type": "LTXAVTextEncoderLoader", "inputs": {
            "text_encoder": harness.TEXT_ENCODER.split("/", 1)[1], "ckpt_name": ckpt, "device": "default"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {
            "clip": ["6", 0], "text": "A yellow square and a blue disc glide across a soft gradient."}},
        "8": {"class_type": "CLIPTextEncode", "inputs": {
            "clip": ["6", 0], "text": "blurry, low quality, still frame, watermark"}},
        "9": {"class_type": "LTXVConditioning", "inputs": {
            "positive": ["7", 0], "negative": ["8", 0], "frame_rate": ["11", 2]}},
        # source video -> control video (canny) -> latent size
        "10": {"class_type": "LoadVideo", "inputs": {"file": clip_name}},
        "11": {"class_type": "GetVideoComponents", "inputs": {"video": ["10", 0]}},
        "12": {"class_type": "ResizeImageMaskNode", "inputs": {
            "input": ["11", 0], "resize_type": "scale shorter dimension",
            "resize_type.shorter_size": 128, "scale_method": "area"}},
        "13": {"class_type": "ResizeImageMaskNode", "inputs": {
            "input": ["12", 0], "resize_type": "scale to multiple",
            "resize_type.multiple": 32, "scale_method": "area"}},
        "14": {"class_type": "Canny", "inputs": {"image": ["13", 0], "low_threshold": 0.4, "high_threshold": 0.8}},
        "15": {"class_type": "GetImageSize", "inputs": {"image": ["14", 0]}},
        "16": {"class_type": "EmptyLTXVLatentVideo", "inputs": {
            "width": ["15", 0], "height": ["15", 1], "length": ["15", 2], "batch_size": 1}},
        # first frame -> i2v; control video -> small-grid IC-LoRA guide
        "17": {"class_type": "ImageFromBatch", "inputs": {"image": ["13", 0], "batch_index": 0, "length": 1}},
        "18": {"class_type": "LTXVImgToVideoInplace", "inputs": {
            "vae": ["1", 2], "image": ["17", 0], "latent": ["16", 0], "strength": 1.0, "bypass": False}},
        "19": {"class_type": "LTXVAddGuide", "inputs": {
            "positive": ["9", 0], "negative": ["9", 1], "vae": ["1", 2], "latent": ["18", 0],
            "image": ["14", 0], "frame_idx": 0, "strength": 1.0, "iclora_parameters": ["4", 0]}},
        # audio latent
        "20": {"class_type": "LTXVAudioVAELoader", "inputs": {"ckpt_name": ckpt}},
        "21": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a", "values.a": ["11", 2]}},
        "22": {"class_type": "LTXVEmptyLatentAudio", "inputs": {
            "frames_number": ["15", 2], "frame_rate": ["21", 1], "batch_size": 1, "audio_vae": ["20", 0]}},
        "23": {"class_type": "LTXVConcatAVLatent", "inputs": {"video_latent": ["19", 2], "audio_latent": ["22", 0]}},
        # sampling
        "24": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler_ancestral_cfg_pp"}},
        "25": {"class_type": "ManualSigmas", "inputs": {"sigmas": SIGMAS}},
        "26": {"class_type": "RandomNoise", "inputs": {"noise_seed": seed}},
        "27": {"class_type": "SamplerCustomAdvanced", "inputs": {
            "noise": ["26", 0], "guider": ["5", 0], "sampler": ["24", 0], "sigmas": ["25", 0],
            "latent_image": ["23", 0]}},
        "28": {"class_type": "LTXVSeparateAVLatent", "inputs": {"av_latent": ["27", 0]}},
        "29": {"class_type": "LTXVCropGuides", "inputs": {
            "positive": ["19", 0], "negative": ["19", 1], "latent": ["28", 0]}},
        # decode + save
        "30": {"class_type": "VAEDecode", "inputs": {"samples": ["29", 2], "vae": ["1", 2]}},
        "31": {"class_type": "LTXVAudioVAEDecode", "inputs": {"samples": ["28", 1], "audio_vae": ["20", 0]}},
        "32": {"class_type": "CreateVideo", "inputs": {"images": ["30", 0], "fps": ["11", 2], "audio": ["31", 0]}},
        "33": {"class_type": "SaveVideo", "inputs": {
            "video": ["32", 0], "filename_prefix": "video/rv2v_smoke", "format": "mp4", "codec": "h264"}},
        # probes: the guided AV latent (noise masks) + guide conditioning, and the cropped result
        "34": {"class_type": "RV2VTest_SaveTensors", "inputs": {
            "name": f"{probe_prefix}_guided", "latent": ["23", 0], "conditioning": ["19", 0]}},
        "35": {"class_type": "RV2VTest_SaveTensors", "inputs": {
            "name": f"{probe_prefix}_cropped", "latent": ["29", 2], "image": ["30", 0]}},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("comfy_smoke")
    harness.make_clip(base / "src" / CLIP_NAME, WIDTH, HEIGHT, FRAMES, FPS, audio=True)
    srv = harness.ComfyServer(base / "base", env=ENV, packs=(harness.TE_ADJUST, harness.PROBE))
    with srv:
        yield srv


@pytest.fixture(scope="module")
def smoke_run(server, tmp_path_factory):
    """Upload the clip, run the prompt once; returns (history entry, seconds, download dir)."""
    src = next((server.base_dir.parent / "src").glob("*.mp4"))
    name = server.upload_file(src)
    t0 = time.perf_counter()
    entry = server.run(core_prompt(name), timeout=300)
    elapsed = time.perf_counter() - t0
    return entry, elapsed, tmp_path_factory.mktemp("smoke_out")


def test_server_loaded_test_packs(server):
    info = server.object_info("RV2VTest_SaveTensors")
    assert "RV2VTest_SaveTensors" in info
    assert "te_adjust (test-only) installed" in server.log
    assert server.import_failures() == []


def test_core_graph_writes_av_mp4(server, smoke_run):
    entry, elapsed, out_dir = smoke_run
    videos = [p for p in server.download_outputs(entry, out_dir, node_id="33") if p.suffix == ".mp4"]
    assert len(videos) == 1, harness.output_files(entry)
    media = harness.probe_media(videos[0])
    assert media["video"]["codec"] == "h264"
    assert (media["video"]["width"], media["video"]["height"]) == (WIDTH, HEIGHT)
    assert media["video"]["frames"] == FRAMES
    assert media["video"]["fps"] == pytest.approx(FPS)
    assert media["has_audio"] and media["audio"]["codec"] == "aac"
    assert media["audio"]["sample_rate"] == 48000  # the vocoder's BWE stage: 16 -> 48 kHz
    print(f"\ncold prompt: {elapsed:.2f}s; server startup {server.timings.get('startup', 0):.1f}s; "
          f"model generation {server.timings.get('generate_models', 0):.1f}s")


def test_loras_fully_matched(server, smoke_run):
    assert "lora key not loaded" not in server.log
    assert "clip missing" not in server.log


def test_probe_saves_guide_tensors(server, smoke_run):
    entry, _, out_dir = smoke_run
    (path,) = server.download_outputs(entry, out_dir, node_id="34")
    tensors, meta = harness.read_probe(path)

    # Nested AV latent: video with 3 latent frames + 3 dilated guide frames, then audio.
    assert meta["nested"] == {"latent.samples": 2, "latent.noise_mask": 2}
    assert tensors["latent.samples.0"].shape == (1, 128, 6, HEIGHT // 32, WIDTH // 32)
    assert tensors["latent.samples.1"].shape == (1, 8, FRAMES, 16)

    mask = tensors["latent.noise_mask.0"]
    assert mask.shape == (1, 1, 6, HEIGHT // 32, WIDTH // 32)
    assert np.all(mask[:, :, 0] == 0.0)  # i2v first frame: kept
    assert np.all(mask[:, :, 1:3] == 1.0)  # generated frames: fully denoised
    guide = mask[:, :, 3:]
    # small-grid guide (reference_downscale_factor 2): real tokens on the ::2 grid get
    # 1 - strength = 0; dilation holes get -1 - strength = -2.
    assert np.all(guide[..., ::2, ::2] == 0.0)
    holes = np.ones(guide.shape, dtype=bool)
    holes[..., ::2, ::2] = False
    assert np.all(guide[holes] == -2.0)
    assert np.all(tensors["latent.noise_mask.1"] == 1.0)  # audio: fully generated

    (cond,) = meta["cond"]
    assert cond["guide_attention_entries"] == [{
        "pre_filter_count": 3 * (HEIGHT // 32) * (WIDTH // 32),
        "strength": 1.0,
        "latent_shape": [3, HEIGHT // 64, WIDTH // 64],
        "has_pixel_mask": False,
    }]
    assert tensors["cond.0.keyframe_idxs"].shape == (1, 3, 3 * (HEIGHT // 32) * (WIDTH // 32), 2)
    assert cond["options"].get("frame_rate") == pytest.approx(FPS)


def test_probe_saves_cropped_latent_and_image(server, smoke_run):
    entry, _, out_dir = smoke_run
    (path,) = server.download_outputs(entry, out_dir, node_id="35")
    tensors, meta = harness.read_probe(path)
    assert tensors["latent.samples"].shape == (1, 128, 3, HEIGHT // 32, WIDTH // 32)
    image = tensors["image"]
    assert image.shape == (FRAMES, HEIGHT, WIDTH, 3)
    assert np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0
