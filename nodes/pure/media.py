"""Video/audio/image I/O with PyAV: probing, streaming decode, MP4 encode.

Conventions (ComfyUI): an IMAGE is float32 ``[F, H, W, 3]`` in ``[0, 1]``; an
AUDIO is ``{"waveform": float32 [B, C, S], "sample_rate": int}``.

Decoding streams the file and keeps only the frames it needs, converting (and
optionally resizing) each kept frame straight into a pre-allocated output, so
memory stays close to the size of the result. Encoding writes H.264/AAC MP4
to a temporary file next to the destination and renames it into place.

Frame selection (see :func:`decode_video`):

* ``"time"``: output frame ``i`` shows the source at ``t = i / fps_out``. The
  source frame whose timestamp is *nearest* to ``t`` is used (ties go to the
  later frame); timestamps are measured from the first decoded frame and come
  from the frames' pts, so variable-frame-rate files are handled. For a
  constant-rate source this is exactly :func:`source_indices_for_fps`. The
  last frame counts as lasting its duration (``1/fps`` when unknown): output
  times at or after ``last_pts + duration / 2`` (nearer to where a next frame
  would be) are past the end; they hold the last frame and count as padded.
* ``"uniform"``: :func:`uniform_indices` over the source frame count (used for
  pre-computed control videos: the whole clip is stretched to ``num_frames``).
* ``"native"``: source frames ``0 .. num_frames-1`` by decode order, no fps
  change (the official graph's behaviour).
"""
from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import av
import numpy as np
import torch
from av.video.reformatter import ColorRange, Colorspace

from .atomic import atomic_path
from .imageops import cover_crop, resize_frames, scale_short_side

__all__ = [
    "VIDEO_QUALITY_CRF",
    "MediaError",
    "MediaCancelled",
    "DecodeLimits",
    "NO_LIMITS",
    "VideoInfo",
    "DecodeReport",
    "EncodeReport",
    "probe_video",
    "source_indices_for_fps",
    "uniform_indices",
    "decode_video",
    "decode_audio",
    "load_image",
    "encode_mp4",
    "crf_for_quality",
    "inspect_mp4",
]

#: ``video_quality`` -> libx264 CRF (product contract).
VIDEO_QUALITY_CRF: Dict[str, int] = {"low": 28, "medium": 23, "high": 18, "maximum": 12}

#: Sample rates the AAC encoder accepts; other rates are resampled to 48 kHz.
AAC_SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)

ProgressFn = Callable[[int, int], None]
StopFn = Callable[[], bool]
PathLike = Union[str, "os.PathLike[str]"]

_DEFAULT_FPS = 24.0  # used only when a file carries no usable frame rate at all
_log = logging.getLogger(__name__)
_DECODE_CHUNK = 8  # frames converted/resized together
_ZERO_FRAMES = "has a video stream but no decodable frames (zero frames; truncated or damaged?)"


# =========================================================================== errors


class MediaError(ValueError):
    """A media file that cannot be used, with a message naming file and problem.

    ``str(err)`` reads e.g. ``"input_video: 'foo.mp4' has no video stream"``.
    Attributes: ``path`` (as given), ``label`` (parameter name or None) and
    ``reason`` (the part after the file name).
    """

    def __init__(self, path: Optional[PathLike], reason: str, *, label: Optional[str] = None):
        self.path = None if path is None else os.fspath(path)
        self.label = label
        self.reason = reason
        super().__init__(_describe(self.path, label) + " " + reason)

    def __reduce__(self):  # keep path/label/reason when pickled (e.g. across processes)
        return (_rebuild_media_error, (self.path, self.reason, self.label))


def _rebuild_media_error(path, reason, label):
    return MediaError(path, reason, label=label)


class MediaCancelled(RuntimeError):
    """Raised when a ``should_stop`` callback asks a decode/encode to stop."""


def _describe(path: Optional[str], label: Optional[str]) -> str:
    name = repr(os.path.basename(path) or path) if path else "<no file>"
    return f"{label}: {name}" if label else name


# =========================================================================== limits

#: Environment variables of the decoding limits (named in the error messages).
ENV_MAX_SECONDS = "RV2V_MAX_VIDEO_SECONDS"
ENV_MAX_SIDE = "RV2V_MAX_VIDEO_SIDE"
ENV_MAX_PIXELS = "RV2V_MAX_VIDEO_PIXELS"
ENV_MAX_FRAMES = "RV2V_MAX_VIDEO_FRAMES"
ENV_MAX_IMAGE_PIXELS = "RV2V_MAX_IMAGE_PIXELS"


@dataclass(frozen=True)
class DecodeLimits:
    """Limits checked from the container/stream metadata before any frame is
    decoded, and again while decoding (metadata can lie). ``None`` = no limit.

    Defaults: the model makes at most 481 frames at 1-60 fps (at most 481 s of
    reference at 1 fps), at a shorter side of at most 704 px, so
    ``max_seconds=600`` (10 minutes) covers every useful reference;
    ``max_frames=36000`` is 10 minutes at 60 fps (it binds only for high-frame
    -rate footage or lying metadata); ``max_side=4096`` and
    ``max_pixels=4096*2304`` (9.4 MP) admit UHD/DCI 4K in any orientation
    while refusing 8K and huge squares, whose frames cost ~0.1-0.4 GB each
    as float RGB before resizing. Still images get ``max_image_pixels``
    (100 MP: a large camera photo; refuses decompression bombs).
    """

    max_seconds: Optional[float] = 600.0
    max_side: Optional[int] = 4096
    max_pixels: Optional[int] = 4096 * 2304
    max_frames: Optional[int] = 36_000
    max_image_pixels: Optional[int] = 100_000_000

    @classmethod
    def from_env(cls, environ=None) -> "DecodeLimits":
        """Limits from ``RV2V_MAX_VIDEO_SECONDS``, ``RV2V_MAX_VIDEO_SIDE``,
        ``RV2V_MAX_VIDEO_PIXELS``, ``RV2V_MAX_VIDEO_FRAMES`` and
        ``RV2V_MAX_IMAGE_PIXELS`` (unset: the default; ``0``/``none``: no
        limit; an invalid value is logged and the default used)."""
        env = os.environ if environ is None else environ
        base = cls()

        def read(name, default, integer):
            raw = str(env.get(name, "") or "").strip().lower()
            if not raw:
                return default
            if raw in ("0", "none", "off", "unlimited"):
                return None
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < 0:
                _log.warning("%s=%r is not a number >= 0; using the default %s", name, raw, default)
                return default
            if value == 0:
                return None
            return max(1, int(value)) if integer else value

        return cls(
            max_seconds=read(ENV_MAX_SECONDS, base.max_seconds, False),
            max_side=read(ENV_MAX_SIDE, base.max_side, True),
            max_pixels=read(ENV_MAX_PIXELS, base.max_pixels, True),
            max_frames=read(ENV_MAX_FRAMES, base.max_frames, True),
            max_image_pixels=read(ENV_MAX_IMAGE_PIXELS, base.max_image_pixels, True),
        )


