"""The one Union Control pipeline: canny, depth, pose, experimental composite, chunked.

Pure module (torch/numpy; the depth and pose packages). The Control node
(``nodes/glue/control.py``) and the CLI's ``control`` command both call
:func:`control_frames`; they differ only in the dtypes they ask for:

* the node passes ComfyUI IMAGE frames (float in [0, 1]) and takes a float32 output
  (``out_dtype=torch.float32``: the exact values each stage computes, no rounding);
* the CLI and the benchmarks pass uint8 frames and take a uint8 output, keeping every
  whole-clip tensor in uint8:

* the frames come in as uint8 (``media.decode_video(..., dtype=torch.uint8)``
  truncates exactly like the preprocessors do, so they see the same values);
* each stage works ``chunk`` frames at a time (the depth network one 32-frame window
  at a time) and writes into ONE pre-allocated uint8 output; with ``in_place=True``
  that output is the input buffer itself (its centre crop when the output size is a
  crop of the frames): every chunk is read before it is overwritten;
* ``progress(done, total, stage)`` is called per chunk / window, and ``should_stop()``
  is polled before each one (``InterruptedError`` when it returns True).

Host memory is therefore about the uint8 frames + (when the output is not a crop of
them) the uint8 output + the depth at network resolution (fp16, depth/composite only)
+ one chunk / window. The uint8 output is the float output rounded (what the MP4 writer
does); pose is drawn in uint8 in both.

Model files use ComfyUI's folder conventions below a ``models`` folder
(``rv2v_depth`` + ``videodepthanything``, ``rv2v_pose``) with the nodes' missing-file
message (file, folder, download URL): :func:`find_model`.
"""
from __future__ import annotations

import json
import os
from typing import Callable, Optional

import torch

from . import canny, composite, control_options, imageops, weights
from .control_options import CONTROL_TYPES
from .pixels import float_to_uint8_round, float_to_uint8_trunc, uint8_to_float

__all__ = ["CONTROL_TYPES", "model_folders", "find_model", "vda_config_from_file", "load_depth",
           "load_pose", "fit_frames", "park_depth", "control_frames", "pad_to"]

_D = control_options.defaults()  # the Control node's defaults (one table)
VDA_CONFIG_KEY = "rv2v_vda_config"  # optional safetensors metadata: an explicit (e.g. tiny) VDA config

Progress = Optional[Callable[[int, int, str], None]]
Stop = Optional[Callable[[], bool]]


# ----------------------------------------------------------------------------- model files
def model_folders(models_dir, folder: str) -> list[str]:
    """The folders searched for ``folder`` below a ComfyUI ``models`` directory."""
    root = os.path.expanduser(os.fspath(models_dir))
    return [os.path.join(root, f) for f in (folder, *weights.EXTRA_FOLDERS.get(folder, ()))]


def find_model(name: str, folder: str, models_dir=None, *, download_missing: bool = False,
               download_hint: Optional[str] = None,
               progress: Optional[Callable[[int, int], None]] = None) -> str:
    """Full path of model file ``name`` (a path to an existing file is taken as is).

    Searched in :func:`model_folders`. A missing manifest file raises
    ``FileNotFoundError`` with the nodes' message (file, folder, searched paths, download
    URL) whose download advice is ``download_hint`` (default: the node's option);
    with ``download_missing`` it is downloaded (verified, resumable) into the first folder.
    """
    if os.path.isfile(os.path.expanduser(name)):
        return os.path.expanduser(name)
    searched = model_folders(models_dir, folder) if models_dir is not None else []
    return weights.locate(name, folder, searched, download_missing=download_missing,
                          download_hint=download_hint or weights.DOWNLOAD_HINT_NODE, progress=progress)


def vda_config_from_file(path: str):
    """An explicit VDA config from safetensors metadata (``rv2v_vda_config``), else None (detected)."""
    if not str(path).lower().endswith(".safetensors"):
        return None
    from safetensors import safe_open

    from .depth import VDAConfig
    from .depth.dinov2 import ViTConfig

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if VDA_CONFIG_KEY not in meta:
        return None
    c = json.loads(meta[VDA_CONFIG_KEY])
    return VDAConfig(c.get("name", "custom"), ViTConfig(*c["vit"]), tuple(c["layers"]), int(c["features"]),
                     tuple(c["out_channels"]), int(c.get("max_frames", 32)), bool(c.get("metric", False)))


def load_depth(path: str, device="cpu"):
    from .depth import load_vda

    return load_vda(path, config=vda_config_from_file(path), device=device)


def load_pose(detector_path: str, estimator_path: str, device="cpu"):
    from .pose import backends

    return backends.DWPoseBackend.from_files(detector_path, estimator_path, device=device)


