"""Video/audio/image I/O with PyAV: probing, streaming decode, MP4 encode.

Conventions (ComfyUI): an IMAGE is float32 ``[F, H, W, 3]`` in ``[0, 1]``; an
AUDIO is ``{"waveform": float32 [B, C, S], "sample_rate": int}``.

One module per concern; this package re-exports the public API:

* :mod:`.errors`: :class:`MediaError` (message names parameter and file),
  :class:`MediaCancelled`, the shared type aliases.
* :mod:`.limits`: :class:`DecodeLimits` (``RV2V_MAX_*`` environment variables),
  checked before and while decoding.
* :mod:`.probe`: the safe opener, stream lookup, :func:`probe_video`.
* :mod:`.selection`: which source frame each output shows
  (:func:`source_indices_for_fps`, :func:`uniform_indices`, the streaming selectors).
* :mod:`.decode`: :func:`decode_video` (modes ``time``/``uniform``/``native``,
  streamed into one pre-allocated tensor, float32 or uint8).
* :mod:`.audio`: :func:`decode_audio`; :mod:`.image`: :func:`load_image`.
* :mod:`.encode`: :func:`encode_mp4` (H.264/AAC, BT.709, written atomically),
  :func:`crf_for_quality`.

Pixel value conversions (float <-> uint8) live in :mod:`..pixels`.
"""
from __future__ import annotations

from . import audio, decode, encode, errors, image, limits, probe, selection  # noqa: F401  (submodules)
from .audio import decode_audio
from .decode import DecodeReport, decode_video
from .encode import AAC_SAMPLE_RATES, VIDEO_QUALITY_CRF, EncodeReport, crf_for_quality, encode_mp4
from .errors import MediaCancelled, MediaError
from .image import load_image
from .limits import (ENV_MAX_FRAMES, ENV_MAX_IMAGE_PIXELS, ENV_MAX_PIXELS, ENV_MAX_SECONDS, ENV_MAX_SIDE,
                     NO_LIMITS, DecodeLimits)
from .probe import VideoInfo, probe_video
from .selection import source_indices_for_fps, uniform_indices

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
]
