"""Decoding limits (operator settings): checked from the container/stream metadata
before any frame is decoded, and again on what is actually decoded (metadata can lie).

:class:`DecodeLimits` holds them (``None`` = no limit); :meth:`DecodeLimits.from_env`
reads the ``RV2V_MAX_*`` environment variables. An exceeded limit is a
:class:`~.errors.MediaError` naming the limit, its variable and the remedy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .. import config
from .errors import MediaError

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

    max_seconds: Optional[float] = config.BY_NAME[ENV_MAX_SECONDS].default  # 600
    max_side: Optional[int] = config.BY_NAME[ENV_MAX_SIDE].default  # 4096
    max_pixels: Optional[int] = config.BY_NAME[ENV_MAX_PIXELS].default  # 4096 * 2304
    max_frames: Optional[int] = config.BY_NAME[ENV_MAX_FRAMES].default  # 36,000
    max_image_pixels: Optional[int] = config.BY_NAME[ENV_MAX_IMAGE_PIXELS].default  # 100 MP

    @classmethod
    def from_env(cls, environ=None) -> "DecodeLimits":
        """Limits from ``RV2V_MAX_VIDEO_SECONDS``, ``RV2V_MAX_VIDEO_SIDE``,
        ``RV2V_MAX_VIDEO_PIXELS``, ``RV2V_MAX_VIDEO_FRAMES`` and
        ``RV2V_MAX_IMAGE_PIXELS``, read and parsed by :mod:`..config` (unset: the
        default; ``0``/``none``: no limit; an invalid value is logged and the default used)."""
        return cls(**config.decode_limits(environ))


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
