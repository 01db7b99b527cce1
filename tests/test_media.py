"""Tests for nodes/pure/media/ (probe, decode, resample, audio, images, MP4 encode).

Clips are tiny (64x48, a few frames). Most source clips are written with plain
PyAV where every frame is a flat grey level ``LEVELS[i]``, so a decoded frame
tells which source frame it came from.
"""
import math
import os
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rv2v.nodes.pure import media
from rv2v.nodes.pure.media import MediaCancelled, MediaError, source_indices_for_fps, uniform_indices

from mp4_inspect import inspect_mp4

W, H = 64, 48
STEP = 20  # grey-level spacing between consecutive source frames


def level(i):
    return 10 + STEP * i


def frame_ids(frames):
    """Source frame index of every decoded flat-grey frame."""
    means = frames.mean(dim=(1, 2, 3)) * 255.0
    return [int(round((float(m) - 10) / STEP)) for m in means]


def write_clip(path, n, fps=24, *, pts=None, time_base=None, size=(W, H), rotation=None,
               faststart=True, audio_rate=None):
    """Flat-grey H.264 clip; ``pts`` (with ``time_base``) gives explicit (VFR) timestamps."""
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", container_options=opts) as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"qp": "0", "preset": "ultrafast"}
        if time_base is not None:
            vs.codec_context.time_base = time_base
        if rotation is not None:
            vs.set_display_rotation(rotation)
        a_stream = None
        if audio_rate:
            a_stream = c.add_stream("aac", rate=audio_rate)
            a_stream.layout = "mono"
        for i in range(n):
            arr = np.full((size[1], size[0], 3), level(i), np.uint8)
            if rotation is not None:
                arr[:8, :8] = 255  # top-left marker in the stored picture
            f = av.VideoFrame.from_ndarray(arr, format="rgb24")
            f.pts = i if pts is None else pts[i]
            if time_base is not None:
                f.time_base = time_base
            c.mux(vs.encode(f))
        c.mux(vs.encode(None))
        if a_stream is not None:
            samples = int(audio_rate * n / fps)
            tone = (0.3 * np.sin(np.arange(samples) * 0.05)).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            af.sample_rate, af.pts = audio_rate, 0
            c.mux(a_stream.encode(af))
            c.mux(a_stream.encode(None))
    return str(path)


def write_audio_only(path, rate=16000, seconds=0.5):
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=rate)
        s.layout = "stereo"
        n = int(rate * seconds)
        wave = np.stack([np.sin(np.arange(n) * 0.03), np.cos(np.arange(n) * 0.02)]).astype(np.float32) * 0.2
        af = av.AudioFrame.from_ndarray(wave, format="fltp", layout="stereo")
        af.sample_rate, af.pts = rate, 0
        c.mux(s.encode(af))
        c.mux(s.encode(None))
    return str(path)


def write_image(path, arr, pix_fmt, codec="png", src_fmt=None):
    """One still image written with PyAV's image2 muxer."""
    with av.open(str(path), "w", format="image2", container_options={"update": "1"}) as c:
        s = c.add_stream(codec, rate=1)
        s.width, s.height, s.pix_fmt = arr.shape[1], arr.shape[0], pix_fmt
        f = av.VideoFrame.from_ndarray(arr, format=src_fmt or pix_fmt).reformat(format=pix_fmt)
        f.pts = 0
        c.mux(s.encode(f))
        c.mux(s.encode(None))
    return str(path)


def smooth_frames(n, h=H, w=W):
    """Smooth moving gradients (compress well, decode close to the input)."""
    t = torch.arange(n, dtype=torch.float32).view(n, 1, 1)
    y = torch.linspace(0, 1, h).view(1, h, 1)
    x = torch.linspace(0, 1, w).view(1, 1, w)
    r = 0.5 + 0.4 * torch.sin(2 * math.pi * (x + 0.05 * t))
    g = 0.5 + 0.4 * torch.cos(2 * math.pi * (y - 0.03 * t))
    b = (0.25 + 0.5 * x * y).expand(n, h, w)
    return torch.stack([r.expand(n, h, w), g.expand(n, h, w), b], dim=-1).contiguous()


