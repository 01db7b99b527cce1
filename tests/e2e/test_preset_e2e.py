"""End-to-end: the SHIPPED API workflow through a real ComfyUI server, one case per preset feature.

Every case loads ``workflows/api/ltx23_reference_video_to_video.json`` and changes only the
Settings node's (``"1"``) inputs (plus, where a case needs it, one advanced input of the
planning node), adds test-only ``RV2VTest_SaveTensors`` probes where tensors are asserted,
and queues it over HTTP. Assertions are on the MP4 (codec, streams, frame count, fps,
size, x264 CRF) and on probed tensors (noise masks, guide positions, start latents).

Node ids of the shipped workflow (checked against the file's class types below):
1 Settings, 2 checkpoint, 4 IC-LoRA loader, 7 planning, 8 control, 12 start latents,
13 reference image, 14 IC-LoRA guide, 20 sampler, 22 crop guides, 25 save MP4.

One server for the module (tiny random-weight models, ``--cpu``). Skipped with a one-line
reason unless COMFYUI_PATH and COMFY_PYTHON are set.
"""
from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

from . import harness

ENV = harness.require_comfy_env()

WORKFLOW = harness.REPO_ROOT / "workflows" / "api" / "ltx23_reference_video_to_video.json"
PROMPT = "A yellow square and a blue disc glide across a soft gradient."

# Shipped workflow node ids.
SETTINGS, CKPT, PLAN, CONTROL, INIT, IMAGE, GUIDE, SAMPLE, CROP, SAVE = (
    "1", "2", "7", "8", "12", "13", "14", "20", "22", "25")
EXPECTED_CLASSES = {
    SETTINGS: "RV2V_Settings", CKPT: "CheckpointLoaderSimple", "4": "RV2V_ICLoRALoader",
    PLAN: "RV2V_ReferencePlan", CONTROL: "RV2V_Control", INIT: "RV2V_VideoInit",
    IMAGE: "RV2V_ReferenceImage", GUIDE: "RV2V_ICLoRAGuide", "19": "RV2V_Schedule",
    SAMPLE: "SamplerCustomAdvanced", CROP: "LTXVCropGuides", SAVE: "RV2V_SaveMP4",
}

# Source media (made once per module).
REF = ("rv2v_e2e_ref.mp4", 192, 128, 17, 25, True)  # 3:2 -> auto 768x512
CONTROL_CLIP = ("rv2v_e2e_control.mp4", 192, 128, 30, 25, False)  # different frame count
REF_640 = ("rv2v_e2e_ref640.mp4", 640, 512, 17, 25, True)  # 5:4 -> auto 640x512
IMAGE_NAME = "rv2v_e2e_image.png"

_STEPS_RE = re.compile(r"\|\s*(\d+)/(\d+) \[")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("comfy_preset")
    src = base / "src"
    for name, w, h, frames, fps, audio in (REF, CONTROL_CLIP, REF_640):
        harness.make_clip(src / name, w, h, frames, fps, audio=audio)
    harness.make_image(src / IMAGE_NAME, 192, 128)
    srv = harness.ComfyServer(base / "base", env=ENV, packs=harness.ALL_PACKS)
    with srv:
        srv.names = {p.name: srv.upload_file(p) for p in sorted(src.iterdir())}
        srv.out_dir = base / "downloads"
        yield srv


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------

def shipped() -> dict:
    return json.loads(WORKFLOW.read_text(encoding="utf-8"))


def workflow(srv, video=REF[0], **settings) -> dict:
    """The shipped API workflow with only node "1" inputs changed."""
    wf = shipped()
    inputs = wf[SETTINGS]["inputs"]
    inputs.update(prompt=PROMPT, input_video=srv.names[video])  # the shipped fixed seed (42) is kept
    for key, value in settings.items():
        assert key in inputs, f"{key} is not a Settings input"
        inputs[key] = value
    return wf


def add_probe(wf: dict, tag: str, **inputs) -> tuple[str, str]:
    """Add an RV2VTest_SaveTensors node (ids from 900); returns (node id, probe file name)."""
    node_id = next(str(i) for i in range(900, 10_000) if str(i) not in wf)
    name = f"{tag}_{time.time_ns()}"
    wf[node_id] = {"class_type": "RV2VTest_SaveTensors", "inputs": {"name": name, **inputs}}
    return node_id, name


