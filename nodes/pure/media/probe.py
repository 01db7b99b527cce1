"""Opening media files safely, finding their streams, reading metadata (:func:`probe_video`).

:func:`_open_input` is the one way the package opens a file: only the ``file`` protocol,
and demuxers that read other files/URLs or render text as pictures are refused.
:func:`_decode_frames` is the shared decode loop guard: a decode error after the first
frame ends the stream with a warning (damaged tail), before it is a :class:`MediaError`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, List, Optional, Tuple

import av

from .errors import MediaError, PathLike
from .limits import DecodeLimits, _check_length, _check_size, _limits

_DEFAULT_FPS = 24.0  # used only when a file carries no usable frame rate at all
_ZERO_FRAMES = "has a video stream but no decodable frames (zero frames; truncated or damaged?)"


@dataclass(frozen=True)
class VideoInfo:
    """Metadata of a video file (from the container; one frame is decoded).

    ``width``/``height`` are the *display* size (swapped for 90/270 degree
    rotation metadata); ``coded_width``/``coded_height`` are as stored.
    ``frame_count`` is the container's count when it has one
    (``frame_count_exact``), else ``round(duration * fps)``. ``fps`` comes from
    the average rate, falling back to the guessed/base rate, then to
    ``frame_count / duration``, then to 24 (``fps_is_guess``).
    """

    path: str
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int
    fps: float
    fps_is_guess: bool
    frame_count: int
    frame_count_exact: bool
    duration: float
    codec: str
    pix_fmt: Optional[str]
    has_audio: bool
    audio_sample_rate: Optional[int] = None
    audio_channels: Optional[int] = None
    audio_codec: Optional[str] = None


#: Demuxers refused even though FFmpeg can open them: they read other files
#: or URLs named inside the file (playlists, concat scripts, SDP) or render
#: arbitrary text/bytes as pictures (tty, bin, ...), so a text file or a
#: playlist would otherwise "decode" as a video.
_REFUSED_FORMATS = frozenset((
    "hls", "concat", "dash", "sdp", "rtsp", "rtp", "sap", "lavfi", "ffmetadata", "imf",
    "tty", "bin", "xbin", "adf", "idf", "data",
))


def _open_input(path: PathLike, label: Optional[str]):
    """``av.open`` with the common failures turned into :class:`MediaError`.
    Only the ``file`` protocol is allowed (no nested network access from
    playlists and the like) and indirection/text demuxers are refused."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise MediaError(p, "does not exist", label=label)
    if os.path.isdir(p):
        raise MediaError(p, "is a directory, not a media file", label=label)
    if os.path.getsize(p) == 0:
        raise MediaError(p, "is an empty file (0 bytes)", label=label)
    try:
        container = av.open(p, "r", metadata_errors="replace", container_options={"protocol_whitelist": "file"})
    except av.EOFError as exc:
        raise MediaError(p, "ends before any media data (End of file): it has zero frames or is truncated",
                         label=label) from exc
    except (av.FFmpegError, OSError, ValueError, RuntimeError, MemoryError) as exc:
        raise MediaError(p, f"is not a readable media file or is damaged/truncated ({_short(exc)})",
                         label=label) from exc
    names = set(str(container.format.name or "").split(","))
    if names & _REFUSED_FORMATS:
        container.close()
        raise MediaError(p, f"is not a video or image file (FFmpeg reads it as "
                            f"{container.format.long_name or container.format.name!r}, which is refused)",
                         label=label)
    return container


def _short(exc: BaseException) -> str:
    if isinstance(exc, av.FFmpegError) and getattr(exc, "strerror", None):
        text = str(exc.strerror).strip()  # without the file name (may be a server path)
    else:
        text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc).strip()) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


def _require_decoder(stream, path, label, kind: str) -> None:
    """A stream FFmpeg has no decoder for (unknown or damaged codec id)."""
    if stream.codec_context is None:
        codec = getattr(getattr(stream, "codec", None), "name", None) or "unknown"
        article = "an" if kind[0] in "aeiou" else "a"
        raise MediaError(path, f"has {article} {kind} stream in a format that cannot be decoded (codec: {codec}; "
                               "damaged file or unsupported codec)", label=label)


def _audio_stream(container):
    """The first decodable audio stream, or None."""
    for stream in container.streams.audio:
        if stream.codec_context is not None:
            return stream
    return None


def _is_cover_art(stream) -> bool:
    try:
        return bool(int(stream.disposition) & 1024)  # AV_DISPOSITION_ATTACHED_PIC
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - older PyAV
        return False