def tone(seconds, rate=24000, channels=2):
    n = int(round(seconds * rate))
    t = torch.arange(n, dtype=torch.float32) / rate
    wave = torch.stack([0.3 * torch.sin(2 * math.pi * 440 * t * (c + 1)) for c in range(channels)])
    return {"waveform": wave.unsqueeze(0), "sample_rate": rate}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return {
        "c24": write_clip(d / "c24.mp4", 10, 24),
        "c30": write_clip(d / "c30.mp4", 10, 30),
        "c12": write_clip(d / "c12.mp4", 5, 12),
        "vfr": write_clip(d / "vfr.mp4", 7, 24, pts=[0, 20, 40, 60, 80, 300, 400], time_base=Fraction(1, 1000)),
        "rot": write_clip(d / "rot.mp4", 3, 24, rotation=90),
        "av": write_clip(d / "av.mp4", 10, 24, audio_rate=16000),
        "audio_only": write_audio_only(d / "audio_only.m4a"),
        "dir": str(d),
    }


# =============================================================================== constants


def test_video_quality_crf_contract():
    assert media.VIDEO_QUALITY_CRF == {"low": 28, "medium": 23, "high": 18, "maximum": 12}
    assert media.crf_for_quality("High") == 18
    with pytest.raises(ValueError, match="video_quality"):
        media.crf_for_quality("ultra")


# =============================================================================== index math


def test_indices_24_to_12_take_every_other_frame():
    idx, padded = source_indices_for_fps(48, 24, 12, 24)
    assert idx == list(range(0, 48, 2)) and padded == 0


def test_indices_30_to_24_round_half_up():
    idx, padded = source_indices_for_fps(30, 30, 24, 12)
    # i * 1.25: 0, 1.25, 2.5, 3.75, 5, 6.25, 7.5, 8.75, 10, 11.25, 12.5, 13.75
    assert idx == [0, 1, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14] and padded == 0


def test_indices_12_to_30_hold_last_frame():
    idx, padded = source_indices_for_fps(5, 12, 30, 20)
    # i * 0.4 rounds below 5 for i <= 11; the remaining 8 outputs hold frame 4
    assert idx[:12] == [0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4]
    assert idx[12:] == [4] * 8 and padded == 8


def test_indices_accept_fractional_rates():
    a, _ = source_indices_for_fps(100, Fraction(30000, 1001), 24, 50)
    b, _ = source_indices_for_fps(100, 30000 / 1001, 24.0, 50)
    assert a == b


def test_index_math_rejects_bad_arguments():
    with pytest.raises(ValueError):
        source_indices_for_fps(0, 24, 24, 3)
    with pytest.raises(ValueError, match="fps_out"):
        source_indices_for_fps(3, 24, 0, 3)
    with pytest.raises(ValueError):
        uniform_indices(0, 3)


@settings(max_examples=200, deadline=None)
@given(n_src=st.integers(1, 300), fps_src=st.integers(1, 120), fps_out=st.integers(1, 60), n_out=st.integers(0, 300))
def test_indices_properties(n_src, fps_src, fps_out, n_out):
    idx, padded = source_indices_for_fps(n_src, fps_src, fps_out, n_out)
    assert len(idx) == n_out
    assert all(0 <= i < n_src for i in idx)
    assert idx == sorted(idx)
    raw = [math.floor(Fraction(i * fps_src, fps_out) + Fraction(1, 2)) for i in range(n_out)]
    assert padded == sum(r >= n_src for r in raw)


def test_uniform_indices_examples():
    assert uniform_indices(10, 4) == [0, 3, 6, 9]
    assert uniform_indices(5, 9) == [0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert uniform_indices(7, 1) == [0]
    assert uniform_indices(1, 3) == [0, 0, 0]
    assert uniform_indices(9, 9) == list(range(9))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 500), st.integers(2, 500))
