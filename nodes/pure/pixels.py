"""Pixel value conversions between float ``[0, 1]`` and integer levels (pure; torch/numpy).

A ComfyUI IMAGE is float in ``[0, 1]``; video files and the preprocessors work on uint8.
Two float -> uint8 rules are in use and must not be mixed up:

* :func:`float_to_uint8_trunc`: ``floor(x * 255)`` (clamped to 0..255), the truncating
  cast ComfyUI preprocessors apply to an IMAGE (``np.asarray(image * 255., dtype=np.uint8)``
  in ``common_annotator_call``, utils.py of github.com/Fannovel16/comfyui_controlnet_aux).
  The pack's canny and depth inputs use it, so a uint8 decode feeds them the values
  the float decode would (``tests/test_canny.py``, ``tests/test_control_video.py``).
* :func:`float_to_uint8_round`: ``round(clamp(x, 0, 1) * 255)`` with ``torch.round``
  (round half to even). What the MP4 writer (``media.encode``) does with a float IMAGE,
  so control videos computed as uint8 equal the float node output once written.

The reverse, :func:`uint8_to_float` / :func:`uint16_to_float`, is an exact division by
255 / 65535 (not a multiplication by the reciprocal, which can differ in the last bit).
The results are new tensors, except where a docstring says otherwise.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

__all__ = ["float_to_uint8_trunc", "float_to_uint8_round", "uint8_to_float", "uint16_to_float"]

ArrayLike = Union[torch.Tensor, np.ndarray]


def float_to_uint8_trunc(x: torch.Tensor) -> torch.Tensor:
    """float ``[0, 1]`` -> uint8 by truncation: ``floor(x * 255)`` clamped to 0..255.

    The product is computed in ``x``'s own float dtype (pass ``x.float()`` for float32
    arithmetic on a half-precision input); NaN gives 0. A uint8 input is returned as is
    (the same tensor); another integer dtype is clamped to 0..255 and cast.
    """
    if x.dtype == torch.uint8:
        return x
    if x.is_floating_point():
        # float -> int32 -> uint8: truncation, and much faster than float -> uint8 on CPU
        return (x * 255.0).clamp_(0, 255).to(torch.int32).to(torch.uint8)
    return x.clamp(0, 255).to(torch.uint8)


def float_to_uint8_round(x: torch.Tensor, *, in_place: bool = False) -> torch.Tensor:
    """float ``[0, 1]`` -> uint8 rounded: ``round(clamp(x, 0, 1) * 255)``, half to even.

    Computed in ``x``'s float dtype. ``in_place=True`` uses ``x`` as the scratch tensor
    (clamped and scaled in place, no float temporary); otherwise ``x`` is left untouched.
    NaN is not defined here: replace it first (``torch.nan_to_num``) where it can occur.
    """
    y = x.clamp_(0.0, 1.0) if in_place else x.clamp(0.0, 1.0)
    return y.mul_(255.0).round_().to(torch.uint8)


def _float32_copy(x: ArrayLike) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x.astype(np.float32))  # astype always copies
    return x.to(torch.float32, copy=True)


def uint8_to_float(x: ArrayLike) -> torch.Tensor:
    """uint8 (or integer 0..255) tensor or numpy array -> a new float32 tensor ``x / 255``."""
    return _float32_copy(x).div_(255.0)


def uint16_to_float(x: ArrayLike) -> torch.Tensor:
    """16-bit levels (0..65535, any integer dtype; tensor or numpy array) -> a new float32
    tensor ``x / 65535`` (deep-colour video frames and 16-bit PNGs)."""
    return _float32_copy(x).div_(65535.0)