#: No limits at all (tests, trusted batch use).
NO_LIMITS = DecodeLimits(None, None, None, None, None)


def _limits(limits: Optional[DecodeLimits]) -> DecodeLimits:
    return DecodeLimits.from_env() if limits is None else limits


def _over(path, label, what: str, limit: str, env: str, advice: str) -> MediaError:
    return MediaError(path, f"{what}, which exceeds the limit of {limit} ({env}); {advice} or raise the limit "
                            f"(0 = no limit)", label=label)


def _check_size(path, label, width: int, height: int, lim: DecodeLimits, image: bool = False) -> None:
    """Frame size against the side/pixel limits (images: the image pixel limit)."""
    if width <= 0 or height <= 0:
        return
    size = f"is {width}x{height}"
    if image:
        if lim.max_image_pixels is not None and width * height > lim.max_image_pixels:
            raise _over(path, label, f"{size} ({width * height / 1e6:.1f} megapixels)",
                        f"{lim.max_image_pixels} pixels", ENV_MAX_IMAGE_PIXELS, "downscale the image")
        return
    if lim.max_side is not None and max(width, height) > lim.max_side:
        raise _over(path, label, f"{size}: its long side ({max(width, height)} px)",
                    f"{lim.max_side} px", ENV_MAX_SIDE, "downscale the video")
    if lim.max_pixels is not None and width * height > lim.max_pixels:
        raise _over(path, label, f"{size} ({width * height / 1e6:.1f} megapixels a frame)",
                    f"{lim.max_pixels} pixels", ENV_MAX_PIXELS, "downscale the video")


def _check_length(path, label, lim: DecodeLimits, *, width: int, height: int, frames: Optional[int],
                  exact: bool, seconds: Optional[float], fps: Optional[float]) -> None:
    """Duration and frame count (from metadata) against the limits."""
    size = f"{width}x{height}" if width > 0 and height > 0 else "a video"
    rate = f" at {fps:g} fps" if fps else ""
    if lim.max_seconds is not None and seconds is not None and seconds > lim.max_seconds:
        count = f", {'' if exact else '~'}{frames} frames" if frames else ""
        raise _over(path, label, f"is {seconds:.1f} s long ({size}{count}{rate})",
                    f"{lim.max_seconds:g} s", ENV_MAX_SECONDS, "trim the clip")
    if lim.max_frames is not None and frames is not None and frames > lim.max_frames:
        length = f", {seconds:.1f} s{rate}" if seconds else ""
        raise _over(path, label, f"is {size} with {'' if exact else 'about '}{frames} frames{length}",
                    f"{lim.max_frames} frames", ENV_MAX_FRAMES, "trim the clip")


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


# =========================================================================== data


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


@dataclass
class DecodeReport:
    """What :func:`decode_video` did.

    ``indices[i]`` is the source frame (decode order) shown by output frame
    ``i``; padded outputs repeat the last decoded frame's index. ``padded``
    counts outputs past the end of the source. ``source_frame_count`` is exact
    (``source_frame_count_exact``) when decoding reached the end of the file,
    else the container's estimate. ``truncated`` is set when a decode error
    ended the stream early (the frames before it are used; see ``warnings``).
    """

    path: str
    mode: str
    source_fps: float
    source_frame_count: int
    source_frame_count_exact: bool
    source_width: int
    source_height: int
    fps_out: float
    num_frames: int
    width: int
    height: int
    indices: List[int] = field(default_factory=list)
    padded: int = 0
    frames_decoded: int = 0
    truncated: bool = False
    warnings: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class EncodeReport:
    """What :func:`encode_mp4` wrote. ``width``/``height`` are the encoded
    (even) size; ``padded_to_even`` tells whether edge pixels were added."""

    path: str
    width: int
    height: int
    num_frames: int
    fps: Fraction
    crf: int
    padded_to_even: bool
    has_audio: bool
    audio_sample_rate: Optional[int]
    audio_samples: int
    size_bytes: int


# =========================================================================== index math


def _as_fraction(value, what: str = "fps") -> Fraction:
    """Exact rate: Fractions/ints as is, floats to the simplest close fraction
    (``29.97002997`` -> ``30000/1001``, ``23.976`` -> ``2997/125``)."""
    if isinstance(value, Fraction):
        frac = value
    elif isinstance(value, int):
        frac = Fraction(value)
    else:
        as_float = float(value)
        if not math.isfinite(as_float):
            raise ValueError(f"{what} must be a finite number, got {value!r}")
        frac = Fraction(as_float).limit_denominator(1_000_000)
    if frac <= 0:
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    return frac


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def source_indices_for_fps(n_src: int, fps_src, fps_out, n_out: int) -> Tuple[List[int], int]:
    """Time-based resampling of a constant-rate source: ``(indices, padded)``.

    ``src = round(i * fps_src / fps_out)`` for ``i`` in ``range(n_out)``,
    computed exactly (rates as fractions, halves rounded up). Indices at or
    past ``n_src`` hold the last frame (``n_src - 1``); ``padded`` counts them.
    """
    if n_src < 1:
        raise ValueError(f"n_src must be >= 1, got {n_src}")
    if n_out < 0:
        raise ValueError(f"n_out must be >= 0, got {n_out}")
    ratio = _as_fraction(fps_src, "fps_src") / _as_fraction(fps_out, "fps_out")
    indices, padded = [], 0
    for i in range(n_out):
        idx = _round_half_up(i * ratio)
        if idx >= n_src:
            idx, padded = n_src - 1, padded + 1
        indices.append(idx)
    return indices, padded


