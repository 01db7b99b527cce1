"""Decoding limits (read from metadata before decoding, enforced again while decoding),
the operator's environment variables, and how each class of awkward or bad media is
handled: every failure is a MediaError naming the field and the file."""
import logging
import struct
import zlib
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from rv2v.nodes.pure import media
from rv2v.nodes.pure.media import DecodeLimits, MediaError

NO = media.NO_LIMITS


def write_video(path, n, fps=24, size=(64, 48), *, fmt="mp4", codec="libx264", pix_fmt="yuv420p", pts=None,
                time_base=None, audio=False):
    """Flat-grey clip, frame i at level 10 + 8 i (so decoded frames identify their source)."""
    opts = {"movflags": "+faststart"} if fmt == "mp4" else {}
    with av.open(str(path), "w", format=fmt, container_options=opts) as c:
        vs = c.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], pix_fmt
        if codec == "libx264":
            vs.options = {"qp": "0", "preset": "ultrafast"}
        if time_base is not None:
            vs.codec_context.time_base = time_base
        a = None
        if audio:
            a = c.add_stream("aac", rate=16000)
            a.layout = "mono"
        for i in range(n):
            f = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), 10 + 8 * i, np.uint8), format="rgb24")
            f.pts = i if pts is None else pts[i]
            if time_base is not None:
                f.time_base = time_base
            c.mux(vs.encode(f))
        c.mux(vs.encode(None))
        if a is not None:
            af = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
            af.sample_rate, af.pts = 16000, 0
            c.mux(a.encode(af))
            c.mux(a.encode(None))
    return str(path)