def _video_stream(container, path: str, label: Optional[str]):
    """The first video stream that is not an attached picture (cover art)."""
    for stream in container.streams.video:
        if not _is_cover_art(stream):
            _require_decoder(stream, path, label, "video")
            return stream
    kinds = sorted({s.type for s in container.streams})
    if not kinds:
        detail = "the file contains no streams at all: empty, truncated or not a media file"
    elif container.streams.video:
        detail = "only cover art; it is an audio file" if container.streams.audio else "only an attached picture"
    elif kinds == ["audio"]:
        detail = "only audio; it is an audio file"
    else:
        detail = "found: " + ", ".join(kinds)
    raise MediaError(path, f"has no video stream ({detail}); give a video file", label=label)


def _stream_rate(stream) -> Tuple[Optional[Fraction], bool]:
    """First usable rate among average/guessed/base rate: ``(rate, is_guess)``."""
    for name in ("average_rate", "guessed_rate", "base_rate"):
        try:
            rate = getattr(stream, name)
        except Exception:  # pragma: no cover - attribute missing in some builds
            rate = None
        if rate is not None and 0 < rate < 1000:
            return Fraction(rate), name != "average_rate"
    return None, True


def _stream_duration(stream, container) -> Optional[float]:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _frame_rotation(frame) -> int:
    """Display rotation (degrees counter-clockwise, multiple of 90)."""
    try:
        rot = frame.rotation
    except Exception:  # pragma: no cover
        return 0
    return int(round((rot or 0) / 90.0)) * 90 % 360


def probe_video(path: PathLike, *, label: Optional[str] = None,
                limits: Optional[DecodeLimits] = None) -> VideoInfo:
    """Read a video's metadata without decoding it (only the first frame is
    decoded, to confirm that it decodes and to read its rotation).

    ``limits`` (default: :meth:`DecodeLimits.from_env`) are checked against the
    metadata before the first frame is decoded, and against the decoded
    frame's size; an exceeded limit is a :class:`MediaError` naming it."""
    p = os.fspath(path)
    lim = _limits(limits)
    with _open_input(p, label) as container:
        vs = _video_stream(container, p, label)
        _check_stream_metadata(container, vs, p, label, lim)
        rate, rate_guess = _stream_rate(vs)
        duration = _stream_duration(vs, container)
        count, exact = int(vs.frames or 0), bool(vs.frames)
        if rate is None and count and duration and duration > 0:
            rate, rate_guess = Fraction(count / duration).limit_denominator(1001), True
        fps = float(rate) if rate is not None else _DEFAULT_FPS
        if not count:
            count = int(round((duration or 0.0) * fps))
        if duration is None:
            duration = count / fps
        first = _first_frame(container, vs, p, label)
        rotation = _frame_rotation(first)
        cw, ch = first.width, first.height
        _check_size(p, label, cw, ch, lim)
        w, h = (ch, cw) if rotation in (90, 270) else (cw, ch)
        audio = _audio_stream(container)
        return VideoInfo(
            path=p, width=w, height=h, coded_width=cw, coded_height=ch, rotation=rotation,
            fps=fps, fps_is_guess=rate_guess, frame_count=max(count, 1), frame_count_exact=exact,
            duration=float(duration), codec=vs.codec_context.name,
            pix_fmt=vs.codec_context.pix_fmt, has_audio=audio is not None,
            audio_sample_rate=int(audio.codec_context.sample_rate or 0) or None if audio is not None else None,
            audio_channels=int(audio.codec_context.channels or 0) if audio is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
        )


def _first_frame(container, stream, path, label):
    for frame in _decode_frames(container, stream, path, label, warnings=[]):
        return frame
    raise MediaError(path, _ZERO_FRAMES, label=label)


def _decode_frames(container, stream, path, label, warnings: List[str]) -> Iterator:
    """Decoded frames in presentation order. A decode error after at least one
    frame ends the stream with a warning (damaged/truncated tail); before any
    frame it is a :class:`MediaError`."""
    got = 0
    it = container.decode(stream)
    while True:
        try:
            frame = next(it)
        except StopIteration:
            return
        except (av.FFmpegError, OSError) as exc:
            if got == 0:
                raise MediaError(path, f"could not be decoded ({_short(exc)}); the file is damaged or truncated, "
                                       "or uses an unsupported codec", label=label) from exc
            warnings.append(f"decoding stopped after {got} frames: {_short(exc)} (file damaged or truncated?)")
            return
        got += 1
        yield frame


def _check_stream_metadata(container, vs, path, label, lim: DecodeLimits) -> None:
    """All limits from container/stream metadata, before decoding a frame."""
    cc = vs.codec_context
    width, height = int(cc.width or 0), int(cc.height or 0)
    _check_size(path, label, width, height, lim)
    rate, _ = _stream_rate(vs)
    seconds = _stream_duration(vs, container)
    frames, exact = int(vs.frames or 0), bool(vs.frames)
    if not frames and seconds and rate:
        frames = int(round(seconds * float(rate)))
    _check_length(path, label, lim, width=width, height=height, frames=frames or None, exact=exact,
                  seconds=seconds, fps=float(rate) if rate else None)
