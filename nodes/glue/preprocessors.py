"""Preprocessor glue: model folders, weight lookup/download, depth/pose runners, standalone nodes."""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Optional

import comfy.model_management
import folder_paths
import torch
from comfy_api.latest import io, ui

from ..pure.log import log
from ..pure import canny, control_options, control_video, pixels, weights
from .common import CATEGORY, Progress


_D = control_options.defaults()


# ----------------------------------------------------------------------------- folders
def register_folders() -> None:
    """models/rv2v_depth (+ models/videodepthanything) and models/rv2v_pose, with extensions.

    Called once from the extension's ``on_load`` (never at import), before any schema lists the files."""
    for folder, exts in weights.EXTENSIONS.items():
        paths = [os.path.join(folder_paths.models_dir, folder)]
        paths += [os.path.join(folder_paths.models_dir, extra) for extra in weights.EXTRA_FOLDERS[folder]]
        for i, path in enumerate(paths):
            folder_paths.add_model_folder_path(folder, path, is_default=(i == 0))
        entry = folder_paths.folder_names_and_paths[folder]
        if isinstance(entry[1], set):
            entry[1].update(exts)
        else:
            folder_paths.folder_names_and_paths[folder] = (entry[0], set(entry[1]) | set(exts))


def folder_files(folder: str) -> list[str]:
    try:
        return sorted(f for f in folder_paths.get_filename_list(folder) if not f.endswith(".part"))
    except KeyError:
        return []


def depth_choices() -> list[str]:
    names = list(control_options.by_name("depth_model").choices)
    return names + [f for f in folder_files(weights.DEPTH_FOLDER) if f not in names]


def require_file(folder: str, name: str, download_missing: bool = False) -> str:
    """The full path of a model file, or the clear missing-file error (download on request)."""
    bar = []  # the node's progress bar, made only if a download starts

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(Progress(100))
        bar[0](int(100 * done / max(total, 1)), 100)

    return weights.locate(name, folder, list(folder_paths.get_folder_paths(folder)),
                          found=folder_paths.get_full_path(folder, name), download_missing=download_missing,
                          progress=progress, should_stop=Progress.should_stop)


def check_files(depth: bool, pose: bool, depth_model: str, detector: str, estimator: str,
                download_missing: bool = False) -> None:
    """Resolve (or, on request, download) every file a control type needs before any model work."""
    from ..pure.pose import backends

    if depth:
        require_file(weights.DEPTH_FOLDER, depth_model, download_missing)
    if pose:
        for name in (backends.resolve_model_name(detector), backends.resolve_model_name(estimator)):
            require_file(weights.POSE_FOLDER, name, download_missing)


# ----------------------------------------------------------------------------- model cache
_lock = threading.Lock()
_cache: dict = {}  # kind ("depth" / "pose") -> (file key, model on CPU): one model per kind


def _cached(key, build):
    with _lock:
        kind = key[0]
        if kind not in _cache or _cache[kind][0] != key:
            _cache.pop(kind, None)
            _cache[kind] = (key, build())
        return _cache[kind][1]


def _file_key(*paths):
    return tuple((p, os.path.getmtime(p), os.path.getsize(p)) for p in paths)


def load_depth_model(name: str, download_missing: bool = False):
    path = require_file(weights.DEPTH_FOLDER, name, download_missing)
    note = weights.licence_note(name)
    if weights.entry(name) is not None and weights.entry(name).non_commercial:
        log.warning("RV2V depth: %s", note)
    return _cached(("depth",) + _file_key(path),
                   lambda: control_video.load_depth(path)), note


def load_pose_backend(detector: str, estimator: str, download_missing: bool = False):
    from ..pure.pose import backends

    det = backends.resolve_model_name(detector)
    est = backends.resolve_model_name(estimator)
    det_path = require_file(weights.POSE_FOLDER, det, download_missing)
    est_path = require_file(weights.POSE_FOLDER, est, download_missing)
    note = ""
    if det != detector or est != estimator:
        note = f"DWPose runs the TorchScript pair {det} + {est} (ONNX choices map to them; no onnxruntime)"
    return _cached(("pose",) + _file_key(det_path, est_path),
                   lambda: control_video.load_pose(det_path, est_path)), note


def _device():
    return comfy.model_management.get_torch_device()


@contextlib.contextmanager
def on_device(*models):
    """ComfyUI's device for the given models (None entries are skipped); back on the CPU after."""
    dev = _device()
    models = [m for m in models if m is not None]
    try:
        for m in models:
            m.to(dev)
        yield dev
    finally:
        for m in models:
            m.to("cpu")
        if models:
            comfy.model_management.soft_empty_cache()


def run_depth(frames: torch.Tensor, name: str, input_size: int = 518, download_missing: bool = False,
              out_hw=None) -> tuple[torch.Tensor, str]:
    """Depth gray (T, H, W, 3) in [0, 1] (near = white), at ``out_hw`` or the frame size."""
    from ..pure import depth

    model, note = load_depth_model(name, download_missing)
    with on_device(model) as dev:
        out = depth.video_depth(model, frames, input_size=input_size, device=dev, out_hw=out_hw,
                                progress=Progress(int(frames.shape[0])), should_stop=Progress.should_stop)
    return out, note


