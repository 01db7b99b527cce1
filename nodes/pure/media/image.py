"""Still image load to a ComfyUI IMAGE (:func:`load_image`), through the same safe
opener and limits as the videos (:mod:`.probe`, :mod:`.limits`)."""
from __future__ import annotations

import os
from typing import Optional

import torch

from ..pixels import uint8_to_float, uint16_to_float
from .errors import MediaError, PathLike
from .limits import DecodeLimits, _check_size, _limits
from .probe import _first_frame, _open_input, _require_decoder


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
    img = uint16_to_float(arr) if deep else uint8_to_float(arr)
    if img.shape[-1] == 4:
        img = img[..., :3] * img[..., 3:4]
    return img.unsqueeze(0).contiguous()
