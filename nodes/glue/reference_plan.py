"""The Reference planning node: decodes the reference at the working size, resampled to the fps."""
from __future__ import annotations

from comfy_api.latest import io, ui

from ..pure import media, planning
from .common import CATEGORY, Progress, SettingsSocket


class ReferencePlan(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_ReferencePlan",
            display_name="LTX-2.3 Ref V2V Reference Planning",
            category=CATEGORY,
            description="Decodes the reference video, resamples it to frames_per_second, trims or pads it to "
                        "num_frames and computes the output size for the chosen resolution.",
            inputs=[
                SettingsSocket.Input("settings", tooltip="From the Settings node."),
                io.Int.Input("downscale_factor", default=2, min=1, max=8,
                             tooltip="The IC-LoRA reference downscale factor (from the IC-LoRA loader); output "
                                     "sides are multiples of 32 x this."),
                io.Int.Input("working_short_side", default=planning.AUTO_FIRST_SHORT, min=64, max=4096,
                             advanced=True,
                             tooltip="Frames are decoded at this shorter side (or larger when the output needs "
                                     "it); 544 is the official workflow's first resize."),
            ],
            outputs=[
                io.Image.Output("frames", tooltip="Reference frames at the working size, aspect preserved."),
                io.Int.Output("width", tooltip="Output width."),
                io.Int.Output("height", tooltip="Output height."),
                io.Int.Output("length", tooltip="Output frame count (8k+1)."),
                io.Float.Output("fps", tooltip="Output frame rate."),
                io.Int.Output("fps_int", tooltip="Output frame rate rounded, for integer inputs."),
                io.Audio.Output("source_audio",
                                tooltip="The reference video's audio over the output duration (None if absent)."),
                io.String.Output("report", tooltip="What was planned."),
            ],
        )

    @classmethod
    def execute(cls, settings, downscale_factor=2, working_short_side=planning.AUTO_FIRST_SHORT) -> io.NodeOutput:
        path = settings.resolved["input_video"]
        info = settings.media_info.get("input_video") or media.probe_video(path, label="input_video")
        width, height = planning.output_size(settings.resolution, info.width, info.height, downscale_factor)
        wk, hk = planning.working_size(info.width, info.height, width, height, working_short_side)
        fps = float(settings.frames_per_second)
        n = int(settings.num_frames)
        progress = Progress(n)
        frames, rep = media.decode_video(
            path, fps_out=fps, num_frames=n, mode="time", size=(wk, hk),
            progress=progress, should_stop=Progress.should_stop, label="input_video",
        )
        audio = None
        if info.has_audio:
            audio = media.decode_audio(path, start=0.0, duration=n / fps)
        lines = [
            f"reference: {info.width}x{info.height} @ {info.fps:.3f} fps, ~{info.frame_count} frames"
            + (", with audio" if info.has_audio else ", no audio"),
            f"output: {width}x{height}, {n} frames @ {fps:g} fps ({settings.resolution})",
        ]
        if settings.requested_num_frames != n:
            lines.append(f"num_frames {settings.requested_num_frames} rounded to {n} (8k+1)")
        if rep.padded:
            lines.append(f"reference ran out: last frame held for {rep.padded} frames")
        report = "\n".join(lines)
        return io.NodeOutput(frames, width, height, n, fps, int(round(fps)), audio, report,
                             ui=ui.PreviewText(report))