def test_uniform_indices_properties(n_src, n_out):
    idx = uniform_indices(n_src, n_out)
    assert len(idx) == n_out and idx[0] == 0 and idx[-1] == n_src - 1
    assert idx == sorted(idx)
    ref = np.floor(np.linspace(0, n_src - 1, n_out) + 0.5).astype(int).tolist()
    assert max(abs(a - b) for a, b in zip(idx, ref)) <= 1


# =============================================================================== probe


def test_probe_reads_metadata(clips):
    info = media.probe_video(clips["c24"])
    assert (info.width, info.height) == (W, H)
    assert info.fps == 24.0 and not info.fps_is_guess
    assert info.frame_count == 10 and info.frame_count_exact
    assert info.duration == pytest.approx(10 / 24, abs=0.01)
    assert info.codec == "h264" and not info.has_audio and info.audio_sample_rate is None


def test_probe_reports_audio(clips):
    info = media.probe_video(clips["av"])
    assert info.has_audio and info.audio_sample_rate == 16000 and info.audio_channels == 1
    assert info.audio_codec == "aac"


def test_probe_applies_rotation_to_display_size(clips):
    info = media.probe_video(clips["rot"])
    assert info.rotation == 90
    assert (info.coded_width, info.coded_height) == (W, H)
    assert (info.width, info.height) == (H, W)


# =============================================================================== decode_video


def test_decode_native_returns_every_frame(clips):
    frames, rep = media.decode_video(clips["c24"], mode="native")
    assert frames.shape == (10, H, W, 3) and frames.dtype == torch.float32
    assert frame_ids(frames) == list(range(10))
    assert rep.indices == list(range(10)) and rep.padded == 0
    assert rep.source_fps == 24.0 and rep.source_frame_count == 10 and rep.source_frame_count_exact
    assert float(frames.min()) >= 0.0 and float(frames.max()) <= 1.0


def test_decode_native_pads_with_last_frame(clips):
    frames, rep = media.decode_video(clips["c12"], mode="native", num_frames=8)
    assert frame_ids(frames) == [0, 1, 2, 3, 4, 4, 4, 4]
    assert rep.padded == 3 and rep.indices == [0, 1, 2, 3, 4, 4, 4, 4]
    assert any("repeat the last source frame" in w for w in rep.warnings)


def test_decode_native_stops_early(clips):
    frames, rep = media.decode_video(clips["c24"], mode="native", num_frames=3)
    assert frame_ids(frames) == [0, 1, 2]
    assert rep.frames_decoded <= 4 and rep.source_frame_count == 10


@pytest.mark.parametrize(
    "clip, fps_src, n_src, fps_out, n_out",
    [("c24", 24, 10, 12, 5), ("c30", 30, 10, 24, 8), ("c12", 12, 5, 30, 17), ("c24", 24, 10, 12, 9)],
)
def test_decode_time_mode_matches_index_math(clips, clip, fps_src, n_src, fps_out, n_out):
    frames, rep = media.decode_video(clips[clip], fps_out=fps_out, num_frames=n_out)
    expected, padded = source_indices_for_fps(n_src, fps_src, fps_out, n_out)
    assert frames.shape == (n_out, H, W, 3)
    assert rep.indices == expected and rep.padded == padded
    assert frame_ids(frames) == expected
    assert rep.fps_out == fps_out and rep.num_frames == n_out


def test_decode_time_mode_without_num_frames_covers_the_clip(clips):
    frames, rep = media.decode_video(clips["c24"], fps_out=30)
    # outputs at i/30 while before the end of the last frame (9/24 + 1/48)
    n = len([i for i in range(100) if Fraction(i, 30) < Fraction(9, 24) + Fraction(1, 48)])
    assert frames.shape[0] == n == 12
    assert rep.indices == source_indices_for_fps(10, 24, 30, n)[0] and rep.padded == 0
    assert frame_ids(frames) == rep.indices


def test_decode_time_mode_defaults_to_source_rate(clips):
    frames, rep = media.decode_video(clips["c30"])
    assert rep.fps_out == 30.0 and frame_ids(frames) == list(range(10))