# ----------------------------------------------------------------------------- frames
def _crop_box(frames: torch.Tensor, width: int, height: int):
    y, x, h, w = imageops.center_crop_box(frames.shape[1], frames.shape[2], width, height)
    return (y, x) if (h, w) == (height, width) else None


def fit_frames(frames: torch.Tensor, width: int, height: int, chunk: int = 8) -> torch.Tensor:
    """uint8 frames at ``width x height`` as the node's ``crop_to`` makes them (cover + centre crop).

    A pure crop is a view (no copy). Otherwise a new uint8 tensor is filled ``chunk``
    frames at a time with the float resize truncated (``floor(x * 255)``), i.e. the values
    the depth / pose preprocessors derive from the node's float frames.
    """
    box = _crop_box(frames, width, height)
    if box is not None:
        y, x = box
        return frames[:, y:y + height, x:x + width]
    out = torch.empty((frames.shape[0], height, width, 3), dtype=torch.uint8)
    for a in range(0, frames.shape[0], chunk):
        f = imageops.cover_crop(frames[a:a + chunk], width, height)
        out[a:a + chunk] = float_to_uint8_trunc(f)
    return out


def park_depth(buf: torch.Tensor, h: int, w: int) -> Optional[torch.Tensor]:
    """An fp16 (N, h, w) view of the first ``2*h*w`` bytes of each frame slot of the uint8
    buffer ``buf`` (N, ...), or None when a slot is too small (or ``buf`` not contiguous).

    With the depth written in place over its own input, frame i's network-resolution
    maps can wait for the whole-clip normalisation in frame i's slot (that frame has
    been read by then and is overwritten by its gray output later), so the depth of
    a clip needs no host memory beyond the frames and one window."""
    if not buf.is_contiguous() or buf.device.type != "cpu" or buf.dtype != torch.uint8:
        return None
    n = buf.shape[0]
    slot = buf[0].numel() if n else 0
    if n == 0 or slot % 2 or slot < 2 * h * w:
        return None
    return buf.view(n, slot)[:, :2 * h * w].view(torch.float16).view(n, h, w)