def write_png(path, width, height, color_type, depth, rows, plte=None, trns=None):
    """A PNG written by hand (stdlib only), so the exact pixel values are known."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    raw = b"".join(b"\0" + bytes(r) for r in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))
    if plte is not None:
        data += chunk(b"PLTE", bytes(plte))
    if trns is not None:
        data += chunk(b"tRNS", bytes(trns))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(data)
    return str(path)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("limits")
    return {
        "c30": write_video(d / "c30.mp4", 30),  # 30 frames, 1.25 s at 24 fps, 64x48
        "one": write_video(d / "one.mp4", 1),
        "odd": write_video(d / "odd.mp4", 6, size=(127, 93), pix_fmt="yuv444p"),
        "vfr": write_video(d / "vfr.mp4", 6, pts=[0, 1, 2, 10, 11, 30], time_base=Fraction(1, 24)),
        "raw": write_video(d / "raw.h264", 30, fmt="h264"),  # no frame count or duration in the metadata
        "audio": write_video(d / "with_audio.mp4", 12, audio=True),
    }


def _replace(monkeypatch, name, value):
    """Replace the private helper ``name`` in every media submodule that holds it
    (the module defining it and the ones importing it), so no caller escapes."""
    holders = [m for m in (media.errors, media.limits, media.probe, media.selection, media.decode,
                           media.audio, media.image, media.encode) if hasattr(m, name)]
    assert holders, name
    for module in holders:
        monkeypatch.setattr(module, name, value)


def _no_decoding(monkeypatch):
    """Make any frame decoding fail the test: limits must be checked before it."""
    _replace(monkeypatch, "_decode_frames", lambda *a, **k: pytest.fail("a frame was decoded"))


# ============================================================================ limits from metadata


@pytest.mark.parametrize("limits,fragment", [
    (DecodeLimits(max_frames=29),
     "is 64x48 with 30 frames, 1.2 s at 24 fps, which exceeds the limit of 29 frames (RV2V_MAX_VIDEO_FRAMES); "
     "trim the clip or raise the limit (0 = no limit)"),
    (DecodeLimits(max_seconds=1.0),
     "is 1.2 s long (64x48, 30 frames at 24 fps), which exceeds the limit of 1 s (RV2V_MAX_VIDEO_SECONDS); "
     "trim the clip"),
    (DecodeLimits(max_side=63), "is 64x48: its long side (64 px), which exceeds the limit of 63 px "
                                "(RV2V_MAX_VIDEO_SIDE); downscale the video or raise the limit"),
    (DecodeLimits(max_pixels=64 * 48 - 1), "which exceeds the limit of 3071 pixels (RV2V_MAX_VIDEO_PIXELS)"),
])
def test_limits_are_checked_from_metadata_before_decoding(clips, monkeypatch, limits, fragment):
    _no_decoding(monkeypatch)
    for call in (lambda: media.probe_video(clips["c30"], label="input_video", limits=limits),
                 lambda: media.decode_video(clips["c30"], num_frames=9, label="input_video", limits=limits),
                 lambda: media.decode_video(clips["c30"], num_frames=9, mode="uniform", label="input_video",
                                            limits=limits)):
        with pytest.raises(MediaError) as info:
            call()
        assert str(info.value).startswith("input_video: 'c30.mp4' ") and fragment in str(info.value), info.value


def test_a_clip_exactly_at_the_limits_is_accepted(clips):
    exact = DecodeLimits(max_frames=30, max_seconds=1.25, max_side=64, max_pixels=64 * 48)
    assert media.probe_video(clips["c30"], limits=exact).frame_count == 30
    frames, rep = media.decode_video(clips["c30"], mode="native", limits=exact)
    assert frames.shape[0] == 30 and rep.frames_decoded == 30


def test_frame_limit_is_enforced_while_decoding_when_metadata_has_no_count(clips):
    info = media.probe_video(clips["raw"], limits=DecodeLimits(max_frames=5))  # metadata: no count to check
    assert not info.frame_count_exact
    with pytest.raises(MediaError, match=r"input_video: 'raw.h264' has more than 5 frames \(decoding stopped "
                                         r"there.*\(RV2V_MAX_VIDEO_FRAMES\); trim the clip"):
        media.decode_video(clips["raw"], mode="native", label="input_video", limits=DecodeLimits(max_frames=5))
    with pytest.raises(MediaError, match=r"has more than 5 frames.*RV2V_MAX_VIDEO_FRAMES"):  # demux count
        media.decode_video(clips["raw"], mode="uniform", num_frames=3, label="input_video",
                           limits=DecodeLimits(max_frames=5))
    frames, _ = media.decode_video(clips["raw"], mode="native", limits=DecodeLimits(max_frames=30))
    assert frames.shape[0] == 30


def test_limits_are_enforced_while_decoding_when_metadata_lies(clips, monkeypatch):
    _replace(monkeypatch, "_check_stream_metadata", lambda *a, **k: None)  # as if the metadata said "fine"
    with pytest.raises(MediaError, match=r"'c30.mp4' has more than 10 frames \(decoding stopped there; the "
                                         r"metadata said 30\)"):
        media.decode_video(clips["c30"], mode="native", limits=DecodeLimits(max_frames=10))
    with pytest.raises(MediaError, match=r"'c30.mp4' runs past 0.5 s .*limit of 0.5 s \(RV2V_MAX_VIDEO_SECONDS\)"):
        media.decode_video(clips["c30"], mode="native", limits=DecodeLimits(max_seconds=0.5))
    with pytest.raises(MediaError, match=r"is 64x48 .*RV2V_MAX_VIDEO_PIXELS"):  # size of the decoded frame
        media.probe_video(clips["c30"], limits=DecodeLimits(max_pixels=100))
    with pytest.raises(MediaError, match=r"is 64x48: its long side .*RV2V_MAX_VIDEO_SIDE"):
        media.decode_video(clips["c30"], num_frames=9, limits=DecodeLimits(max_side=32))


def test_time_mode_stops_before_a_frame_limit_it_does_not_need(clips, monkeypatch):
    """Only the frames actually decoded count; time mode stops once every output is known."""
    _replace(monkeypatch, "_check_stream_metadata", lambda *a, **k: None)
    frames, rep = media.decode_video(clips["c30"], fps_out=24, num_frames=9, limits=DecodeLimits(max_frames=12))
    assert frames.shape[0] == 9 and rep.frames_decoded <= 12


def test_image_pixel_limit_is_checked_from_the_header(tmp_path, monkeypatch):
    png = write_png(tmp_path / "big.png", 50, 40, 0, 8, [[7] * 50] * 40)
    _replace(monkeypatch, "_first_frame", lambda *a, **k: pytest.fail("the image was decoded"))
    with pytest.raises(MediaError, match=r"input_image: 'big.png' is 50x40 \(0.0 megapixels\), which exceeds the "
                                         r"limit of 1999 pixels \(RV2V_MAX_IMAGE_PIXELS\); downscale the image"):
        media.load_image(png, label="input_image", limits=DecodeLimits(max_image_pixels=1999))


def test_images_are_not_held_to_the_video_side_limit(tmp_path):
    png = write_png(tmp_path / "wide.png", 300, 2, 0, 8, [[9] * 300] * 2)
    img = media.load_image(png, limits=DecodeLimits(max_side=64, max_pixels=100))
    assert img.shape == (1, 2, 300, 3)


# ============================================================================ environment variables


def test_defaults():
    lim = DecodeLimits()
    assert (lim.max_seconds, lim.max_side, lim.max_pixels, lim.max_frames, lim.max_image_pixels) == \
        (600.0, 4096, 4096 * 2304, 36_000, 100_000_000)
    assert DecodeLimits.from_env({}) == lim
    # 4K UHD / DCI in either orientation fit; 8K does not
    for w, h in ((3840, 2160), (2160, 3840), (4096, 2160), (4096, 2304)):
        media.limits._check_size("x.mp4", "input_video", w, h, lim)
    with pytest.raises(MediaError, match="RV2V_MAX_VIDEO_SIDE"):
        media.limits._check_size("x.mp4", "input_video", 7680, 4320, lim)
    with pytest.raises(MediaError, match="RV2V_MAX_VIDEO_PIXELS"):
        media.limits._check_size("x.mp4", "input_video", 4096, 4096, lim)


def test_from_env_reads_every_limit_and_zero_means_none():
    lim = DecodeLimits.from_env({"RV2V_MAX_VIDEO_SECONDS": "90.5", "RV2V_MAX_VIDEO_SIDE": "2048",
                                 "RV2V_MAX_VIDEO_PIXELS": "0", "RV2V_MAX_VIDEO_FRAMES": "none",
                                 "RV2V_MAX_IMAGE_PIXELS": "5e6"})
    assert lim == DecodeLimits(max_seconds=90.5, max_side=2048, max_pixels=None, max_frames=None,
                               max_image_pixels=5_000_000)


def test_from_env_ignores_invalid_values_loudly(caplog):
    with caplog.at_level(logging.WARNING):
        lim = DecodeLimits.from_env({"RV2V_MAX_VIDEO_SECONDS": "ten", "RV2V_MAX_VIDEO_FRAMES": "-3",
                                     "RV2V_MAX_VIDEO_SIDE": "inf"})
    assert lim == DecodeLimits()
    assert "RV2V_MAX_VIDEO_SECONDS" in caplog.text and "RV2V_MAX_VIDEO_FRAMES" in caplog.text
    assert "RV2V_MAX_VIDEO_SIDE" in caplog.text


def test_media_functions_use_the_environment_by_default(clips, monkeypatch):
    monkeypatch.setenv("RV2V_MAX_VIDEO_FRAMES", "20")
    with pytest.raises(MediaError, match=r"exceeds the limit of 20 frames \(RV2V_MAX_VIDEO_FRAMES\)"):
        media.probe_video(clips["c30"], label="input_video")
    monkeypatch.setenv("RV2V_MAX_VIDEO_FRAMES", "0")
    assert media.probe_video(clips["c30"]).frame_count == 30
    monkeypatch.setenv("RV2V_MAX_IMAGE_PIXELS", "10")
    with pytest.raises(MediaError, match="RV2V_MAX_IMAGE_PIXELS"):
        media.load_image(clips["c30"], label="input_image")


# ============================================================================ awkward media that works


def test_one_frame_video_is_a_valid_still_clip(clips):
    info = media.probe_video(clips["one"], label="input_video")
    assert info.frame_count == 1 and (info.width, info.height) == (64, 48)
    frames, rep = media.decode_video(clips["one"], fps_out=24, num_frames=9, label="input_video")
    assert frames.shape == (9, 48, 64, 3) and rep.padded == 8 and rep.indices == [0] * 9
    frames, _ = media.decode_video(clips["one"], num_frames=5, mode="uniform")
    assert frames.shape[0] == 5


def test_odd_sized_video(clips):
    info = media.probe_video(clips["odd"])
    assert (info.width, info.height) == (127, 93)
    frames, _ = media.decode_video(clips["odd"], mode="native")
    assert frames.shape == (6, 93, 127, 3)
    frames, _ = media.decode_video(clips["odd"], fps_out=12, num_frames=3, size=(64, 48))
    assert frames.shape == (3, 48, 64, 3)
    levels = (frames.mean(dim=(1, 2, 3)) * 255).round().tolist()
    assert levels == pytest.approx([10, 26, 42], abs=3)  # frames 0, 2, 4


def test_variable_frame_rate_video_uses_timestamps(clips):
    frames, rep = media.decode_video(clips["vfr"], fps_out=24, num_frames=12)
    # source pts 0,1,2,10,11,30 (1/24 s): output i shows the source frame nearest to i/24 s (a tie, at
    # i = 6, goes to the later frame)
    assert rep.indices == [0, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4]
    assert (frames.mean(dim=(1, 2, 3)) * 255).round().tolist() == pytest.approx(
        [10 + 8 * k for k in rep.indices], abs=2)


def test_frames_that_change_size_mid_stream_keep_the_first_size(tmp_path, monkeypatch):
    path = tmp_path / "resize.mkv"
    with av.open(str(path), "w", format="matroska") as c:
        vs = c.add_stream("ffv1", rate=24)
        vs.width, vs.height, vs.pix_fmt = 32, 24, "yuv420p"
        for i in range(4):
            f = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 10 + 20 * i, np.uint8), format="rgb24")
            f.pts = i
            c.mux(vs.encode(f))
        c.mux(vs.encode(None))
    real = media.probe._decode_frames

    def growing(*a, **k):  # the decoder hands out a bigger frame from the third one on
        for i, frame in enumerate(real(*a, **k)):
            yield frame.reformat(width=48, height=36) if i >= 2 else frame

    _replace(monkeypatch, "_decode_frames", growing)
    frames, _ = media.decode_video(str(path), mode="native")
    assert frames.shape == (4, 24, 32, 3)
    assert (frames.mean(dim=(1, 2, 3)) * 255).round().tolist() == pytest.approx([10, 30, 50, 70], abs=2)


# ============================================================================ images


@pytest.mark.parametrize("name,ctype,depth,rows,extra,alpha,expected", [
    ("grey8", 0, 8, [[0, 128, 255]], {}, "drop", [[0, 0, 0], [128 / 255] * 3, [1, 1, 1]]),
    ("grey16", 0, 16, [[0x80, 0x00, 0xFF, 0xFF, 0x00, 0x01]], {}, "drop",
     [[0x8000 / 65535] * 3, [1, 1, 1], [1 / 65535] * 3]),
    ("grey_alpha_drop", 4, 8, [[200, 0, 100, 255, 50, 128]], {}, "drop",
     [[200 / 255] * 3, [100 / 255] * 3, [50 / 255] * 3]),
    ("grey_alpha_black", 4, 8, [[200, 0, 100, 255, 50, 128]], {}, "black",
     [[0, 0, 0], [100 / 255] * 3, [50 / 255 * 128 / 255] * 3]),
    ("palette", 3, 8, [[0, 1, 2]], {"plte": [255, 0, 0, 0, 0, 255, 10, 20, 30]}, "drop",
     [[1, 0, 0], [0, 0, 1], [10 / 255, 20 / 255, 30 / 255]]),
    ("palette_trns_black", 3, 8, [[0, 1, 2]], {"plte": [255, 0, 0, 0, 0, 255, 10, 20, 30], "trns": [0, 255]},
     "black", [[0, 0, 0], [0, 0, 1], [10 / 255, 20 / 255, 30 / 255]]),
    ("palette_2bit", 3, 2, [[0b00011000]], {"plte": [1, 2, 3, 40, 50, 60, 70, 80, 90]}, "drop",
     [[1 / 255, 2 / 255, 3 / 255], [40 / 255, 50 / 255, 60 / 255], [70 / 255, 80 / 255, 90 / 255]]),
    ("rgba8_drop", 6, 8, [[255, 0, 0, 0, 0, 255, 0, 255, 9, 9, 9, 128]], {}, "drop",
     [[1, 0, 0], [0, 1, 0], [9 / 255] * 3]),
    ("rgba8_black", 6, 8, [[255, 0, 0, 0, 0, 255, 0, 255, 9, 9, 9, 128]], {}, "black",
     [[0, 0, 0], [0, 1, 0], [9 / 255 * 128 / 255] * 3]),
    ("rgb16", 2, 16, [[0x12, 0x34, 0, 0, 0xFF, 0xFF] * 3], {}, "drop",
     [[0x1234 / 65535, 0, 1]] * 3),
    ("rgba16_black", 6, 16, [[0xFF, 0xFF, 0, 0, 0, 0, 0x80, 0x00] * 3], {}, "black",
     [[0x8000 / 65535, 0, 0]] * 3),
])
def test_png_variants_load_as_rgb(tmp_path, name, ctype, depth, rows, extra, alpha, expected):
    png = write_png(tmp_path / f"{name}.png", 3, 1, ctype, depth, rows, **extra)
    img = media.load_image(png, label="input_image", alpha=alpha)
    assert img.shape == (1, 1, 3, 3) and img.dtype == torch.float32
    got = img[0, 0].flatten().tolist()
    assert got == pytest.approx([v for px in expected for v in px], abs=2e-3 if depth <= 8 else 2e-5)


# ============================================================================ bad media: clear errors


def _text(p):
    p.write_text("This is a plain text file, not a video.\n" * 20)


def _noise(p):
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())


def _byte_ramp(p):
    p.write_bytes(bytes(range(256)) * 40)  # FFmpeg's "bin" demuxer renders this as a picture


def _audio_only(fmt, codec):
    def make(p):
        with av.open(str(p), "w", format=fmt) as c:
            a = c.add_stream(codec, rate=16000)
            a.layout = "mono"
            af = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32 if codec == "aac" else np.int16),
                                            format="fltp" if codec == "aac" else "s16", layout="mono")
            af.sample_rate, af.pts = 16000, 0
            c.mux(a.encode(af))
            c.mux(a.encode(None))
    return make


def _cover_art(p):
    with av.open(str(p), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=16000)
        a.layout = "mono"
        v = c.add_stream("mjpeg", rate=1)
        v.width, v.height, v.pix_fmt = 16, 16, "yuvj420p"
        v.disposition = av.stream.Disposition.attached_pic
        pic = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24").reformat(format="yuvj420p")
        c.mux(v.encode(pic))
        c.mux(v.encode(None))
        af = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        af.sample_rate, af.pts = 16000, 0
        c.mux(a.encode(af))
        c.mux(a.encode(None))


def _zero_frames(p, fmt="matroska"):
    with av.open(str(p), "w", format=fmt) as c:
        vs = c.add_stream("libx264", rate=24)
        vs.width, vs.height, vs.pix_fmt = 32, 24, "yuv420p"
        c.start_encoding()  # write the header although no frame follows
        c.mux(vs.encode(None))


def _no_streams(p):
    _zero_frames(p, "mp4")  # the mp4 muxer drops a track without samples


def _moov_at_end_cut(p):
    write_video(p, 12, fmt="mov")  # moov after mdat: cutting the tail loses the index
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _header_garbled(p):
    write_video(p, 6)
    data = bytearray(p.read_bytes())
    data[:64] = bytes(range(64))
    p.write_bytes(bytes(data))


def _concat_script(p):
    write_video(p.parent / "other.mp4", 3)
    p.write_text("ffconcat version 1.0\nfile other.mp4\n")


def _playlist(p):
    write_video(p.parent / "seg.mp4", 3)
    p.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nseg.mp4\n#EXT-X-ENDLIST\n")


BAD = [
    ("empty.mp4", lambda p: p.write_bytes(b""), "is an empty file (0 bytes)"),
    ("notes.mp4", _text, "is not a readable media file or is damaged/truncated"),
    ("notes.txt", _text, "is not a video or image file"),  # FFmpeg's tty demuxer would render the text
    ("ramp.bin", _byte_ramp, "is not a video or image file"),  # the bin demuxer would render the bytes
    ("noise.mp4", _noise, "is not a readable media file"),
    ("list.mp4", _concat_script, "is not a video or image file"),  # a concat script opens other files
    ("list.m3u8", _playlist, "'list.m3u8' is not a"),
    ("speech.wav", _audio_only("wav", "pcm_s16le"), "has no video stream (only audio; it is an audio file)"),
    ("speech.m4a", _audio_only("mp4", "aac"), "has no video stream (only audio; it is an audio file)"),
    ("song.m4a", _cover_art, "has no video stream (only cover art; it is an audio file)"),
    ("zero.mkv", _zero_frames, "has zero frames or is truncated"),
    ("nostreams.mp4", _no_streams, "the file contains no streams at all"),
    ("cut.mov", _moov_at_end_cut, "is not a readable media file or is damaged/truncated"),
    ("garbled.mp4", _header_garbled, "is not a readable media file or is damaged/truncated"),
]


@pytest.mark.parametrize("name,make,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_media_gives_a_clear_error_naming_field_and_file(tmp_path, name, make, fragment):
    path = tmp_path / name
    make(path)
    for call in (lambda: media.probe_video(path, label="input_video"),
                 lambda: media.decode_video(path, num_frames=9, label="input_video")):
        with pytest.raises(MediaError) as info:
            call()
        text = str(info.value)
        assert text.startswith(f"input_video: {name!r} ") and fragment in text, text
        assert str(tmp_path) not in text  # no server paths in messages


def test_a_directory_is_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(MediaError, match="input_video: 'sub' is a directory"):
        media.probe_video(tmp_path / "sub", label="input_video")


def test_audio_only_file_given_as_image(tmp_path):
    _audio_only("wav", "pcm_s16le")(tmp_path / "a.wav")
    with pytest.raises(MediaError, match=r"input_image: 'a.wav' is not an image \(it has no picture stream; "
                                         r"found: audio\)"):
        media.load_image(tmp_path / "a.wav", label="input_image")


def test_probe_reports_the_audio_of_a_video(clips):
    info = media.probe_video(clips["audio"])
    assert info.has_audio and info.audio_sample_rate == 16000 and info.audio_channels == 1