def test_decode_time_mode_uses_timestamps_for_vfr(clips):
    # frames at 0, 20, 40, 60, 80, 300, 400 ms; outputs every 100 ms pick the
    # nearest frame: 0.1 s -> 80 ms (frame 4), 0.2 s and 0.3 s -> 300 ms (frame 5)
    frames, rep = media.decode_video(clips["vfr"], fps_out=10, num_frames=7)
    assert rep.indices == [0, 4, 5, 5, 6, 6, 6]
    assert frame_ids(frames) == [0, 4, 5, 5, 6, 6, 6]
    assert rep.padded == 2
    # index math on the average rate would have picked different frames
    avg = media.probe_video(clips["vfr"]).fps
    assert source_indices_for_fps(7, avg, 10, 7)[0] != rep.indices


def test_decode_uniform_mode(clips):
    frames, rep = media.decode_video(clips["c24"], mode="uniform", num_frames=4)
    assert rep.indices == [0, 3, 6, 9] and frame_ids(frames) == [0, 3, 6, 9]
    frames, rep = media.decode_video(clips["c12"], mode="uniform", num_frames=9)
    assert rep.indices == uniform_indices(5, 9) == frame_ids(frames)
    assert rep.padded == 0


def test_decode_uniform_needs_num_frames(clips):
    with pytest.raises(ValueError, match="num_frames"):
        media.decode_video(clips["c24"], mode="uniform")
    with pytest.raises(ValueError, match="mode"):
        media.decode_video(clips["c24"], mode="fastest")


def test_decode_with_resize_options(clips):
    frames, rep = media.decode_video(clips["c24"], mode="native", num_frames=2, short_side=24)
    assert frames.shape == (2, 24, 32, 3) and (rep.width, rep.height) == (32, 24)
    assert (rep.source_width, rep.source_height) == (W, H)
    frames, _ = media.decode_video(clips["c24"], mode="native", num_frames=2, size=(20, 30), resize_method="lanczos")
    assert frames.shape == (2, 30, 20, 3)
    with pytest.raises(ValueError, match="at most one"):
        media.decode_video(clips["c24"], short_side=24, size=(8, 8))


def test_decode_resizes_chunk_by_chunk(clips):
    """Each kept frame is resized right after decoding, a few at a time; the
    output is allocated at the target size (memory ~ output + one chunk)."""
    seen = []

    def shrink(x):
        seen.append(tuple(x.shape))
        return x[:, ::4, ::4]

    calls = []
    frames, rep = media.decode_video(clips["c24"], mode="native", resize=shrink, chunk_size=3,
                                     progress=lambda d, t: calls.append((d, t)))
    assert frames.shape == (10, H // 4, W // 4, 3)
    assert all(s[0] <= 3 and s[1:] == (H, W, 3) for s in seen) and sum(s[0] for s in seen) == 10
    assert calls[-1] == (10, 10) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert frame_ids(frames) == list(range(10))


def test_decode_converts_a_repeated_frame_once(clips):
    seen = []
    frames, rep = media.decode_video(clips["c12"], fps_out=30, num_frames=17,
                                     resize=lambda x: (seen.append(x.shape[0]), x)[1])
    assert frames.shape[0] == 17 and sum(seen) == 5  # 5 distinct source frames


def test_decode_applies_rotation(clips):
    frames, rep = media.decode_video(clips["rot"], mode="native")
    assert frames.shape == (3, W, H, 3)
    # the stored top-left marker ends up bottom-left after a 90 degree CCW turn
    assert float(frames[0, -4, 2].mean()) > 0.95 and float(frames[0, 2, 2].mean()) < 0.5
    raw, _ = media.decode_video(clips["rot"], mode="native", autorotate=False)
    assert raw.shape == (3, H, W, 3) and float(raw[0, 2, 2].mean()) > 0.95


def test_decode_high_bit_depth_without_frame_count(tmp_path):
    """10-bit FFV1 in Matroska: >8-bit precision is kept, and the missing
    container frame count is estimated (probe) or counted (uniform mode)."""
    path = str(tmp_path / "deep.mkv")
    ramp = np.linspace(0, 65535, W).round().astype(np.uint16)
    with av.open(path, "w") as c:
        s = c.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p10le"
        for i in range(6):
            arr = np.ascontiguousarray(np.broadcast_to(ramp[None, :, None], (H, W, 3)))
            f = av.VideoFrame.from_ndarray(arr, format="rgb48le").reformat(format="yuv420p10le")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    info = media.probe_video(path)
    assert not info.frame_count_exact and info.frame_count == 6 and info.fps == 24.0
    frames, rep = media.decode_video(path, mode="native")
    assert frames.shape == (6, H, W, 3) and rep.source_frame_count == 6
    off_grid = ((frames * 255) - (frames * 255).round()).abs()
    assert float(off_grid.max()) > 0.1  # not quantised to 8 bits
    assert torch.allclose(frames[0, 10, :, 1], torch.from_numpy(ramp / 65535.0).float(), atol=0.01)
    frames, rep = media.decode_video(path, mode="uniform", num_frames=3)
    assert rep.indices == [0, 3, 5] and rep.padded == 0  # 2.5 rounds up


def test_media_error_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(MediaError("/x/clip.mp4", "has no video stream", label="input_video")))
    assert str(err) == "input_video: 'clip.mp4' has no video stream" and err.label == "input_video"


