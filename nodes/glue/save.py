"""Save node: frames + audio -> MP4 (H.264 CRF by video_quality + AAC)."""
from __future__ import annotations

import os

import folder_paths
from comfy_api.latest import io, ui

from ..pure import media
from .common import CATEGORY, Progress, SettingsSocket


class SaveMP4(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_SaveMP4",
            display_name="LTX-2.3 Ref V2V Save MP4",
            category=CATEGORY,
            description="Encodes the video as MP4 (H.264 yuv420p, CRF from video_quality: low 28, medium 23, "
                        "high 18, maximum 12) with the generated audio as AAC, unless generate_audio is off. "
                        "Written to a temporary name, then renamed into the output folder.",
            search_aliases=["save video", "mp4", "export"],
            is_output_node=True,
            inputs=[
                io.Image.Input("images", tooltip="The decoded video frames."),
                SettingsSocket.Input("settings", tooltip="From the Settings node (fps, video_quality, generate_audio)."),
                io.Audio.Input("audio", optional=True, lazy=True,
                               tooltip="The decoded generated audio; not evaluated when generate_audio is off."),
                io.String.Input("filename_prefix", default="LTX23_RV2V",
                                tooltip="Prefix of the file in ComfyUI's output folder (subfolders allowed)."),
                io.Int.Input("crf_override", default=-1, min=-1, max=51, advanced=True,
                             tooltip="-1 uses video_quality; 0-51 sets the H.264 CRF directly."),
            ],
            outputs=[io.String.Output("path", tooltip="Absolute path of the written MP4.")],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
        )

    @classmethod
    def check_lazy_status(cls, images, settings, audio=None, filename_prefix="", crf_override=-1):
        if settings.generate_audio and audio is None:
            return ["audio"]
        return []

    @classmethod
    def execute(cls, images, settings, audio=None, filename_prefix="LTX23_RV2V", crf_override=-1) -> io.NodeOutput:
        out_dir = folder_paths.get_output_directory()
        height, width = int(images.shape[1]), int(images.shape[2])
        full_dir, filename, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, out_dir, width, height)
        os.makedirs(full_dir, exist_ok=True)
        name = f"{filename}_{counter:05}_.mp4"
        dest = os.path.join(full_dir, name)
        crf = crf_override if crf_override >= 0 else media.VIDEO_QUALITY_CRF[settings.video_quality]
        media.encode_mp4(
            dest, images, fps=settings.frames_per_second,
            audio=audio if settings.generate_audio else None, crf=crf,
            progress=Progress(images.shape[0]), should_stop=Progress.should_stop,
        )
        saved = ui.SavedResult(name, subfolder, io.FolderType.output)
        return io.NodeOutput(dest, ui=ui.PreviewVideo([saved]))