def uniform_indices(n_src: int, n_out: int) -> List[int]:
    """``round(linspace(0, n_src - 1, n_out))`` (exact, halves rounded up):
    the first and last source frames are always used."""
    if n_src < 1:
        raise ValueError(f"n_src must be >= 1, got {n_src}")
    if n_out < 0:
        raise ValueError(f"n_out must be >= 0, got {n_out}")
    if n_out == 1:
        return [0]
    return [_round_half_up(Fraction(i * (n_src - 1), n_out - 1)) for i in range(n_out)]


# =========================================================================== opening & probing


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


# =========================================================================== frame conversion


def _frame_to_array(frame, rotation: int) -> np.ndarray:
    """RGB ``[H, W, 3]`` uint8 (uint16 for >8-bit sources), display-rotated."""
    deep = max((c.bits for c in frame.format.components), default=8) > 8
    arr = frame.to_ndarray(format="rgb48le" if deep else "rgb24")
    if rotation:
        arr = np.ascontiguousarray(np.rot90(arr, k=rotation // 90))
    return arr


def _arrays_to_float(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack uint8/uint16 ``[H, W, 3]`` arrays into float32 ``[n, H, W, 3]`` in [0, 1]."""
    stacked = np.stack(arrays)
    scale = 65535.0 if stacked.dtype == np.uint16 else 255.0
    if stacked.dtype == np.uint16:
        stacked = stacked.astype(np.int32)
    return torch.from_numpy(stacked).to(torch.float32).div_(scale)


def _to_uint8_trunc(frames: torch.Tensor) -> torch.Tensor:
    """float ``[0, 1]`` -> uint8 by truncation (``floor(x * 255)``, clamped): the
    quantisation every preprocessor applies to an IMAGE (controlnet_aux, YVDA), so a
    uint8 decode feeds them the same values as the float decode does."""
    return (frames * 255.0).clamp_(0, 255).to(torch.int32).to(torch.uint8)


def _make_resizer(resize, short_side, size, method) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """One callable ``[n, H, W, 3] -> [n, h, w, 3]`` from the resize options."""
    given = [x is not None for x in (resize, short_side, size)]
    if sum(given) > 1:
        raise ValueError("give at most one of resize=, short_side= and size=")
    if resize is not None:
        if not callable(resize):
            raise ValueError("resize= must be a callable taking and returning [n, H, W, 3] frames")
        return resize
    if short_side is not None:
        short = int(short_side)

        def by_short_side(x: torch.Tensor) -> torch.Tensor:
            h, w = scale_short_side(x.shape[1], x.shape[2], short)
            return resize_frames(x, w, h, method)
        return by_short_side
    if size is not None:
        width, height = (int(v) for v in size)
        return lambda x: cover_crop(x, width, height, method)
    return None


class _OutputWriter:
    """Collects kept frames, converts/resizes them in chunks and writes them
    into one pre-allocated output tensor (grown only when the length is not
    known in advance)."""

    def __init__(self, capacity: Optional[int], estimate: int, resizer, chunk: int,
                 progress: Optional[ProgressFn], total_hint: int, dtype: torch.dtype = torch.float32):
        self.dtype = dtype
        self.fixed = capacity is not None
        self.capacity = capacity if capacity is not None else max(1, estimate)
        self.resizer = resizer
        self.chunk = max(1, chunk)
        self.progress = progress
        self.total_hint = total_hint
        self.out: Optional[torch.Tensor] = None
        self.pending: List[Tuple[np.ndarray, List[int]]] = []
        self.filled = 0
        self.count = 0  # highest position written + 1
        self.last_written: Optional[Tuple[np.ndarray, int]] = None  # (array, a position holding it)

    def add(self, array: np.ndarray, positions: List[int]) -> None:
        """Queue ``array`` for ``positions``. The same array added again (a
        held/padded frame) is not converted or resized a second time."""
        if not positions:
            return
        if self.pending and self.pending[-1][0] is array:
            self.pending[-1][1].extend(positions)
            return
        if self.last_written is not None and self.last_written[0] is array:
            for pos in positions:
                self._ensure(pos, self.out)
                self.out[pos] = self.out[self.last_written[1]]
                self.count = max(self.count, pos + 1)
                self.filled += 1
            return
        self.pending.append((array, list(positions)))
        if len(self.pending) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        arrays = [a for a, _ in self.pending]
        if self.dtype == torch.uint8 and self.resizer is None and arrays[0].dtype == np.uint8:
            frames = torch.from_numpy(np.stack(arrays))  # no float intermediate
        else:
            frames = _arrays_to_float(arrays)
            if self.resizer is not None:
                frames = self.resizer(frames)
            if self.dtype == torch.uint8:
                frames = _to_uint8_trunc(frames)
        for j, (_, positions) in enumerate(self.pending):
            for pos in positions:
                self._ensure(pos, frames)
                self.out[pos] = frames[j]
                self.count = max(self.count, pos + 1)
                self.filled += 1
        array, positions = self.pending[-1]
        self.last_written = (array, positions[0])
        self.pending = []
        if self.progress is not None:
            self.progress(self.filled, max(self.total_hint, self.filled))

    def _ensure(self, pos: int, frames: torch.Tensor) -> None:
        if self.out is None:
            self.out = torch.empty((self.capacity,) + tuple(frames.shape[1:]), dtype=self.dtype)
        if pos >= self.out.shape[0]:
            if self.fixed:  # pragma: no cover - guarded by the selectors
                raise IndexError(f"output position {pos} beyond {self.out.shape[0]}")
            grown = torch.empty((max(pos + 1, int(self.out.shape[0] * 1.5) + 1),) + tuple(self.out.shape[1:]),
                                dtype=self.out.dtype)
            grown[: self.out.shape[0]] = self.out
            self.out = grown

    def result(self) -> torch.Tensor:
        self.flush()
        if self.out is None:
            raise RuntimeError("no frames were written")
        if self.count < self.out.shape[0]:
            return self.out[: self.count].clone()
        return self.out


# =========================================================================== selection strategies


class _TimeSelector:
    """Nearest-timestamp selection for output times ``i / fps_out``."""

    def __init__(self, fps_out: Fraction, n_out: Optional[int]):
        self.step = 1 / fps_out
        self.n_out = n_out
        self.next_out = 0
        self.indices: List[int] = []
        self.prev: Optional[Tuple[int, Fraction, object]] = None  # (index, time, frame)

    @property
    def complete(self) -> bool:
        return self.n_out is not None and self.next_out >= self.n_out

    def _take_until(self, limit: Fraction, src_index: int) -> List[int]:
        """Outputs whose time is strictly before ``limit``."""
        taken = []
        while not self.complete and self.next_out * self.step < limit:
            taken.append(self.next_out)
            self.indices.append(src_index)
            self.next_out += 1
        return taken

    def feed(self, index: int, t: Fraction, frame) -> List[Tuple[object, List[int]]]:
        emitted = []
        if self.prev is not None:
            p_index, p_time, p_frame = self.prev
            emitted.append((p_frame, self._take_until((p_time + t) / 2, p_index)))
        self.prev = (index, t, frame)
        return emitted

    def finish(self, last_duration: Fraction) -> Tuple[List[Tuple[object, List[int]]], int]:
        """Outputs up to the end of the last frame, then the padded rest."""
        if self.prev is None:
            return [], 0
        p_index, p_time, p_frame = self.prev
        emitted = [(p_frame, self._take_until(p_time + last_duration / 2, p_index))]
        padded = self._take_until(Fraction(10 ** 18), p_index) if self.n_out is not None else []
        emitted.append((p_frame, padded))
        return emitted, len(padded)


class _AllSelector:
    """Every frame, in decode order (``native`` mode without ``num_frames``)."""

    complete = False

    def __init__(self):
        self.indices: List[int] = []

    def feed(self, index: int, t: Fraction, frame) -> List[Tuple[object, List[int]]]:
        self.indices.append(index)
        return [(frame, [index])]

    def finish(self, last_duration: Fraction) -> Tuple[List[Tuple[object, List[int]]], int]:
        return [], 0


class _IndexSelector:
    """Selection by source frame index (``uniform`` and ``native`` modes)."""

    def __init__(self, indices: Sequence[int]):
        self.wanted: Dict[int, List[int]] = {}
        for pos, idx in enumerate(indices):
            self.wanted.setdefault(idx, []).append(pos)
        self.indices = list(indices)
        self.last_needed = max(indices) if indices else -1
        self.seen = -1
        self.last_frame = None

    @property
    def complete(self) -> bool:
        return self.seen >= self.last_needed

    def feed(self, index: int, t: Fraction, frame) -> List[Tuple[object, List[int]]]:
        self.seen, self.last_frame = index, frame
        return [(frame, self.wanted.get(index, []))]

    def finish(self, last_duration: Fraction) -> Tuple[List[Tuple[object, List[int]]], int]:
        missing = sorted(pos for idx, ps in self.wanted.items() if idx > self.seen for pos in ps)
        for pos in missing:
            self.indices[pos] = self.seen
        if self.last_frame is None:
            return [], 0
        return [(self.last_frame, missing)], len(missing)


# =========================================================================== decode_video


def decode_video(
    path: PathLike,
    *,
    fps_out=None,
    num_frames: Optional[int] = None,
    mode: str = "time",
    resize: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    short_side: Optional[int] = None,
    size: Optional[Tuple[int, int]] = None,
    resize_method: str = "bilinear",
    autorotate: bool = True,
    chunk_size: int = _DECODE_CHUNK,
    progress: Optional[ProgressFn] = None,
    should_stop: Optional[StopFn] = None,
    label: Optional[str] = None,
    dtype: torch.dtype = torch.float32,
    limits: Optional[DecodeLimits] = None,
) -> Tuple[torch.Tensor, DecodeReport]:
    """Decode a video into float32 ``[N, H, W, 3]`` frames in ``[0, 1]``.

    Frame selection (``mode``; details in the module docstring):

    * ``"time"``: resample to ``fps_out`` (default: the source's rate) by
      timestamps; ``num_frames`` outputs (padded by holding the last frame),
      or, when ``None``, every output time inside the clip.
    * ``"uniform"``: ``num_frames`` (required) frames spread evenly over the
      whole clip.
    * ``"native"``: the first ``num_frames`` frames (all when ``None``) at the
      source rate; ``fps_out`` is ignored.

    Resizing (at most one): ``resize`` (a callable ``[n,H,W,3] -> [n,h,w,3]``),
    ``short_side`` (ComfyUI "scale shorter dimension") or ``size=(width,
    height)`` (cover + centre crop); ``resize_method`` is an
    :mod:`.imageops` method. Kept frames are resized ``chunk_size`` at a time
    right after decoding, so peak memory is about the output plus one chunk of
    source-size frames. ``autorotate`` applies the display-matrix rotation.

    ``progress(done, total)`` is called after each chunk; ``should_stop()`` is
    polled for every decoded frame and a true result raises
    :class:`MediaCancelled`. Decoding stops as soon as every output is known.
    Raises :class:`MediaError` (messages prefixed with ``label``) for unusable
    files. ``limits`` (default: :meth:`DecodeLimits.from_env`) are checked
    against the metadata before decoding and enforced again on the decoded
    frames (count, timestamps, size); a frame whose size differs from the
    first frame's is scaled to it.

    ``dtype=torch.uint8`` returns uint8 frames (a quarter of the float32 memory):
    8-bit sources are copied as decoded; resized or >8-bit frames are truncated
    (``floor(x * 255)``), the quantisation the preprocessors apply to float frames,
    so they see exactly the values they would see from the float32 decode.
    """
    if dtype not in (torch.float32, torch.uint8):
        raise ValueError(f"dtype must be torch.float32 or torch.uint8, got {dtype}")
    p = os.fspath(path)
    mode = str(mode).lower()
    if mode not in ("time", "uniform", "native"):
        raise ValueError(f"mode must be 'time', 'uniform' or 'native', got {mode!r}")
    if num_frames is not None and int(num_frames) < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if mode == "uniform" and num_frames is None:
        raise ValueError("mode='uniform' needs num_frames")
    resizer = _make_resizer(resize, short_side, size, resize_method)
    n_out = None if num_frames is None else int(num_frames)

    lim = _limits(limits)
    with _open_input(p, label) as container:
        vs = _video_stream(container, p, label)
        _check_stream_metadata(container, vs, p, label, lim)
        vs.thread_type = "AUTO"
        src_rate, info_count, est_count = _source_timing(container, vs)
        out_rate = src_rate if (fps_out is None or mode != "time") else _as_fraction(fps_out, "fps_out")
        selector, estimate, est_count = _make_selector(mode, n_out, out_rate, src_rate, info_count,
                                                       est_count, p, label, lim)
        writer = _OutputWriter(n_out, estimate, resizer, chunk_size, progress, estimate, dtype)
        report = DecodeReport(path=p, mode=mode, source_fps=float(src_rate), source_frame_count=est_count,
                              source_frame_count_exact=bool(info_count), source_width=0, source_height=0,
                              fps_out=float(out_rate), num_frames=0, width=0, height=0)
        if _run_selection(container, vs, selector, writer, src_rate, autorotate, should_stop,
                          p, label, report, lim) == 0:
            raise MediaError(p, _ZERO_FRAMES, label=label)

    frames = writer.result()
    report.indices = list(selector.indices)[: frames.shape[0]]
    report.num_frames, report.height, report.width = frames.shape[0], frames.shape[1], frames.shape[2]
    if report.padded:
        report.warnings.append(
            f"source has {report.frames_decoded} usable frames; the last {report.padded} output "
            f"frame(s) repeat the last source frame")
    return frames, report


def _source_timing(container, vs) -> Tuple[Fraction, int, int]:
    """``(source rate, container frame count or 0, estimated frame count)``."""
    rate, _ = _stream_rate(vs)
    info_count = int(vs.frames or 0)
    duration = _stream_duration(vs, container)
    if rate is None:
        rate = (Fraction(info_count / duration).limit_denominator(1001) if info_count and duration and duration > 0
                else Fraction(_DEFAULT_FPS))
        if rate <= 0:
            rate = Fraction(_DEFAULT_FPS)
    est_count = info_count or max(1, int(round((duration or 0.0) * float(rate))))
    return rate, info_count, est_count


def _make_selector(mode, n_out, out_rate, src_rate, info_count, est_count, path, label, lim):
    """``(selector, output length estimate, source frame count)`` for a mode."""
    if mode == "time":
        estimate = n_out or max(1, int(math.ceil(est_count * out_rate / src_rate)))
        return _TimeSelector(out_rate, n_out), estimate, est_count
    if mode == "uniform":
        exact = max(1, info_count or _count_packets(path, label, lim))
        return _IndexSelector(uniform_indices(exact, n_out)), n_out, exact
    if n_out is not None:
        return _IndexSelector(list(range(n_out))), n_out, est_count
    return _AllSelector(), est_count, est_count


def _run_selection(container, vs, selector, writer, src_rate, autorotate, should_stop, path, label, report,
                   lim: DecodeLimits = NO_LIMITS):
    """The decode loop shared by all modes; fills ``report`` in place and
    returns the number of decoded frames. Enforces the frame-count, duration
    and size limits on what is actually decoded."""
    rotation, first_pts, prev_t = 0, None, None
    size0 = None
    last_duration = 1 / src_rate
    converted: list = []  # [frame, array] of the last converted frame
    count = 0
    reached_end = True
    for frame in _decode_frames(container, vs, path, label, report.warnings):
        if should_stop is not None and should_stop():
            raise MediaCancelled(f"{_describe(path, label)}: decoding cancelled")
        if count == 0:
            rotation = _frame_rotation(frame) if autorotate else 0
            w, h = frame.width, frame.height
            _check_size(path, label, w, h, lim)
            size0 = (w, h)
            report.source_width, report.source_height = (h, w) if rotation in (90, 270) else (w, h)
        elif (frame.width, frame.height) != size0:  # size change mid-stream: keep one output size
            frame = _rescaled(frame, size0)
        if lim.max_frames is not None and count >= lim.max_frames:
            raise _over(path, label, f"has more than {lim.max_frames} frames (decoding stopped there; the "
                                     f"metadata said {report.source_frame_count})",
                        f"{lim.max_frames} frames", ENV_MAX_FRAMES, "trim the clip")
        if first_pts is None:
            first_pts, t = (frame.pts if frame.pts is not None else 0), Fraction(0)
        else:
            t = _frame_time(frame, vs, first_pts, prev_t, src_rate)
        if lim.max_seconds is not None and t > lim.max_seconds:
            raise _over(path, label, f"runs past {float(t):.1f} s (decoding stopped there)",
                        f"{lim.max_seconds:g} s", ENV_MAX_SECONDS, "trim the clip")
        prev_t = t
        if getattr(frame, "duration", None) and vs.time_base:
            last_duration = Fraction(frame.duration) * vs.time_base
        _emit(selector.feed(count, t, frame), writer, rotation, converted)
        count += 1
        if selector.complete:
            reached_end = False
            break
    report.frames_decoded = count
    if count:
        emitted, padded = selector.finish(last_duration)
        _emit(emitted, writer, rotation, converted)
        report.padded = padded
    if reached_end and report.source_frame_count_exact and count < report.source_frame_count:
        report.warnings.append(
            f"the file declares {report.source_frame_count} frames but only {count} could be decoded "
            f"(file truncated or damaged?)")
    report.truncated = any("truncated" in w for w in report.warnings)
    if reached_end:
        report.source_frame_count = count
        report.source_frame_count_exact = not report.truncated
    return count


def _rescaled(frame, size: Tuple[int, int]):
    """The frame scaled to ``size`` (same pixel format, timestamps kept)."""
    out = frame.reformat(width=size[0], height=size[1])
    out.pts = frame.pts
    try:
        out.time_base = frame.time_base
    except (AttributeError, TypeError, ValueError):  # pragma: no cover
        pass
    return out


def _frame_time(frame, vs, first_pts, prev_t: Fraction, src_rate) -> Fraction:
    """Exact presentation time relative to the first frame; synthesised from
    the rate when pts is missing or does not increase."""
    if frame.pts is not None and vs.time_base:
        t = Fraction(frame.pts - first_pts) * vs.time_base
        if t > prev_t:
            return t
    return prev_t + 1 / src_rate


def _emit(emissions, writer: _OutputWriter, rotation: int, cache: list) -> None:
    """Convert each emitted frame once and queue it for its output positions.
    ``cache`` holds ``[frame, array]`` of the last converted frame (a frame can
    be emitted again, e.g. when it is also the padding frame)."""
    for frame, positions in emissions:
        if not positions:
            continue
        if cache and cache[0] is frame:
            array = cache[1]
        else:
            array = _frame_to_array(frame, rotation)
            cache[:] = [frame, array]
        writer.add(array, positions)


def _count_packets(path: str, label: Optional[str], lim: DecodeLimits = NO_LIMITS) -> int:
    """Frame count by demuxing (no decoding) when the container has none."""
    count = 0
    with _open_input(path, label) as container:
        vs = _video_stream(container, path, label)
        try:
            for pkt in container.demux(vs):
                if pkt.size:
                    count += 1
                    if lim.max_frames is not None and count > lim.max_frames:
                        raise _over(path, label, f"has more than {lim.max_frames} frames",
                                    f"{lim.max_frames} frames", ENV_MAX_FRAMES, "trim the clip")
        except (av.FFmpegError, OSError) as exc:
            if not count:
                raise MediaError(path, f"could not be read ({_short(exc)})", label=label) from exc
    return count


# =========================================================================== audio


def decode_audio(
    path: PathLike,
    *,
    start: float = 0.0,
    duration: Optional[float] = None,
    sample_rate: Optional[int] = None,
    label: Optional[str] = None,
) -> Optional[dict]:
    """Decode the first audio stream to an AUDIO dict, or ``None`` if there is none.

    The waveform is float32 ``[1, C, S]`` (channels first, source channel
    count). ``start``/``duration`` are seconds on the file's timeline (0 = the
    container start, so audio that starts late is preceded by silence and stays
    in sync with the video); ``duration=None`` reads to the end of the stream
    as the container declares it (decoder padding past that is dropped), and a
    file that ends early gives a shorter waveform. ``sample_rate`` resamples
    with ``av.AudioResampler``.
    """
    p = os.fspath(path)
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if duration is not None and duration < 0:
        raise ValueError(f"duration must be >= 0, got {duration}")
    with _open_input(p, label) as container:
        if not container.streams.audio:
            return None
        stream = _audio_stream(container)
        if stream is None:
            _require_decoder(container.streams.audio[0], p, label, "audio")
        origin = container.start_time / av.time_base if container.start_time is not None else 0.0
        if duration is None and stream.duration and stream.time_base:
            # Stop at the stream's declared end: AAC decoders emit the encoder's
            # padding of the last packet, which the container's length excludes.
            begin = float(stream.start_time * stream.time_base) if stream.start_time is not None else origin
            end = begin + float(stream.duration * stream.time_base) - origin
            if end > start:
                duration = end - start
        if start > 1.0 and stream.time_base:
            try:
                container.seek(int((start + origin - 0.5) / stream.time_base), stream=stream)
            except av.FFmpegError:
                container.seek(0)
        return _decode_audio_stream(container, stream, p, label, start, duration, sample_rate, origin)


def _decode_audio_stream(container, stream, path, label, start, duration, sample_rate, origin):
    resampler, rate, channels = None, None, None
    chunks: List[np.ndarray] = []
    have, first_time, needed = 0, None, None
    try:
        for frame in container.decode(stream):
            if resampler is None:
                rate = int(sample_rate or frame.sample_rate)
                channels = getattr(frame.layout, "nb_channels", None) or len(frame.layout.channels)
                resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=rate)
                first_time = (frame.time if frame.time is not None else origin) - origin
                offset = int(round((start - first_time) * rate))
                needed = None if duration is None else offset + int(round(duration * rate))
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(channels, -1))
                have += out.samples
            if needed is not None and have >= needed:
                break
        if resampler is not None:
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(channels, -1))
    except av.FFmpegError as exc:
        if not chunks:
            raise MediaError(path, f"has an audio stream that could not be decoded ({_short(exc)})",
                             label=label) from exc
    if resampler is None:
        rate = int(sample_rate or stream.rate or 48000)
        return {"waveform": torch.zeros((1, stream.channels or 1, 0)), "sample_rate": rate}
    wave = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    offset = int(round((start - first_time) * rate))
    if offset < 0:  # audio starts after the requested start: lead with silence
        wave = np.concatenate([np.zeros((channels, -offset), np.float32), wave], axis=1)
        offset = 0
    wave = wave[:, offset:] if duration is None else wave[:, offset: offset + int(round(duration * rate))]
    return {"waveform": torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)).unsqueeze(0),
            "sample_rate": rate}


# =========================================================================== images


def load_image(path: PathLike, *, label: Optional[str] = None, alpha: str = "drop",
               limits: Optional[DecodeLimits] = None) -> torch.Tensor:
    """Load a still image (PNG, JPEG, WebP, ...; first frame of anything with
    a video stream) as float32 ``[1, H, W, 3]`` in ``[0, 1]``.

    Greyscale is expanded to RGB, 16-bit images keep their precision, palette
    images are expanded. Transparency: ``alpha="drop"`` ignores it (ComfyUI's
    LoadImage does the same), ``alpha="black"`` composites onto black.
    EXIF orientation is not applied. The pixel count is checked against
    ``limits.max_image_pixels`` (default: :meth:`DecodeLimits.from_env`)
    from the header before decoding, and again on the decoded picture.
    """
    if alpha not in ("drop", "black"):
        raise ValueError(f"alpha must be 'drop' or 'black', got {alpha!r}")
    p = os.fspath(path)
    lim = _limits(limits)
    with _open_input(p, label) as container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no streams at all"]
            raise MediaError(p, f"is not an image (it has no picture stream; found: {', '.join(kinds)})",
                             label=label)
        stream = container.streams.video[0]
        _require_decoder(stream, p, label, "picture")
        cc = stream.codec_context
        _check_size(p, label, int(cc.width or 0), int(cc.height or 0), lim, image=True)
        frame = _first_frame(container, stream, p, label)
        _check_size(p, label, frame.width, frame.height, lim, image=True)
        fmt = frame.format
        deep = max((c.bits for c in fmt.components), default=8) > 8
        has_alpha = fmt.has_palette or len(fmt.components) in (2, 4)
        if has_alpha and alpha == "black":
            arr = frame.to_ndarray(format="rgba64le" if deep else "rgba")
        else:
            arr = frame.to_ndarray(format="rgb48le" if deep else "rgb24")
    scale = 65535.0 if deep else 255.0
    img = torch.from_numpy(arr.astype(np.float32)).div_(scale)
    if img.shape[-1] == 4:
        img = img[..., :3] * img[..., 3:4]
    return img.unsqueeze(0).contiguous()


# =========================================================================== encoding


def crf_for_quality(video_quality: str) -> int:
    """CRF of a ``video_quality`` name (``low``/``medium``/``high``/``maximum``)."""
    try:
        return VIDEO_QUALITY_CRF[str(video_quality).lower()]
    except KeyError:
        raise ValueError(f"video_quality must be one of {', '.join(VIDEO_QUALITY_CRF)}, "
                         f"got {video_quality!r}") from None


def _check_frames(frames) -> Tuple[int, int, int]:
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(frames)
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = tuple(frames.shape) if hasattr(frames, "shape") else type(frames).__name__
        raise ValueError(f"frames must be an IMAGE tensor [F, H, W, 3], got {shape}")
    n, h, w, _ = frames.shape
    if n < 1 or h < 1 or w < 1:
        raise ValueError(f"frames must be non-empty, got shape {tuple(frames.shape)}")
    if not (frames.is_floating_point() or frames.dtype == torch.uint8):
        raise ValueError(f"frames must be float in [0, 1] or uint8, got {frames.dtype}")
    return n, h, w


def _check_audio(audio) -> Tuple[np.ndarray, int]:
    """``(waveform [C, S] float32, sample_rate)`` from an AUDIO dict."""
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise ValueError("audio must be a dict with 'waveform' and 'sample_rate'")
    wave = audio["waveform"]
    wave = wave.detach().to("cpu", torch.float32).numpy() if isinstance(wave, torch.Tensor) \
        else np.asarray(wave, np.float32)
    if wave.ndim == 3:
        wave = wave[0]
    elif wave.ndim == 1:
        wave = wave[None]
    if wave.ndim != 2 or wave.shape[0] < 1 or wave.shape[0] > 8:
        shape = tuple(np.shape(audio["waveform"]))
        raise ValueError(f"audio waveform must be [B, C, S] with 1-8 channels, got {shape}")
    rate = int(audio["sample_rate"])
    if rate <= 0:
        raise ValueError(f"audio sample_rate must be > 0, got {rate}")
    return np.nan_to_num(wave, nan=0.0, posinf=1.0, neginf=-1.0), rate


def _to_uint8_chunk(chunk: torch.Tensor, pad_h: int, pad_w: int) -> np.ndarray:
    """``[n, H, W, 3]`` float/uint8 -> contiguous uint8 numpy, edge-padded by
    ``pad_h``/``pad_w`` rows/columns at the bottom/right. The float->uint8
    step runs on the tensor's device, so only bytes are transferred."""
    chunk = chunk.detach()
    if chunk.dtype != torch.uint8:
        chunk = torch.nan_to_num(chunk.to(torch.float32), nan=0.0)
        chunk = chunk.clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    arr = chunk.cpu().numpy()
    if pad_h or pad_w:
        arr = np.pad(arr, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return np.ascontiguousarray(arr)


def encode_mp4(
    dest_path: PathLike,
    frames,
    fps,
    audio: Optional[dict] = None,
    crf: int = VIDEO_QUALITY_CRF["high"],
    preset: str = "medium",
    audio_bitrate: int = 192_000,
    *,
    chunk_size: int = 8,
    progress: Optional[ProgressFn] = None,
    should_stop: Optional[StopFn] = None,
) -> EncodeReport:
    """Write ``frames`` (+ optional ``audio``) as an H.264/AAC MP4.

    * Video: libx264, ``yuv420p``, the given ``crf``/``preset``, BT.709
      matrix/primaries/transfer (limited range) used for the RGB->YUV
      conversion and tagged in the stream, ``+faststart`` (index at the front).
      ``fps`` may be a float (converted to an exact fraction, e.g. 29.97002997
      -> 30000/1001), an int or a :class:`~fractions.Fraction`.
    * yuv420p needs even sizes: an odd width/height gets one extra column/row
      that repeats the edge pixels (nothing is cropped).
    * Audio: AAC at ``audio_bitrate``; trimmed or zero-padded to the video
      duration, ``ceil(num_frames / fps * sample_rate)`` samples. Rates AAC
      cannot store are resampled to 48 kHz. ``audio=None`` -> no audio track.
    * Frames are converted to uint8 ``chunk_size`` at a time (no full copy).
    * The file is written to a hidden temporary name in the destination folder
      and moved into place with :func:`os.replace`; on any error (including
      :class:`MediaCancelled` from ``should_stop``) the temporary file is
      removed and nothing is left behind.
    """
    n, h, w = _check_frames(frames)
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(frames)
    rate = _as_fraction(fps, "fps")
    crf = int(crf)
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be in 0..51, got {crf}")
    wave_rate = _check_audio(audio) if audio is not None else None
    dest = os.path.abspath(os.fspath(dest_path))
    folder = os.path.dirname(dest)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"output folder does not exist: {folder}")
    with atomic_path(dest) as tmp:
        audio_info = _write_mp4(tmp, frames, rate, wave_rate, crf, preset, int(audio_bitrate),
                                max(1, int(chunk_size)), progress, should_stop)
    return EncodeReport(path=dest, width=w + (w % 2), height=h + (h % 2), num_frames=n, fps=rate,
                        crf=crf, padded_to_even=bool(w % 2 or h % 2), has_audio=audio is not None,
                        audio_sample_rate=audio_info[0], audio_samples=audio_info[1],
                        size_bytes=os.path.getsize(dest))


def _write_mp4(tmp, frames, rate, wave_rate, crf, preset, audio_bitrate, chunk, progress, should_stop):
    """Encode into ``tmp``; returns ``(audio_sample_rate or None, samples)``."""
    n, h, w = frames.shape[0], frames.shape[1], frames.shape[2]
    pad_h, pad_w = h % 2, w % 2
    container = av.open(tmp, "w", format="mp4", container_options={"movflags": "+faststart"})
    try:
        vs = container.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = w + pad_w, h + pad_h, "yuv420p"
        vs.codec_context.time_base = 1 / rate
        vs.options = {"crf": str(crf), "preset": str(preset)}
        _tag_bt709(vs.codec_context)
        audio_out = _AudioFeeder(container, wave_rate, n, rate, audio_bitrate) if wave_rate else None
        for start in range(0, n, chunk):
            if should_stop is not None and should_stop():
                raise MediaCancelled("encoding cancelled")
            batch = _to_uint8_chunk(frames[start:start + chunk], pad_h, pad_w)
            for j, arr in enumerate(batch):
                vf = av.VideoFrame.from_ndarray(arr, format="rgb24")
                vf = vf.reformat(format="yuv420p", dst_colorspace=Colorspace.ITU709,
                                 dst_color_range=ColorRange.MPEG)
                vf.pts = start + j
                container.mux(vs.encode(vf))
                if audio_out is not None:
                    audio_out.feed_until(start + j + 1)
            if progress is not None:
                progress(min(n, start + chunk), n)
        container.mux(vs.encode(None))
        if audio_out is not None:
            audio_out.finish()
            return audio_out.out_rate, audio_out.total
        return None, 0
    finally:
        container.close()


def _tag_bt709(cc) -> None:
    """Tag BT.709 primaries/transfer/matrix and limited range on the encoder
    (written to the H.264 VUI and the MP4 'colr' box). The pixels are
    converted with the same matrix in :func:`_write_mp4`."""
    for name in ("color_primaries", "color_trc", "colorspace", "color_range"):
        try:
            setattr(cc, name, 1)  # 1 = BT.709 (and MPEG/limited for color_range)
        except (AttributeError, TypeError, ValueError):  # pragma: no cover - older PyAV
            pass


class _AudioFeeder:
    """Feeds the (trimmed/padded) waveform to the AAC encoder in step with the
    video so the muxer can interleave without buffering everything."""

    def __init__(self, container, wave_rate, n_frames, fps: Fraction, bitrate: int):
        wave, self.rate = wave_rate
        self.fps = fps
        self.total = math.ceil(Fraction(n_frames) * self.rate / fps)
        if wave.shape[1] >= self.total:
            wave = wave[:, : self.total]
        else:
            wave = np.pad(wave, ((0, 0), (0, self.total - wave.shape[1])))
        self.wave = np.ascontiguousarray(wave, dtype=np.float32)
        channels = self.wave.shape[0]
        self.layout = {1: "mono", 2: "stereo"}.get(channels) or av.AudioLayout(channels).name
        self.out_rate = self.rate if self.rate in AAC_SAMPLE_RATES else 48000
        self.container = container
        self.stream = container.add_stream("aac", rate=self.out_rate)
        self.stream.layout = self.layout
        self.stream.bit_rate = bitrate
        self.pos = 0

    def feed_until(self, video_frames_done: int, force: bool = False) -> None:
        target = min(self.total, math.ceil(Fraction(video_frames_done) * self.rate / self.fps))
        if target - self.pos < 4096 and not (force and target > self.pos):
            return
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(self.wave[:, self.pos:target]),
                                        format="fltp", layout=self.layout)
        af.sample_rate, af.pts, af.time_base = self.rate, self.pos, Fraction(1, self.rate)
        self.container.mux(self.stream.encode(af))
        self.pos = target

    def finish(self) -> None:
        self.pos = min(self.pos, self.total)
        if self.pos < self.total:
            self.feed_until(10 ** 12, force=True)
        self.container.mux(self.stream.encode(None))


# =========================================================================== inspection


def _top_level_boxes(path: str, limit: int = 64) -> List[str]:
    """Names of the top-level MP4 boxes in file order."""
    names = []
    with open(path, "rb") as fh:
        size_total = os.fstat(fh.fileno()).st_size
        pos = 0
        while pos + 8 <= size_total and len(names) < limit:
            fh.seek(pos)
            head = fh.read(16)
            size = int.from_bytes(head[:4], "big")
            names.append(head[4:8].decode("latin-1"))
            if size == 1:
                size = int.from_bytes(head[8:16], "big")
            elif size == 0:
                break
            if size < 8:
                break
            pos += size
    return names


def _x264_crf(path: str) -> Optional[float]:
    """The CRF recorded in x264's SEI settings string, if present."""
    with open(path, "rb") as fh:
        data = fh.read(4 * 1024 * 1024)
    match = re.search(rb"x264 - core.*?crf=([0-9.]+)", data, re.S)
    return float(match.group(1)) if match else None


def inspect_mp4(path: PathLike) -> dict:
    """Describe an encoded file (decodes it fully; meant for tests/diagnostics).

    Keys: ``video_codec``, ``pix_fmt``, ``width``, ``height``, ``frames``
    (decoded count), ``fps``, ``duration``, ``color_primaries``,
    ``color_trc``, ``colorspace``, ``color_range`` (ints, 1 = BT.709 /
    limited), ``crf`` (from x264's settings), ``faststart`` (moov before
    mdat), ``boxes`` and ``audio`` (None, or a dict with ``codec``,
    ``sample_rate``, ``channels``, ``duration``).
    """
    p = os.fspath(path)
    with _open_input(p, None) as container:
        vs = _video_stream(container, p, None)
        cc = vs.codec_context
        rate, _ = _stream_rate(vs)
        first = None
        count = 0
        for frame in container.decode(vs):
            first = first or frame
            count += 1
        info = {
            "format": container.format.name,
            "video_codec": cc.name,
            "pix_fmt": cc.pix_fmt,
            "width": cc.width,
            "height": cc.height,
            "frames": count,
            "fps": float(rate) if rate else None,
            "rate": rate,
            "duration": _stream_duration(vs, container),
            "color_primaries": getattr(first, "color_primaries", None),
            "color_trc": getattr(first, "color_trc", None),
            "colorspace": getattr(first, "colorspace", None),
            "color_range": getattr(first, "color_range", None),
            "audio": None,
        }
        if container.streams.audio:
            a = container.streams.audio[0]
            info["audio"] = {
                "codec": a.codec_context.name,
                "sample_rate": int(a.rate),
                "channels": int(a.channels),
                "duration": float(a.duration * a.time_base) if a.duration else None,
            }
    boxes = _top_level_boxes(p)
    info["boxes"] = boxes
    info["faststart"] = "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")
    info["crf"] = _x264_crf(p)
    return info
