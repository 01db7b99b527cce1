"""HTTP smoke test: the core-only LTX-2.3 reference-video-to-video graph on tiny models.

One real ComfyUI server per module (``main.py --cpu``, isolated base directory, only the
test-only ``te_adjust`` and ``probe`` custom nodes whitelisted, so this runs whether or
not the pack itself imports yet). The prompt follows the official graph with core
nodes (ComfyUI v0.27.0's own LTX-2.3 nodes and schemas):
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
from .graphs import SIGMAS, core_only_prompt

ENV = harness.require_comfy_env()

WIDTH, HEIGHT, FRAMES, FPS = 192, 128, 17, 25
CLIP_NAME = "rv2v_smoke_source.mp4"


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
    entry = server.run(core_only_prompt(name), timeout=300)
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