def test_decode_should_stop_cancels(clips):
    with pytest.raises(MediaCancelled):
        media.decode_video(clips["c24"], should_stop=lambda: True, label="input_video")


def test_decode_handles_truncated_tail(tmp_path):
    src = tmp_path / "full.mp4"
    media.encode_mp4(src, torch.rand(20, H, W, 3, generator=torch.Generator().manual_seed(1)), 24)
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    frames, rep = media.decode_video(cut, mode="native", label="input_video")
    assert 0 < frames.shape[0] < 20
    assert rep.truncated and any("truncated" in w for w in rep.warnings)
    frames, rep = media.decode_video(cut, fps_out=24, num_frames=20)
    assert frames.shape[0] == 20 and rep.padded > 0


# =============================================================================== errors


def test_error_for_non_media_file(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 20)
    with pytest.raises(MediaError) as err:
        media.probe_video(bad, label="input_video")
    msg = str(err.value)
    assert msg.startswith("input_video: 'notes.mp4'") and "not a readable media file" in msg
    assert err.value.label == "input_video" and err.value.path == str(bad)
    assert isinstance(err.value, ValueError)


def test_error_for_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match=r"input_video: 'empty.mp4' is an empty file"):
        media.decode_video(empty, label="input_video")
    with pytest.raises(MediaError, match=r"control_video_url: 'gone.mp4' does not exist"):
        media.decode_video(tmp_path / "gone.mp4", label="control_video_url")
    with pytest.raises(MediaError, match="is a directory"):
        media.probe_video(tmp_path, label="input_video")


