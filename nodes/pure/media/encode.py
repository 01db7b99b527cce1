"""H.264/AAC MP4 encode of an IMAGE (+ AUDIO) (:func:`encode_mp4`).

Frames are converted to uint8 a chunk at a time (rounded, :func:`..pixels.float_to_uint8_round`),
converted to yuv420p with the BT.709 matrix and tagged BT.709; the file is written to a
temporary name next to the destination and renamed into place (:mod:`..atomic`).
``video_quality`` names map to libx264 CRF values in :data:`VIDEO_QUALITY_CRF`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Dict, Optional, Tuple

import av
import numpy as np
import torch
from av.video.reformatter import ColorRange, Colorspace

from ..atomic import atomic_path
from ..pixels import float_to_uint8_round
from .errors import MediaCancelled, PathLike, ProgressFn, StopFn
from .selection import _as_fraction

#: ``video_quality`` -> libx264 CRF (product contract).
VIDEO_QUALITY_CRF: Dict[str, int] = {"low": 28, "medium": 23, "high": 18, "maximum": 12}

#: Sample rates the AAC encoder accepts; other rates are resampled to 48 kHz.
AAC_SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


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
        chunk = float_to_uint8_round(torch.nan_to_num(chunk.to(torch.float32), nan=0.0), in_place=True)
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