def run_pose(frames: torch.Tensor, detector: str, estimator: str, body=True, hands=True, face=True,
             download_missing: bool = False) -> tuple[torch.Tensor, str]:
    """Rendered DWPose (T, H, W, 3) float in [0, 1] at the frame size."""
    from ..pure.pose import backends

    backend, note = load_pose_backend(detector, estimator, download_missing)
    with on_device(backend):
        rendered, _meta = backends.estimate_poses(backend, frames, chunk=8, body=body, hands=hands, face=face,
                                                  progress=Progress(frames.shape[0]),
                                                  should_stop=Progress.should_stop)
    return pixels.uint8_to_float(rendered), note


# ----------------------------------------------------------------------------- inputs from the option table
def option_input(opt: control_options.ControlOption, advanced: Optional[bool] = None):
    """The V3 input for one row of ``control_options.OPTIONS`` (``advanced``: override the table's).

    depth_model's choices are the manifest files plus the files in its models folder."""
    adv = opt.advanced if advanced is None else advanced
    common = dict(default=opt.default, tooltip=opt.tooltip, advanced=adv)
    if opt.kind == "int":
        return io.Int.Input(opt.name, min=opt.min, max=opt.max, step=opt.step, **common)
    if opt.kind == "float":
        return io.Float.Input(opt.name, min=opt.min, max=opt.max, step=opt.step, **common)
    if opt.kind == "bool":
        return io.Boolean.Input(opt.name, **common)
    if opt.kind == "combo":
        options = depth_choices() if opt.name == "depth_model" else list(opt.choices)
        return io.Combo.Input(opt.name, options=options, **common)
    raise ValueError(f"control option {opt.name}: unknown kind {opt.kind!r}")


def option_inputs(names=None, advanced: Optional[bool] = None) -> list:
    """The inputs of the named options (default: all), in the given order."""
    opts = control_options.OPTIONS if names is None else [control_options.by_name(n) for n in names]
    return [option_input(o, advanced) for o in opts]


# ----------------------------------------------------------------------------- standalone nodes
def _canny_input(name: str, option: str, tooltip: str):
    """A Canny node input named ``name`` with the Control option's default and range."""
    o = control_options.by_name(option)
    return io.Int.Input(name, default=o.default, min=o.min, max=o.max, tooltip=tooltip)


class CannyPreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_CannyPreprocessor",
            display_name="LTX-2.3 Ref V2V Canny",
            category=CATEGORY,
            description="Canny edges of an image batch, pixel-exact with controlnet_aux (pure torch, chunked).",
            search_aliases=["canny", "edges", "preprocessor"],
            inputs=[
                io.Image.Input("image", tooltip="Frames to detect edges in."),
                _canny_input("low_threshold", "canny_low", "Low threshold (official: 92)."),
                _canny_input("high_threshold", "canny_high", "High threshold (official: 200)."),
                _canny_input("resolution", "canny_resolution",
                             "Shorter side the edges are detected at; the output has this size."),
            ],
            outputs=[io.Image.Output("image", tooltip="White edges on black.")],
        )

    @classmethod
    def execute(cls, image, low_threshold=_D["canny_low"], high_threshold=_D["canny_high"],
                resolution=_D["canny_resolution"]) -> io.NodeOutput:
        out = canny.canny_frames(image, low=low_threshold, high=high_threshold, resolution=resolution,
                                 progress=Progress(image.shape[0]), should_stop=Progress.should_stop)
        return io.NodeOutput(pixels.uint8_to_float(out))  # IMAGE is float in [0, 1]; canny gives uint8 0/255


class DepthPreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_DepthPreprocessor",
            display_name="LTX-2.3 Ref V2V Video Depth",
            category=CATEGORY,
            description="Video Depth Anything (windowed, temporally consistent) as a gray control: near = white, "
                        "normalised over the whole clip. Weights from models/rv2v_depth/.",
            search_aliases=["depth", "video depth anything", "vda", "preprocessor"],
            inputs=[io.Image.Input("image", tooltip="Frames (a clip) to estimate depth for."),
                    *option_inputs([*control_options.DEPTH_OPTIONS, "download_missing"], advanced=False)],
            outputs=[io.Image.Output("image", tooltip="Gray depth at the input size.")],
        )

    @classmethod
    def execute(cls, image, depth_model=_D["depth_model"], depth_input_size=_D["depth_input_size"],
                download_missing=_D["download_missing"]) -> io.NodeOutput:
        out, note = run_depth(image, depth_model, depth_input_size, download_missing)
        return io.NodeOutput(out, ui=ui.PreviewText(note or depth_model))


class PosePreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_PosePreprocessor",
            display_name="LTX-2.3 Ref V2V DWPose",
            category=CATEGORY,
            description="DWPose (TorchScript YOLOX-L + RTMPose-l) rendered OpenPose-style. "
                        "Weights from models/rv2v_pose/.",
            search_aliases=["pose", "dwpose", "openpose", "preprocessor"],
            inputs=[io.Image.Input("image", tooltip="Frames to estimate poses in."),
                    *option_inputs([*control_options.POSE_OPTIONS, "download_missing"], advanced=False)],
            outputs=[io.Image.Output("image", tooltip="Rendered poses at the input size.")],
        )

    @classmethod
    def execute(cls, image, bbox_detector=_D["bbox_detector"], pose_estimator=_D["pose_estimator"],
                detect_body=_D["detect_body"], detect_hand=_D["detect_hand"], detect_face=_D["detect_face"],
                download_missing=_D["download_missing"]) -> io.NodeOutput:
        out, note = run_pose(image, bbox_detector, pose_estimator, detect_body, detect_hand, detect_face,
                             download_missing)
        return io.NodeOutput(out, ui=ui.PreviewText(note or "DWPose"))


NODES = [CannyPreprocessor, DepthPreprocessor, PosePreprocessor]