class Run:
    """One executed prompt: history entry, log segment, downloaded MP4 + probes."""

    def __init__(self, srv, wf: dict, timeout: float = 400):
        self.srv = srv
        start = len(srv.log)
        t0 = time.perf_counter()
        self.entry = srv.run(wf, timeout=timeout)
        self.seconds = time.perf_counter() - t0
        self.log = srv.log[start:]
        self.dest = srv.out_dir / str(time.time_ns())

    def mp4(self):
        videos = [p for p in self.srv.download_outputs(self.entry, self.dest, node_id=SAVE) if p.suffix == ".mp4"]
        assert len(videos) == 1, harness.output_files(self.entry)
        return videos[0]

    def media(self) -> dict:
        return harness.probe_media(self.mp4())

    def probe(self, node_id: str):
        (path,) = self.srv.download_outputs(self.entry, self.dest, node_id=node_id)
        return harness.read_probe(path)

    def text(self, node_id: str) -> str:
        return "\n".join((self.entry.get("outputs", {}).get(node_id) or {}).get("text") or [])

    def sampler_steps(self) -> int:
        """Steps of the (single) sampling pass, from the tqdm bar in the server log."""
        totals = {int(m.group(2)) for m in _STEPS_RE.finditer(self.log)}
        assert len(totals) == 1, f"expected one sampling progress bar, found totals {totals}:\n{self.log[-3000:]}"
        return totals.pop()


def check_mp4(info: dict, width: int, height: int, frames: int, fps: float, audio: bool = True) -> None:
    assert info["format"].startswith("mov"), info
    assert info["video"]["codec"] == "h264", info
    assert (info["video"]["width"], info["video"]["height"]) == (width, height), info
    assert info["video"]["frames"] == frames, info
    assert info["video"]["fps"] == pytest.approx(fps, rel=1e-3), info
    assert info["has_audio"] is audio, info
    if audio:
        assert info["audio"]["codec"] == "aac", info
        assert info["audio"]["samples"] > 0, info


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b)) / np.mean(np.abs(b)))


# ----------------------------------------------------------------------------------------
# the shipped file
# ----------------------------------------------------------------------------------------

def test_shipped_workflow_node_ids():
    wf = shipped()
    for node_id, class_type in EXPECTED_CLASSES.items():
        assert wf[node_id]["class_type"] == class_type, (node_id, wf[node_id]["class_type"])
    assert wf[GUIDE]["inputs"]["latent"] == [IMAGE, 0]
    assert wf[IMAGE]["inputs"]["latent"] == [INIT, 0]
    assert wf[CROP]["inputs"]["latent"] == ["21", 0]


# ----------------------------------------------------------------------------------------
# 1. defaults
# ----------------------------------------------------------------------------------------

