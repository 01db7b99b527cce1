"""Video Depth Anything (VDA) in plain torch: model, weight loading, windowed video inference.

Pure package: stdlib, torch, einops, safetensors only. Design reference:
the Video Depth Anything paper and code (arXiv:2501.12375, github.com/DepthAnything/Video-Depth-Anything).

Main entry points
-----------------
``load_vda(path_or_state_dict, config=None, metric=None, device="cpu", dtype=torch.float32)``
``video_depth(model, frames, *, input_size=518, device=None, precision="fp32", out_hw=None,
              output="gray", quantize=True, encoder_chunk=0, storage_dtype=torch.float16,
              post_chunk=16, max_res=0, progress=None, should_stop=None)``
"""
from __future__ import annotations

from typing import Callable

import torch

from ..pixels import float_to_uint8_trunc
from .postprocess import clip_minmax, depth_to_gray, gray_chunk
from .vda import (
    LICENCES,
    VDA_CONFIGS,
    WEIGHT_FILES,
    VDAConfig,
    VideoDepthAnything,
    build_random,
    detect_config,
    load_state_dict_file,
    load_vda,
)
from .windowing import infer_windows, max_res_size, network_size, scale_shift_lstsq, window_starts

__all__ = [
    "LICENCES", "VDA_CONFIGS", "WEIGHT_FILES", "VDAConfig", "VideoDepthAnything", "build_random",
    "detect_config", "load_state_dict_file", "load_vda", "infer_windows", "max_res_size", "network_size",
    "scale_shift_lstsq", "window_starts", "clip_minmax", "depth_to_gray", "gray_chunk", "video_depth",
]


def video_depth(
    model: VideoDepthAnything,
    frames: torch.Tensor,
    *,
    input_size: int = 518,
    device=None,
    precision: str = "fp32",
    out_hw: tuple[int, int] | None = None,
    output: str = "gray",
    quantize: bool = True,
    encoder_chunk: int = 0,
    storage_dtype: torch.dtype = torch.float16,
    post_chunk: int = 16,
    max_res: int = 0,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    out: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.float32,
    storage: torch.Tensor | None = None,
) -> torch.Tensor:
    """Depth of a clip ``frames`` (T, H, W, 3) float in [0, 1] or uint8 (CPU is fine).

    ``output="gray"``: float32 (T, H', W', 3) in [0, 1], near = white, normalised over
    the whole clip; ``output="raw"``: float32 (T, H', W') aligned relative depth
    (disparity-like, bilinearly upsampled). (H', W') = ``out_hw`` or the frame size;
    ``output="maps"``: the aligned depth at network resolution, (T, h, w) ``storage_dtype``
    on CPU (for callers that normalise chunk by chunk with ``clip_minmax``/``gray_chunk``).
    ``max_res`` > 0 reproduces the YVDA node: frames whose long side exceeds it are
    truncated to uint8 and shrunk with INTER_AREA (exact, ``resize_cv``) to the even
    ``max_res_size``; the output then has that size too (unless ``out_hw`` is given).
    The model must already be on ``device`` (default: the model's device).
    ``progress(done, total)`` is called after each 32-frame window and each output
    chunk; ``should_stop()`` is polled between them (``InterruptedError`` if true).
    Gray output is written ``post_chunk`` frames at a time into ``out`` (pre-allocated
    (T, H', W', 3) float32 or uint8, e.g. the input buffer itself: every input frame is
    read before the first output frame is written) or a new ``out_dtype`` tensor
    (uint8: rounded). Host memory: the input, the output, the depth at network
    resolution (``storage_dtype``; ``storage``: a pre-allocated (T, h, w) tensor for it,
    which may be parked in the input's own memory, frame i's maps in frame i's slot:
    see ``infer_windows``) and one 32-frame window.
    """
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3), got {tuple(frames.shape)}")
    if output not in ("gray", "raw", "maps"):
        raise ValueError(f"output must be 'gray', 'raw' or 'maps', not {output!r}")
    param = next(model.parameters())
    device = torch.device(device) if device is not None else param.device
    n = int(frames.shape[0])
    frame_hw = max_res_size(int(frames.shape[1]), int(frames.shape[2]), max_res)
    prepare = None
    if frame_hw != (int(frames.shape[1]), int(frames.shape[2])):
        def prepare(chunk):
            from ..resize_cv import area_resize_uint8

            if chunk.dtype != torch.uint8:  # YVDA: float -> uint8 by truncation (in float32)
                chunk = float_to_uint8_trunc(chunk.float())
            small = area_resize_uint8(chunk.permute(0, 3, 1, 2), frame_hw[0], frame_hw[1])
            return small.permute(0, 2, 3, 1)
    out_hw = tuple(out_hw) if out_hw is not None else frame_hw
    n_windows = len(window_starts(n))
    n_post = -(-n // post_chunk) if output != "maps" else 0
    total = n_windows + n_post

    def win_progress(done, _):
        if progress is not None:
            progress(done, total)

    def post_progress(done, _):
        if progress is not None:
            progress(n_windows + done, total)

    def net(x):
        return model(x.to(param.dtype) if precision == "fp32" else x, encoder_chunk=encoder_chunk)

    depth = infer_windows(
        net, frames, input_size=input_size, device=device, precision=precision, metric=model.metric,
        quantize=quantize, storage_dtype=storage_dtype, progress=win_progress, should_stop=should_stop,
        prepare=prepare, frame_hw=frame_hw, align_hw=frame_hw, out=storage,
    )
    if output == "maps":
        return depth
    if output == "raw":
        from .postprocess import _upsampled

        res = torch.empty((n, out_hw[0], out_hw[1]), dtype=torch.float32)
        for i, a in enumerate(range(0, n, post_chunk)):
            res[a:a + post_chunk] = _upsampled(depth, out_hw, a, a + post_chunk, device).cpu()
            post_progress(i + 1, n_post)
        return res
    return depth_to_gray(depth, out_hw, invert=model.metric, chunk=post_chunk, device=device,
                         progress=post_progress, should_stop=should_stop, out=out, dtype=out_dtype)