def test_error_for_truncated_mp4(tmp_path):
    # index at the end (no faststart): cutting the file loses the index
    src = write_clip(tmp_path / "slow.mp4", 10, 24, faststart=False)
    data = open(src, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    msg = r"input_video: 'cut.mp4' is not a readable media file or is damaged/truncated"
    with pytest.raises(MediaError, match=msg):
        media.decode_video(cut, label="input_video")
    # index present but no picture data at all
    fast = write_clip(tmp_path / "fast.mp4", 10, 24)
    data = open(fast, "rb").read()
    cut.write_bytes(data[: 1200])
    msg = r"input_video: 'cut.mp4' (has a video stream but no decodable frames|could not be decoded|is not a readable)"
    with pytest.raises(MediaError, match=msg):
        media.decode_video(cut, label="input_video")


def test_error_for_audio_only_file(clips):
    with pytest.raises(MediaError, match=r"input_video: 'audio_only.m4a' has no video stream \(only audio; it is an audio "
                                         r"file\); give a video file"):
        media.decode_video(clips["audio_only"], label="input_video")
    with pytest.raises(MediaError, match="has no video stream"):
        media.probe_video(clips["audio_only"], label="input_video")
    with pytest.raises(MediaError, match="input_image: 'audio_only.m4a' is not an image"):
        media.load_image(clips["audio_only"], label="input_image")


# =============================================================================== audio


def test_decode_audio_returns_none_without_audio(clips):
    assert media.decode_audio(clips["c24"]) is None


def test_decode_audio_shapes_and_resampling(clips):
    a = media.decode_audio(clips["audio_only"])
    assert a["sample_rate"] == 16000 and a["waveform"].dtype == torch.float32
    assert a["waveform"].shape[:2] == (1, 2)
    assert abs(a["waveform"].shape[2] - 8000) <= 1024
    part = media.decode_audio(clips["audio_only"], start=0.1, duration=0.2, sample_rate=8000)
    assert part["sample_rate"] == 8000 and part["waveform"].shape == (1, 2, 1600)
    # the slice lines up with the full decode
    full8k = media.decode_audio(clips["audio_only"], sample_rate=8000)["waveform"]
    assert torch.allclose(part["waveform"], full8k[..., 800:2400], atol=1e-4)


def test_decode_audio_seeks_to_a_late_start(tmp_path):
    path = write_audio_only(tmp_path / "long.m4a", rate=8000, seconds=3.0)
    full = media.decode_audio(path)["waveform"]
    part = media.decode_audio(path, start=2.0, duration=0.5)["waveform"]
    assert part.shape == (1, 2, 4000)
    assert torch.allclose(part, full[..., 16000:20000], atol=1e-4)


def test_decode_audio_errors(clips):
    with pytest.raises(MediaError, match="does not exist"):
        media.decode_audio(os.path.join(clips["dir"], "nope.wav"), label="audio")
    with pytest.raises(ValueError):
        media.decode_audio(clips["audio_only"], start=-1)


# =============================================================================== encode_mp4


def test_encode_round_trip_with_audio(tmp_path):
    frames = smooth_frames(10)
    dest = tmp_path / "out.mp4"
    rep = media.encode_mp4(dest, frames, 24, tone(1.0), crf=18)
    assert rep.path == str(dest) and dest.exists() and rep.size_bytes == dest.stat().st_size
    assert rep.audio_samples == math.ceil(10 / 24 * 24000) and rep.audio_sample_rate == 24000
    info = inspect_mp4(dest)
    assert info["video_codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"], info["frames"]) == (W, H, 10)
    assert info["fps"] == 24.0 and info["crf"] == 18.0 and info["faststart"]
    assert (info["color_primaries"], info["color_trc"], info["colorspace"]) == (1, 1, 1)
    assert info["audio"]["codec"] == "aac" and info["audio"]["sample_rate"] == 24000
    assert info["audio"]["channels"] == 2
    assert info["audio"]["duration"] == pytest.approx(10 / 24, abs=0.03)  # trimmed to the video
    decoded, drep = media.decode_video(dest, mode="native")
    assert decoded.shape == frames.shape
    assert float((decoded - frames).abs().mean()) < 0.02  # colours survive (BT.709 both ways)
    audio = media.decode_audio(dest)
    assert audio["waveform"].shape[1] == 2
    assert audio["waveform"].shape[2] == pytest.approx(10 / 24 * 24000, abs=30)


def test_encode_without_audio_has_no_audio_track(tmp_path):
    dest = tmp_path / "silent.mp4"
    rep = media.encode_mp4(dest, smooth_frames(5), 12, None, crf=23)
    assert not rep.has_audio and rep.audio_samples == 0
    info = inspect_mp4(dest)
    assert info["audio"] is None and info["frames"] == 5 and info["fps"] == 12.0
    assert media.decode_audio(dest) is None
    assert not media.probe_video(dest).has_audio


def test_encode_pads_short_audio_and_resamples_odd_rates(tmp_path):
    dest = tmp_path / "pad.mp4"
    rep = media.encode_mp4(dest, smooth_frames(12), 12, tone(0.25, rate=22000, channels=1))
    assert rep.audio_sample_rate == 48000  # 22 kHz is not an AAC rate
    info = inspect_mp4(dest)
    assert info["audio"]["channels"] == 1 and info["audio"]["sample_rate"] == 48000
    assert info["audio"]["duration"] == pytest.approx(1.0, abs=0.03)  # padded to the 1 s video
    tail = media.decode_audio(dest, start=0.5)["waveform"]
    assert float(tail.abs().max()) < 0.01  # the padding is silence


