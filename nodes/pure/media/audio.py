"""Audio decode to a ComfyUI AUDIO dict (:func:`decode_audio`).

An AUDIO is ``{"waveform": float32 [B, C, S], "sample_rate": int}``. Times are on the
file's timeline (0 = container start), so audio that starts late keeps its offset to
the video; resampling uses ``av.AudioResampler``.
"""
from __future__ import annotations

import os
from typing import List, Optional

import av
import numpy as np
import torch

from .errors import MediaError, PathLike
from .probe import _audio_stream, _open_input, _require_decoder, _short


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