def _output(frames: torch.Tensor, width: int, height: int, in_place: bool,
            dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    if in_place and frames.device.type == "cpu":
        box = _crop_box(frames, width, height)
        if box is not None:
            y, x = box
            return frames[:, y:y + height, x:x + width]
    return torch.empty((frames.shape[0], height, width, 3), dtype=dtype)


# ----------------------------------------------------------------------------- pipeline
def pad_to(control: torch.Tensor, length: int) -> torch.Tensor:
    """``control`` (N, H, W, 3) cut or padded (last frame repeated) to ``length`` frames (node and CLI)."""
    return imageops.pad_with_last_frame(control, length)[:length]


@torch.no_grad()
def control_frames(
    frames: torch.Tensor,
    control_type: str,
    width: int,
    height: int,
    *,
    canny_low: int = _D["canny_low"],
    canny_high: int = _D["canny_high"],
    canny_resolution: int = _D["canny_resolution"],
    depth_model=None,
    depth_input_size: int = _D["depth_input_size"],
    depth_precision: str = "fp32",
    pose_backend=None,
    body: bool = _D["detect_body"],
    hands: bool = _D["detect_hand"],
    face: bool = _D["detect_face"],
    composite_mode: str = _D["composite_mode"],
    depth_weight: float = _D["depth_weight"],
    edge_weight: float = _D["edge_weight"],
    pose_weight: float = _D["pose_weight"],
    chunk: int = 8,
    device=None,
    canny_device=None,
    in_place: bool = False,
    out_dtype: torch.dtype = torch.uint8,
    progress: Progress = None,
    should_stop: Stop = None,
) -> torch.Tensor:
    """The control video (N, height, width, 3) of ``frames`` (N, H, W, 3): uint8, or float in
    [0, 1] (ComfyUI IMAGE; every stage truncates it to uint8 first, ``floor(x * 255)``).

    Same stages and parameters as the Control node: canny on the frames, then cover +
    centre crop to the output size; depth / pose on the frames fitted to the output size
    (:func:`fit_frames`); composite = depth (gray, dimmed) -> edges -> pose. The models
    (``depth_model``: a loaded ``VideoDepthAnything``; ``pose_backend``: a
    ``DWPoseBackend``) must already be on ``device`` (default CPU). ``chunk`` bounds the
    frames in flight for every stage but the depth network (one 32-frame window).
    ``in_place``: write into the (uint8) input buffer (see the module docstring); the
    returned tensor may then be a view of ``frames``. ``out_dtype``: ``torch.uint8``
    (rounded) or ``torch.float32`` (the stages' exact float values, what the node returns).
    ``canny_device``: where the edges are computed (default ``device``; the node keeps
    them on the CPU, where they are OpenCV-exact).
    """
    control_options.check_type(control_type)
    if frames.dim() != 4 or frames.shape[-1] != 3 or not (frames.dtype == torch.uint8 or frames.is_floating_point()):
        raise ValueError(f"frames must be uint8 or float (N, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    if out_dtype not in (torch.uint8, torch.float32):
        raise ValueError(f"out_dtype must be torch.uint8 or torch.float32, not {out_dtype}")
    if in_place and (frames.dtype != torch.uint8 or out_dtype != torch.uint8):
        raise ValueError("in_place needs uint8 frames and a uint8 output")
    width, height, chunk = int(width), int(height), max(1, int(chunk))
    n = int(frames.shape[0])
    dev = torch.device(device) if device is not None else torch.device("cpu")
    canny_dev = torch.device(canny_device) if canny_device is not None else dev
    as_float = out_dtype == torch.float32
    use_depth, use_canny, use_pose = control_options.layers(control_type, composite_mode)
    if use_depth and depth_model is None:
        raise ValueError(f"control_type {control_type!r} needs a depth model")
    if use_pose and pose_backend is None:
        raise ValueError(f"control_type {control_type!r} needs a pose backend")

    def report(stage):
        return (lambda d, t: progress(d, t, stage)) if progress is not None else None

    def stop():
        if should_stop is not None and should_stop():
            raise InterruptedError(f"{control_type} control interrupted")

    def edges_chunk(a, b):  # float (k, height, width, 3), the node's control_canny
        e = canny.canny_frames(frames[a:b], low=canny_low, high=canny_high, resolution=canny_resolution,
                               chunk=chunk, device=canny_dev)
        return imageops.cover_crop(e.cpu(), width, height)

    if control_type == "canny":
        out = _output(frames, width, height, in_place, out_dtype)
        for a in range(0, n, chunk):
            stop()
            b = min(a + chunk, n)
            e = edges_chunk(a, b)
            out[a:b] = e if as_float else float_to_uint8_round(e, in_place=True)  # frames[a:b] is read before this write
            if progress is not None:
                progress(b, n, "canny")
        return out

    src = fit_frames(frames, width, height, chunk)
    # in place: over the crop view of the input, or over the resized copy
    out = src if in_place else torch.empty((n, height, width, 3), dtype=out_dtype)
    if control_type == "depth":
        from .depth import network_size, video_depth

        storage = None
        if in_place:  # park the network-resolution maps in the input buffer (each in its frame's slot)
            base = frames if src.untyped_storage().data_ptr() == frames.untyped_storage().data_ptr() else src
            storage = park_depth(base, *network_size(height, width, depth_input_size))
        return video_depth(depth_model, src, input_size=depth_input_size, device=dev, precision=depth_precision,
                           out_hw=(height, width), out=out, storage=storage, progress=report("depth"),
                           should_stop=should_stop)
    if control_type == "pose":
        from .pose import backends

        rendered, _meta = backends.estimate_poses(pose_backend, src, chunk=chunk, body=body, hands=hands,
                                                  face=face, progress=report("pose"), should_stop=should_stop,
                                                  out=None if as_float else out)
        return uint8_to_float(rendered) if as_float else rendered

    # composite: depth maps first (they need the whole clip), then every layer chunk by chunk
    maps = lo = hi = None
    if use_depth:
        from .depth import clip_minmax, video_depth

        maps = video_depth(depth_model, src, input_size=depth_input_size, device=dev, precision=depth_precision,
                           output="maps", progress=report("depth"), should_stop=should_stop)
        lo, hi = clip_minmax(maps, (height, width), 16, dev)
    for a in range(0, n, chunk):
        stop()
        b = min(a + chunk, n)
        d = e = p = None
        if use_depth:
            from .depth import gray_chunk

            g = gray_chunk(maps, lo, hi, a, b, (height, width), invert=depth_model.metric, device=dev)
            d = g.unsqueeze(-1).expand(-1, -1, -1, 3).cpu()
        if use_canny:
            e = edges_chunk(a, b)
        if use_pose:
            from .pose import backends

            p, _meta = backends.estimate_poses(pose_backend, src[a:b], chunk=chunk, body=body, hands=hands,
                                               face=face)
            p = uint8_to_float(p)
        out[a:b] = composite.composite(d, e, p, depth_weight=depth_weight, edge_weight=edge_weight,
                                       pose_weight=pose_weight, chunk=chunk, dtype=out_dtype)
        if progress is not None:
            progress(b, n, "composite")
    return out