def test_defaults_121_frames_24fps_auto_size_with_audio_and_guide(server):
    wf = workflow(server)  # only prompt + input_video differ from the shipped values
    from rv2v.nodes.pure import params

    # the shipped Settings values are the preset defaults (media empty, fixed example seed)
    for p in params.PARAMS:
        if p.kind not in ("media", "text") and p.name != "seed":
            assert wf[SETTINGS]["inputs"][p.name] == p.default, p.name
    assert wf[SETTINGS]["inputs"]["input_image"] == wf[SETTINGS]["inputs"]["control_video_url"] == ""
    guide_probe, _ = add_probe(wf, "defaults_guide", latent=[GUIDE, 2], conditioning=[GUIDE, 0])
    init_probe, _ = add_probe(wf, "defaults_audio_init", latent=[INIT, 1])
    run = Run(server, wf)

    check_mp4(run.media(), 768, 512, 121, 24.0, audio=True)
    assert run.sampler_steps() == 8  # the full distilled schedule

    tensors, meta = run.probe(guide_probe)
    lh, lw, lf = 512 // 32, 768 // 32, (121 - 1) // 8 + 1
    samples, mask = tensors["latent.samples"], tensors["latent.noise_mask"]
    assert samples.shape == (1, 128, 2 * lf, lh, lw)  # guide frames appended: 2x the video frames
    assert mask.shape == (1, 1, 2 * lf, lh, lw)
    assert np.all(mask[:, :, :lf] == 1.0)  # generated frames (no input image)
    guide = mask[:, :, lf:]
    real = guide[..., ::2, ::2]
    holes = np.ones(guide.shape, dtype=bool)
    holes[..., ::2, ::2] = False
    assert np.allclose(real, 1.0 - 0.6, atol=1e-6)  # 1 - video_strength
    assert np.all(guide[holes] < 0) and np.allclose(guide[holes], -1.0 - 0.6, atol=1e-6)
    assert np.all(samples[:, :, lf:][np.broadcast_to(holes, samples[:, :, lf:].shape)] == 0.0)

    n_tokens = lf * lh * lw
    (cond,) = meta["cond"]
    assert tensors["cond.0.keyframe_idxs"].shape == (1, 3, n_tokens, 2)
    assert cond["guide_attention_entries"] == [{
        "pre_filter_count": n_tokens, "strength": 1.0, "latent_shape": [lf, lh // 2, lw // 2],
        "has_pixel_mask": False,
    }]
    assert cond["options"]["frame_rate"] == pytest.approx(24.0)

    # preserve off: the start audio latent is empty even though the reference has audio
    audio_tensors, audio_meta = run.probe(init_probe)
    assert audio_tensors["latent.samples"].shape[:2] == (1, 8)
    assert np.all(audio_tensors["latent.samples"] == 0.0)
    assert "ok" == run.text(SETTINGS)
    print(f"\ndefault run (121 frames 768x512): {run.seconds:.1f}s")


# ----------------------------------------------------------------------------------------
# 2. input_image
# ----------------------------------------------------------------------------------------

def test_input_image_freezes_first_latent_frame(server):
    wf = workflow(server, input_image=server.names[IMAGE_NAME], num_frames=17)
    probe, _ = add_probe(wf, "image_latent", latent=[IMAGE, 0])
    run = Run(server, wf)
    check_mp4(run.media(), 768, 512, 17, 24.0)
    tensors, _ = run.probe(probe)
    mask = tensors["latent.noise_mask"]
    assert tensors["latent.samples"].shape == (1, 128, 3, 16, 24)
    assert mask.shape[:3] == (1, 1, 3)
    assert np.all(mask[:, :, 0] == 0.0)  # frozen first frame (strength 1)
    assert np.all(mask[:, :, 1:] == 1.0)
    assert np.any(tensors["latent.samples"][:, :, 0] != 0.0)  # the encoded image


# ----------------------------------------------------------------------------------------
# 3. precomputed control video
# ----------------------------------------------------------------------------------------

def test_skip_preprocess_uses_control_video(server):
    wf = workflow(server, skip_control_preprocess=True, control_video_url=server.names[CONTROL_CLIP[0]],
                  num_frames=17)
    probe, _ = add_probe(wf, "given_control", image=[CONTROL, 0])
    run = Run(server, wf)
    check_mp4(run.media(), 768, 512, 17, 24.0)
    tensors, _ = run.probe(probe)
    control = tensors["image"]
    assert control.shape == (17, 512, 768, 3)
    assert np.isfinite(control).all() and control.min() >= 0.0 and control.max() <= 1.0
    assert "given control video" in run.text(CONTROL)
    # the given clip is not an edge map: many mid-grey values (canny output is binary)
    assert np.mean((control > 0.05) & (control < 0.95)) > 0.2


# ----------------------------------------------------------------------------------------
# 4. preserve_original_video at strength 0.5
# ----------------------------------------------------------------------------------------

def test_preserve_half_strength_runs_the_anchored_tail(server):
    wf = workflow(server, skip_control_preprocess=True, control_video_url=server.names[CONTROL_CLIP[0]],
                  preserve_original_video=True, strength=0.5, num_frames=9)
    probe, _ = add_probe(wf, "preserve_half_init", latent=[INIT, 0])
    run = Run(server, wf)
    check_mp4(run.media(), 768, 512, 9, 24.0)
    # SIGMAS cannot be probed; the sampler's progress bar shows the schedule length:
    # anchored [0.5, 0.421875, 0.0] -> 2 steps (the full distilled list has 8).
    assert run.sampler_steps() == 2
    tensors, _ = run.probe(probe)
    start = tensors["latent.samples"]
    assert start.shape == (1, 128, 2, 16, 24)
    assert np.mean(np.abs(start)) > 0  # the encoded source video, not an empty latent
    assert run.text(SETTINGS) == "ok"


# ----------------------------------------------------------------------------------------
# 5. preserve: start latent == core VAEEncode, small strength keeps it, audio encoded
# ----------------------------------------------------------------------------------------

def _preserve_run(server, strength: float) -> dict:
    wf = workflow(server, video=REF_640[0], skip_control_preprocess=True,
                  control_video_url=server.names[CONTROL_CLIP[0]], preserve_original_video=True,
                  strength=strength, num_frames=9)
    wf[PLAN]["inputs"]["working_short_side"] = 512  # working frames == output size (640x512)
    wf["800"] = {"class_type": "VAEEncode", "inputs": {"pixels": [PLAN, 0], "vae": [CKPT, 2]}}
    probes = {
        "A": add_probe(wf, "preserve_A", latent=[INIT, 0])[0],
        "B": add_probe(wf, "preserve_B", latent=["800", 0])[0],
        "C": add_probe(wf, "preserve_C", latent=[CROP, 2])[0],
        "audio": add_probe(wf, "preserve_audio", latent=[INIT, 1])[0],
    }
    run = Run(server, wf)
    check_mp4(run.media(), 640, 512, 9, 24.0)
    out = {key: run.probe(node)[0] for key, node in probes.items()}
    out["steps"] = run.sampler_steps()
    return out


def test_preserve_start_latent_is_the_encoded_source(server):
    low = _preserve_run(server, 0.02)
    high = _preserve_run(server, 1.0)
    for res in (low, high):
        a, b = res["A"]["latent.samples"], res["B"]["latent.samples"]
        assert a.shape == (1, 128, 2, 512 // 32, 640 // 32)
        np.testing.assert_array_equal(a, b)  # same encoder, same pixels
        assert res["C"]["latent.samples"].shape == a.shape
        # the source has audio: its encoding is the start audio latent
        audio = res["audio"]["latent.samples"]
        assert audio.shape[:2] == (1, 8) and np.any(audio != 0.0)
    np.testing.assert_array_equal(low["A"]["latent.samples"], high["A"]["latent.samples"])
    assert (low["steps"], high["steps"]) == (1, 8)  # [0.02, 0] vs the full list

    a = low["A"]["latent.samples"]
    keep = rel_diff(low["C"]["latent.samples"], a)
    regen = rel_diff(high["C"]["latent.samples"], a)
    print(f"\nmean|C-A|/mean|A|: strength 0.02 -> {keep:.4f}, strength 1.0 -> {regen:.4f}")
    assert keep < 0.1
    assert regen > 0.5


# ----------------------------------------------------------------------------------------
# 6. generate_audio false
# ----------------------------------------------------------------------------------------

def test_generate_audio_false_has_no_audio_stream(server):
    run = Run(server, workflow(server, generate_audio=False, num_frames=9))
    info = run.media()
    check_mp4(info, 768, 512, 9, 24.0, audio=False)
    assert info["streams"] == ["h264"]


# ----------------------------------------------------------------------------------------
# 7. every resolution
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("resolution, size", [
    ("auto", (768, 512)),
    ("square_hd", (704, 704)),
    ("square", (512, 512)),
    ("portrait_4_3", (704, 960)),
    ("portrait_16_9", (576, 1024)),
    ("landscape_4_3", (960, 704)),
    ("landscape_16_9", (1024, 576)),
])
def test_resolution(server, resolution, size):
    run = Run(server, workflow(server, resolution=resolution, num_frames=9))
    check_mp4(run.media(), *size, 9, 24.0)


# ----------------------------------------------------------------------------------------
# 8. frame counts and frame rates
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("num_frames", [9, 17])
@pytest.mark.parametrize("fps", [12.0, 30.0])
def test_frames_and_fps(server, num_frames, fps):
    run = Run(server, workflow(server, num_frames=num_frames, frames_per_second=fps))
    check_mp4(run.media(), 768, 512, num_frames, fps)


# ----------------------------------------------------------------------------------------
# 9. video_quality -> CRF
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("quality, crf", [("low", 28), ("maximum", 12)])
def test_video_quality_crf(server, quality, crf):
    from mp4_inspect import inspect_mp4

    run = Run(server, workflow(server, video_quality=quality, num_frames=9))
    path = run.mp4()
    check_mp4(harness.probe_media(path), 768, 512, 9, 24.0)
    info = inspect_mp4(path)
    assert info["crf"] == crf
    assert info["pix_fmt"] == "yuv420p" and info["faststart"]


# ----------------------------------------------------------------------------------------
# 10 + 11. queue-time validation, then a valid run with a rounded frame count
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings, expected", [
    (dict(preserve_original_video=True, skip_control_preprocess=False), "preserve_original_video: requires"),
    (dict(strength=0.0), "strength"),
    (dict(num_frames=5), "num_frames"),
    (dict(input_video="rv2v_no_such_file.mp4"), "input_video"),
    (dict(control_type="edges"), "control_type"),
])
def test_validation_rejects_at_queue_time(server, settings, expected):
    wf = workflow(server, num_frames=9)
    wf[SETTINGS]["inputs"].update(settings)
    before = sorted(p.name for p in server.output_dir.rglob("*.mp4"))
    t0 = time.perf_counter()
    with pytest.raises(harness.PromptRejected) as info:
        server.post_prompt(wf)
    elapsed = time.perf_counter() - t0
    errors = info.value.node_errors
    assert SETTINGS in errors, info.value.body
    messages = json.dumps(errors[SETTINGS])
    assert expected in messages, messages
    assert elapsed < 15, f"rejection took {elapsed:.1f}s"  # no model work
    assert sorted(p.name for p in server.output_dir.rglob("*.mp4")) == before


def test_server_keeps_serving_and_rounds_num_frames(server):
    """After the rejections above: a valid prompt runs; num_frames 20 -> 17 (reported)."""
    run = Run(server, workflow(server, num_frames=20))
    check_mp4(run.media(), 768, 512, 17, 24.0)
    assert "num_frames: 20 is not 8k+1; using 17 frames" in run.text(SETTINGS)
    assert "num_frames 20 rounded to 17" in run.text(PLAN)


def test_no_unmatched_lora_keys(server):
    assert "lora key not loaded" not in server.log
    assert server.import_failures() == []