def test_encode_fractional_fps(tmp_path):
    dest = tmp_path / "ntsc.mp4"
    rep = media.encode_mp4(dest, smooth_frames(6), 30000 / 1001)
    assert rep.fps == Fraction(30000, 1001)
    info = inspect_mp4(dest)
    assert info["fps"] == pytest.approx(29.97, abs=0.01) and info["frames"] == 6
    rep = media.encode_mp4(tmp_path / "f.mp4", smooth_frames(3), Fraction(25, 2))
    assert inspect_mp4(rep.path)["fps"] == 12.5


def test_encode_odd_size_is_edge_padded(tmp_path):
    frames = smooth_frames(3, h=47, w=63)
    frames[:, :, -1] = torch.tensor([1.0, 0.0, 0.0])  # red last column
    rep = media.encode_mp4(tmp_path / "odd.mp4", frames, 24, crf=12)
    assert rep.padded_to_even and (rep.width, rep.height) == (64, 48)
    info = inspect_mp4(rep.path)
    assert (info["width"], info["height"]) == (64, 48)
    decoded, _ = media.decode_video(rep.path, mode="native")
    assert float(decoded[:, 10:40, -1, 0].mean()) > 0.8  # the added column repeats the edge
    assert float(decoded[:, 10:40, -1, 1].mean()) < 0.2


def test_encode_accepts_uint8_and_numpy(tmp_path):
    arr = (smooth_frames(4).numpy() * 255).round().astype(np.uint8)
    rep = media.encode_mp4(tmp_path / "u8.mp4", arr, 24)
    assert inspect_mp4(rep.path)["frames"] == 4
    rep = media.encode_mp4(tmp_path / "u8t.mp4", torch.from_numpy(arr), 24, chunk_size=3)
    assert inspect_mp4(rep.path)["frames"] == 4


def test_crf_changes_file_size(tmp_path):
    noisy = torch.rand(6, H, W, 3, generator=torch.Generator().manual_seed(3))
    sizes = {}
    for quality in ("maximum", "low"):
        rep = media.encode_mp4(tmp_path / f"{quality}.mp4", noisy, 24, None, media.VIDEO_QUALITY_CRF[quality])
        sizes[quality] = rep.size_bytes
        assert inspect_mp4(rep.path)["crf"] == media.VIDEO_QUALITY_CRF[quality]
    assert sizes["maximum"] > 1.5 * sizes["low"]


def _leftovers(folder):
    return sorted(os.listdir(folder))


def test_encode_failure_mid_stream_leaves_nothing(tmp_path):
    def explode(done, total):
        if done >= 4:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        media.encode_mp4(tmp_path / "x.mp4", smooth_frames(10), 24, tone(1.0), chunk_size=2, progress=explode)
    assert _leftovers(tmp_path) == []


def test_encode_failure_on_bad_frame_tensor_keeps_old_file(tmp_path):
    dest = tmp_path / "keep.mp4"
    dest.write_bytes(b"previous result")
    bad = torch.empty(4, H, W, 3, device="meta")  # right shape, but its data cannot be read
    with pytest.raises(Exception):
        media.encode_mp4(dest, bad, 24)
    assert _leftovers(tmp_path) == ["keep.mp4"] and dest.read_bytes() == b"previous result"


def test_encode_cancel_and_argument_errors(tmp_path):
    with pytest.raises(MediaCancelled):
        media.encode_mp4(tmp_path / "c.mp4", smooth_frames(3), 24, should_stop=lambda: True)
    with pytest.raises(ValueError, match=r"\[F, H, W, 3\]"):
        media.encode_mp4(tmp_path / "c.mp4", torch.rand(3, H, W, 4), 24)
    with pytest.raises(ValueError, match="crf"):
        media.encode_mp4(tmp_path / "c.mp4", smooth_frames(2), 24, crf=60)
    with pytest.raises(ValueError, match="fps"):
        media.encode_mp4(tmp_path / "c.mp4", smooth_frames(2), 0)
    with pytest.raises(ValueError, match="audio"):
        media.encode_mp4(tmp_path / "c.mp4", smooth_frames(2), 24, {"waveform": torch.zeros(1, 2, 10)})
    with pytest.raises(FileNotFoundError, match="output folder"):
        media.encode_mp4(tmp_path / "missing" / "c.mp4", smooth_frames(2), 24)
    assert _leftovers(tmp_path) == []


