"""The Control node's options as data: the single home of the control types and their settings.

The Control node's inputs (and the Depth / Pose nodes' depth / pose inputs,
``nodes/glue/preprocessors.py``), the CLI ``control`` flags (``nodes/cli/main.py``),
the defaults of the pure pipeline (``control_video.control_frames``) and the shipped
workflow's Control widgets (``tests/tools/build_workflows.py``) are generated from
``OPTIONS``, like the preset parameters from ``params.PARAMS``. The official values
(canny 92/200 at 512, depth input 518) are those of the official LTX-2.3 Union Control
workflow (the Control note in ``tests/tools/build_workflows.py``).

Which stages a control type runs is :func:`layers` (one rule for the node, the CLI and
the pure pipeline). Dynamic choices (model files found in a folder) are added by the glue;
the table holds the static ones.

Pure module: standard library only (the CLI's ``generate`` needs no torch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from . import weights

CONTROL_TYPES = ("canny", "depth", "pose", "composite")
COMPOSITE_MODES = ("all", "depth+pose", "canny+pose", "depth+canny")

_CANNY = frozenset({"canny", "composite"})
_DEPTH = frozenset({"depth", "composite"})
_POSE = frozenset({"pose", "composite"})
_COMPOSITE = frozenset({"composite"})
_MODELS = frozenset({"depth", "pose", "composite"})
_ALL = frozenset(CONTROL_TYPES)


@dataclass(frozen=True)
class ControlOption:
    """One Control option.

    kind: "int" | "float" | "bool" | "combo". used_by: the control types it affects.
    cli: the CLI ``control`` command has a flag for it; ``flag`` is that flag (default
    ``--name-with-dashes``; for a bool defaulting to True, the flag that turns it off).
    cli_any: the CLI takes any value (a file name or path), not only ``choices``.
    """

    name: str
    kind: str
    default: Any
    tooltip: str
    min: Optional[float] = None
    max: Optional[float] = None
    step: Optional[float] = None
    choices: tuple = ()
    advanced: bool = True
    used_by: frozenset = _ALL
    cli: bool = True
    flag: str = ""
    cli_any: bool = False

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


OPTIONS: tuple[ControlOption, ...] = (
    ControlOption("canny_low", "int", 92, "Canny low threshold (official workflow: 92).",
                  min=0, max=255, used_by=_CANNY),
    ControlOption("canny_high", "int", 200, "Canny high threshold (official workflow: 200).",
                  min=0, max=255, used_by=_CANNY),
    ControlOption("canny_resolution", "int", 512,
                  "Shorter side the edges are detected at (official workflow: 512).",
                  min=64, max=4096, used_by=_CANNY),
    ControlOption("depth_model", "combo", weights.DEPTH_DEFAULT,
                  "Video Depth Anything weights in models/rv2v_depth/ (or models/videodepthanything/). "
                  "vits (Small) is Apache-2.0; vitb/vitl (Base/Large) are CC-BY-NC-4.0: "
                  "non-commercial use only.",
                  choices=tuple(w.filename for w in weights.DEPTH_FILES.values()), used_by=_DEPTH, cli_any=True),
    ControlOption("depth_input_size", "int", 518,
                  "Shorter side the depth network sees (multiple of 14; official: 518).",
                  min=140, max=2044, step=14, used_by=_DEPTH),
    ControlOption("bbox_detector", "combo", "yolox_l.onnx",
                  "DWPose person detector. yolox_l.onnx (the official workflow's choice) runs "
                  "as yolox_l.torchscript.pt from models/rv2v_pose/: no onnxruntime needed.",
                  choices=("yolox_l.onnx", weights.POSE_DETECTOR.filename), used_by=_POSE, cli_any=True),
    ControlOption("pose_estimator", "combo", weights.POSE_ESTIMATOR.filename,
                  "DWPose pose model; runs as dw-ll_ucoco_384_bs5.torchscript.pt from models/rv2v_pose/.",
                  choices=(weights.POSE_ESTIMATOR.filename, "dw-ll_ucoco_384.onnx"), used_by=_POSE, cli_any=True),
    ControlOption("detect_body", "bool", True, "Draw the body skeleton.", used_by=_POSE, flag="--no-body"),
    ControlOption("detect_hand", "bool", True, "Draw the hands.", used_by=_POSE, flag="--no-hands"),
    ControlOption("detect_face", "bool", True, "Draw the face keypoints.", used_by=_POSE, flag="--no-face"),
    ControlOption("composite_mode", "combo", "all",
                  "Experimental composite: which layers (painter's order depth -> edges -> "
                  "pose). The Union Control LoRA is not documented as trained on composites.",
                  choices=COMPOSITE_MODES, used_by=_COMPOSITE),
    ControlOption("depth_weight", "float", 0.5,
                  "Composite: depth layer brightness (dimmed so white edges stay visible).",
                  min=0.0, max=1.0, step=0.05, used_by=_COMPOSITE),
    ControlOption("edge_weight", "float", 1.0, "Composite: opacity of the white canny edges.",
                  min=0.0, max=1.0, step=0.05, used_by=_COMPOSITE),
    ControlOption("pose_weight", "float", 1.0, "Composite: opacity of the pose drawing (on top).",
                  min=0.0, max=1.0, step=0.05, used_by=_COMPOSITE),
    ControlOption("download_missing", "bool", False,
                  "Download a missing preprocessor model file from Hugging Face into its models folder "
                  "(verified, resumable). Off: a missing file stops the run with the file name and where to "
                  "get it.", used_by=_MODELS),
    ControlOption("preview", "bool", True,
                  "Show the control video playing in this node (a small MP4 in ComfyUI's "
                  "temp folder). Use the node's 'Preview control video' button to run "
                  "the graph only up to here, without loading the model.", cli=False),
)

BY_NAME: dict[str, ControlOption] = {o.name: o for o in OPTIONS}
DEPTH_OPTIONS = ("depth_model", "depth_input_size")
POSE_OPTIONS = ("bbox_detector", "pose_estimator", "detect_body", "detect_hand", "detect_face")


def by_name(name: str) -> ControlOption:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no control option {name!r} (options: {', '.join(BY_NAME)})") from None


def defaults() -> dict[str, Any]:
    """{option name: default} of every option."""
    return {o.name: o.default for o in OPTIONS}


def for_type(control_type: str) -> tuple[ControlOption, ...]:
    """The options a control type uses (table order)."""
    check_type(control_type)
    return tuple(o for o in OPTIONS if control_type in o.used_by)


def check_type(control_type: str) -> str:
    if control_type not in CONTROL_TYPES:
        raise ValueError(f"control_type must be one of {', '.join(CONTROL_TYPES)}, not {control_type!r}")
    return control_type


def layers_for_mode(mode: str) -> tuple[bool, bool, bool]:
    """(depth, canny, pose) used by a composite mode."""
    if mode not in COMPOSITE_MODES:
        raise ValueError(f"composite mode must be one of {', '.join(COMPOSITE_MODES)}, not {mode!r}")
    return ("depth" in mode or mode == "all", "canny" in mode or mode == "all", "pose" in mode or mode == "all")


def layers(control_type: str, composite_mode: str = "all") -> tuple[bool, bool, bool]:
    """(depth, canny, pose): the stages a control type runs (composite: per ``composite_mode``)."""
    check_type(control_type)
    if control_type == "composite":
        return layers_for_mode(composite_mode)
    return (control_type == "depth", control_type == "canny", control_type == "pose")
