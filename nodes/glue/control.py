"""Control node: turns the reference into the Union Control video.

Its options (inputs, defaults) are the table ``nodes/pure/control_options.py``; the video itself
comes from the one control pipeline, ``control_video.control_frames`` (the CLI's ``control``
command calls it too, with uint8 frames); this node loads the models and places them on
ComfyUI's device."""
from __future__ import annotations

import os
import uuid

import folder_paths
import torch
from comfy_api.latest import io, ui

from ..pure import control_options, control_video, media
from . import preprocessors as pre
from .common import CATEGORY, Progress, SettingsSocket


def control_from_video(path: str, width: int, height: int, length: int) -> torch.Tensor:
    """A precomputed control video resampled to `length` frames (uniform) at width x height."""
    frames, _rep = media.decode_video(
        path, num_frames=length, mode="uniform", size=(width, height),
        progress=Progress(length), should_stop=Progress.should_stop, label="control_video_url",
    )
    return frames


class StageProgress:
    """``control_frames``' progress(done, total, stage): one ComfyUI progress bar per stage."""

    def __init__(self):
        self.stage, self.bar = None, None

    def __call__(self, done: int, total: int, stage: str) -> None:
        if stage != self.stage:
            self.stage, self.bar = stage, Progress(total)
        self.bar(done, total)


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
                SettingsSocket.Input("settings", tooltip="From the Settings node (control_type, control video)."),
                io.Image.Input("frames", tooltip="Reference frames from Reference planning."),
                io.Int.Input("width", default=896, min=32, max=8192, tooltip="Output width."),
                io.Int.Input("height", default=512, min=32, max=8192, tooltip="Output height."),
                io.Int.Input("length", default=121, min=1, max=4096, tooltip="Output frame count."),
                *pre.option_inputs(),  # the option table: nodes/pure/control_options.py
            ],
            outputs=[io.Image.Output("control", tooltip="The control video at the output size.")],
        )

    @classmethod
    def execute(cls, settings, frames, width, height, length, **options) -> io.NodeOutput:
        o = {**control_options.defaults(), **options}  # the table's defaults for any option not given
        low, high, res = o["canny_low"], o["canny_high"], o["canny_resolution"]
        download_missing = o["download_missing"]
        notes = []
        ctype = settings.control_type
        if settings.use_control_video:
            control = control_from_video(settings.resolved["control_video_url"], width, height, length)
            what = "given control video"
        elif ctype in control_options.CONTROL_TYPES:
            use_depth, _use_canny, use_pose = control_options.layers(ctype, o["composite_mode"])
            pre.check_files(use_depth, use_pose, o["depth_model"], o["bbox_detector"], o["pose_estimator"],
                            download_missing)  # every missing file is reported before any model work
            depth_model = pose_backend = None
            if use_depth:
                depth_model, note = pre.load_depth_model(o["depth_model"], download_missing)
                notes.append(note)
            if use_pose:
                pose_backend, note = pre.load_pose_backend(o["bbox_detector"], o["pose_estimator"], download_missing)
                notes.append(note)
            with pre.on_device(depth_model, pose_backend) as dev:
                control = control_video.control_frames(  # the one pipeline (the CLI's too), float in and out
                    frames[:length], ctype, width, height, canny_low=low, canny_high=high, canny_resolution=res,
                    depth_model=depth_model, depth_input_size=o["depth_input_size"], pose_backend=pose_backend,
                    body=o["detect_body"], hands=o["detect_hand"], face=o["detect_face"],
                    composite_mode=o["composite_mode"], depth_weight=o["depth_weight"],
                    edge_weight=o["edge_weight"], pose_weight=o["pose_weight"], device=dev, canny_device="cpu",
                    out_dtype=torch.float32, progress=StageProgress(), should_stop=Progress.should_stop)
            if ctype == "composite":
                what = f"composite {o['composite_mode']} (experimental)"
            else:
                what = {"canny": f"canny {low}/{high} @ {res}", "depth": f"depth ({o['depth_model']})",
                        "pose": "pose (DWPose)"}[ctype]
        else:
            raise ValueError(f"control_type: {ctype!r} is not available in this version")
        control = control_video.pad_to(control, length)
        text = "\n".join([f"{what}: {control.shape[0]} frames {width}x{height}"] + [n for n in notes if n])
        if not o["preview"]:
            return io.NodeOutput(control, ui=ui.PreviewText(text))
        saved = save_preview(control, float(settings.frames_per_second))
        return io.NodeOutput(control, ui={**ui.PreviewVideo([saved]).as_dict(), **ui.PreviewText(text).as_dict()})