def test_encode_overwrites_existing_destination(tmp_path):
    dest = tmp_path / "o.mp4"
    media.encode_mp4(dest, smooth_frames(2), 24)
    media.encode_mp4(dest, smooth_frames(5), 24)
    assert inspect_mp4(dest)["frames"] == 5 and _leftovers(tmp_path) == ["o.mp4"]


# =============================================================================== load_image


def _rgba_fixture():
    arr = np.zeros((12, 16, 4), np.uint8)
    arr[..., 0], arr[..., 1], arr[..., 2] = 200, 100, 50
    arr[..., 3] = np.linspace(0, 255, 16).round().astype(np.uint8)[None]
    return arr


def test_load_image_rgba_png(tmp_path):
    arr = _rgba_fixture()
    path = write_image(tmp_path / "a.png", arr, "rgba")
    img = media.load_image(path, label="input_image")
    assert img.shape == (1, 12, 16, 3) and img.dtype == torch.float32
    assert torch.allclose(img[0], torch.from_numpy(arr[..., :3] / 255.0).float(), atol=1e-6)  # alpha dropped
    black = media.load_image(path, alpha="black")
    expected = arr[..., :3] / 255.0 * (arr[..., 3:4] / 255.0)
    assert torch.allclose(black[0], torch.from_numpy(expected).float(), atol=1e-5)
    assert float(black[0, :, 0].max()) == 0.0  # fully transparent column is black
    with pytest.raises(ValueError, match="alpha"):
        media.load_image(path, alpha="white")


def test_load_image_16bit_keeps_precision(tmp_path):
    g16 = np.linspace(0, 65535, 12 * 16).round().astype(np.uint16).reshape(12, 16)
    rgb16 = np.stack([g16, g16 // 2, 65535 - g16], -1)
    path = write_image(tmp_path / "c16.png", rgb16, "rgb48be", src_fmt="rgb48le")
    img = media.load_image(path)
    assert torch.allclose(img[0].double(), torch.from_numpy(rgb16 / 65535.0), atol=1e-6)
    gpath = write_image(tmp_path / "g16.png", g16, "gray16be", src_fmt="gray16le")
    gimg = media.load_image(gpath)
    assert torch.allclose(gimg[0, ..., 1].double(), torch.from_numpy(g16 / 65535.0), atol=1e-6)


def test_load_image_grey_png(tmp_path):
    g8 = (np.arange(12 * 16).reshape(12, 16) % 256).astype(np.uint8)
    img = media.load_image(write_image(tmp_path / "g.png", g8, "gray"))
    assert img.shape == (1, 12, 16, 3)
    for c in range(3):
        assert torch.allclose(img[0, ..., c], torch.from_numpy(g8 / 255.0).float(), atol=1e-6)


@pytest.mark.parametrize("name, codec, pix_fmt", [("j.jpg", "mjpeg", "yuvj420p"), ("w.webp", "libwebp", "yuv420p")])
def test_load_image_lossy_formats(tmp_path, name, codec, pix_fmt):
    rgb = np.ascontiguousarray(_rgba_fixture()[..., :3])
    img = media.load_image(write_image(tmp_path / name, rgb, pix_fmt, codec, "rgb24"))
    assert img.shape == (1, 12, 16, 3)
    assert torch.allclose(img[0, 4:8, 4:12], torch.tensor([200, 100, 50]) / 255.0, atol=0.04)


def test_load_image_errors(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    with pytest.raises(MediaError, match=r"^input_image: 'x.png' "):
        media.load_image(bad, label="input_image")
