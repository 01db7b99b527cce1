"""Control node: turns the reference into the Union Control video."""
from __future__ import annotations

import os
import uuid

import folder_paths
import torch
from comfy_api.latest import io, ui

from ..pure import canny, composite, imageops, media, weights
from . import preprocessors as pre
from .common import CATEGORY, Progress, Settings


def control_from_video(path: str, width: int, height: int, length: int) -> torch.Tensor:
    """A precomputed control video resampled to `length` frames (uniform) at width x height."""
    frames, _rep = media.decode_video(
        path, num_frames=length, mode="uniform", size=(width, height),
        progress=Progress(length), should_stop=Progress.should_stop, label="control_video_url",
    )
    return frames


def control_canny(frames: torch.Tensor, width: int, height: int, low: int, high: int,
                  resolution: int) -> torch.Tensor:
    edges = canny.canny_frames(frames, low=low, high=high, resolution=resolution,
                               progress=Progress(frames.shape[0]), should_stop=Progress.should_stop)
    return imageops.cover_crop(edges, width, height)


def save_preview(control: torch.Tensor, fps: float, crf: int = 23) -> ui.SavedResult:
    """The control video as a small MP4 in ComfyUI's temp folder (shown playing in the node)."""
    subfolder = "rv2v_preview"
    folder = os.path.join(folder_paths.get_temp_directory(), subfolder)
    os.makedirs(folder, exist_ok=True)
    name = f"control_{uuid.uuid4().hex[:12]}.mp4"
    media.encode_mp4(os.path.join(folder, name), control, fps=fps, audio=None, crf=crf, preset="veryfast",
                     progress=Progress(control.shape[0]), should_stop=Progress.should_stop)
    return ui.SavedResult(name, subfolder, io.FolderType.temp)


class Control(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_Control",
            display_name="LTX-2.3 Ref V2V Control",
            category=CATEGORY,
            description="Makes the Union Control video: canny edges of the reference (official wiring, "
                        "controlnet_aux-exact), Video Depth Anything depth, DWPose, or an experimental "
                        "depth+edges+pose composite (per control_type); or, with skip_control_preprocess, "
                        "the given control video resampled to the output size and frame count.",
            search_aliases=["canny", "depth", "pose", "dwpose", "control video", "union control", "preprocess"],
            is_output_node=True,  # so "preview control" can run the graph only up to here
            inputs=[
                Settings.Input("settings", tooltip="From the Settings node (control_type, control video)."),
                io.Image.Input("frames", tooltip="Reference frames from Reference planning."),
                io.Int.Input("width", default=896, min=32, max=8192, tooltip="Output width."),
                io.Int.Input("height", default=512, min=32, max=8192, tooltip="Output height."),
                io.Int.Input("length", default=121, min=1, max=4096, tooltip="Output frame count."),
                io.Int.Input("canny_low", default=92, min=0, max=255, advanced=True,
                             tooltip="Canny low threshold (official workflow: 92)."),
                io.Int.Input("canny_high", default=200, min=0, max=255, advanced=True,
                             tooltip="Canny high threshold (official workflow: 200)."),
                io.Int.Input("canny_resolution", default=512, min=64, max=4096, advanced=True,
                             tooltip="Shorter side the edges are detected at (official workflow: 512)."),
                *pre.depth_inputs(advanced=True),
                *pre.pose_inputs(advanced=True),
                io.Combo.Input("composite_mode", options=list(composite.MODES), default="all", advanced=True,
                               tooltip="Experimental composite: which layers (painter's order depth -> edges -> "
                                       "pose). The Union Control LoRA is not documented as trained on composites."),
                io.Float.Input("depth_weight", default=0.5, min=0.0, max=1.0, step=0.05, advanced=True,
                               tooltip="Composite: depth layer brightness (dimmed so white edges stay visible)."),
                io.Float.Input("edge_weight", default=1.0, min=0.0, max=1.0, step=0.05, advanced=True,
                               tooltip="Composite: opacity of the white canny edges."),
                io.Float.Input("pose_weight", default=1.0, min=0.0, max=1.0, step=0.05, advanced=True,
                               tooltip="Composite: opacity of the pose drawing (on top)."),
                pre.download_input(advanced=True),
                io.Boolean.Input("preview", default=True, advanced=True,
                                 tooltip="Show the control video playing in this node (a small MP4 in ComfyUI's "
                                         "temp folder). Use the node's 'Preview control video' button to run "
                                         "the graph only up to here, without loading the model."),
            ],
            outputs=[io.Image.Output("control", tooltip="The control video at the output size.")],
        )

    @classmethod
    def execute(cls, settings, frames, width, height, length, canny_low=92, canny_high=200,
                canny_resolution=512, depth_model=weights.DEPTH_DEFAULT, depth_input_size=518,
                bbox_detector="yolox_l.onnx", pose_estimator=weights.POSE_ESTIMATOR.filename,
                detect_body=True, detect_hand=True, detect_face=True, composite_mode="all",
                depth_weight=0.5, edge_weight=1.0, pose_weight=1.0, download_missing=False,
                preview=True) -> io.NodeOutput:
        notes = []
        ctype = settings.control_type
        if settings.use_control_video:
            control = control_from_video(settings.resolved["control_video_url"], width, height, length)
            what = "given control video"
        elif ctype == "canny":
            control = control_canny(frames[:length], width, height, canny_low, canny_high, canny_resolution)
            what = f"canny {canny_low}/{canny_high} @ {canny_resolution}"
        elif ctype in ("depth", "pose", "composite"):
            use_depth, use_canny, use_pose = (
                composite.layers_for_mode(composite_mode) if ctype == "composite"
                else (ctype == "depth", False, ctype == "pose"))
            pre.check_files(use_depth, use_pose, depth_model, bbox_detector, pose_estimator,
                            download_missing)  # every missing file is reported before any model work
            src = pre.crop_to(frames[:length], width, height)
            depth = pose = edges = None
            if use_depth:
                depth, note = pre.run_depth(src, depth_model, depth_input_size, download_missing,
                                            out_hw=(height, width))
                notes.append(note)
            if use_pose:
                pose, note = pre.run_pose(src, bbox_detector, pose_estimator, detect_body, detect_hand,
                                          detect_face, download_missing)
                notes.append(note)
            if use_canny:
                edges = control_canny(frames[:length], width, height, canny_low, canny_high, canny_resolution)
            if ctype == "composite":
                control = composite.composite(depth, edges, pose, depth_weight=depth_weight,
                                              edge_weight=edge_weight, pose_weight=pose_weight,
                                              progress=Progress(src.shape[0]), should_stop=Progress.should_stop)
                what = f"composite {composite_mode} (experimental)"
            else:
                control = depth if ctype == "depth" else pose
                what = f"depth ({depth_model})" if ctype == "depth" else "pose (DWPose)"
        else:
            raise ValueError(f"control_type: {ctype!r} is not available in this version")
        control = imageops.pad_with_last_frame(control, length)
        text = "\n".join([f"{what}: {min(control.shape[0], length)} frames {width}x{height}"]
                          + [n for n in notes if n])
        control = control[:length]
        if not preview:
            return io.NodeOutput(control, ui=ui.PreviewText(text))
        saved = save_preview(control, float(settings.frames_per_second))
        return io.NodeOutput(control, ui={**ui.PreviewVideo([saved]).as_dict(), **ui.PreviewText(text).as_dict()})
