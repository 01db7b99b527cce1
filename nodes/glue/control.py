"""Control node: turns the reference into the Union Control video."""
from __future__ import annotations

import torch
from comfy_api.latest import io, ui

from ..pure import canny, imageops, media
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


class Control(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_Control",
            display_name="LTX-2.3 Ref V2V Control",
            category=CATEGORY,
            description="Makes the Union Control video: canny edges of the reference (official wiring, "
                        "controlnet_aux-exact) or, with skip_control_preprocess, the given control video "
                        "resampled to the output size and frame count.",
            search_aliases=["canny", "control video", "union control", "preprocess"],
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
            ],
            outputs=[io.Image.Output("control", tooltip="The control video at the output size.")],
        )

    @classmethod
    def execute(cls, settings, frames, width, height, length, canny_low=92, canny_high=200,
                canny_resolution=512) -> io.NodeOutput:
        if settings.use_control_video:
            control = control_from_video(settings.resolved["control_video_url"], width, height, length)
            what = "given control video"
        elif settings.control_type == "canny":
            control = control_canny(frames[:length], width, height, canny_low, canny_high, canny_resolution)
            what = f"canny {canny_low}/{canny_high} @ {canny_resolution}"
        else:
            raise ValueError(f"control_type: {settings.control_type!r} is not available in this version")
        if control.shape[0] < length:
            pad = control[-1:].expand(length - control.shape[0], -1, -1, -1)
            control = torch.cat([control, pad], dim=0)
        return io.NodeOutput(control[:length], ui=ui.PreviewText(
            f"{what}: {control.shape[0]} frames {width}x{height}"))
