"""Streaming video decode into one pre-allocated IMAGE tensor (:func:`decode_video`).

Decoding streams the file and keeps only the frames it needs, converting (and
optionally resizing) each kept frame straight into a pre-allocated output, so
memory stays close to the size of the result.

Frame selection (``mode``; the index rules live in :mod:`.selection`):

* ``"time"``: output frame ``i`` shows the source at ``t = i / fps_out``. The
  source frame whose timestamp is *nearest* to ``t`` is used (ties go to the
  later frame); timestamps are measured from the first decoded frame and come
  from the frames' pts, so variable-frame-rate files are handled. For a
  constant-rate source this is exactly :func:`.selection.source_indices_for_fps`.
  The last frame counts as lasting its duration (``1/fps`` when unknown): output
  times at or after ``last_pts + duration / 2`` (nearer to where a next frame
  would be) are past the end; they hold the last frame and count as padded.
* ``"uniform"``: :func:`.selection.uniform_indices` over the source frame count
  (used for pre-computed control videos: the whole clip is stretched to ``num_frames``).
* ``"native"``: source frames ``0 .. num_frames-1`` by decode order, no fps
  change (the official graph's behaviour).

Pixel values: float frames are ``frame / 255`` (``/ 65535`` for >8-bit sources);
uint8 output truncates resized or deep frames (:mod:`..pixels`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, List, Optional, Sequence, Tuple

import av
import numpy as np
import torch

from ..imageops import cover_crop, resize_frames, scale_short_side
from ..pixels import float_to_uint8_trunc, uint8_to_float, uint16_to_float
from .errors import MediaCancelled, MediaError, PathLike, ProgressFn, StopFn, _describe
from .limits import ENV_MAX_FRAMES, ENV_MAX_SECONDS, NO_LIMITS, DecodeLimits, _check_size, _limits, _over
from .probe import (_DEFAULT_FPS, _ZERO_FRAMES, _check_stream_metadata, _decode_frames, _frame_rotation,
                    _open_input, _short, _stream_duration, _stream_rate, _video_stream)
from .selection import _AllSelector, _as_fraction, _IndexSelector, _TimeSelector, uniform_indices

_DECODE_CHUNK = 8  # frames converted/resized together


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
    if stacked.dtype == np.uint16:
        return uint16_to_float(stacked)
    return uint8_to_float(torch.from_numpy(stacked))


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
            if self.dtype == torch.uint8:  # what the preprocessors do to the float frames
                frames = float_to_uint8_trunc(frames)
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
