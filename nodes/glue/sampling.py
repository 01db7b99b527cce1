"""Sampling-side nodes: IC-LoRA file, loader and guide, reference image, start latents (video-to-video), schedule."""
from __future__ import annotations

import comfy.model_management
import comfy.sd
import comfy.utils
import folder_paths
import node_helpers
import torch
from comfy_api.latest import io
from comfy_extras.nodes_lt import LTXVImgToVideoInplace
from comfy_extras.nodes_lt_audio import LTXVAudioVAEEncode, LTXVEmptyLatentAudio

from ..pure.log import log
from ..pure import guide, imageops, media, schedule
from .common import CATEGORY, SettingsSocket


def _first_value(conditioning, key):
    for _, extra in conditioning:
        if key in extra and extra[key] is not None:
            return extra[key]
    return None


def _noise_mask(latent) -> torch.Tensor:
    mask = latent.get("noise_mask")
    samples = latent["samples"]
    if mask is None:
        return torch.ones((samples.shape[0], 1, samples.shape[2], 1, 1), dtype=torch.float32, device=samples.device)
    return mask.clone()


ICLoRA = io.Custom("RV2V_ICLORA")


def _read_safetensors_metadata(path: str) -> dict:
    """The ``__metadata__`` of a safetensors file (header only; no tensor is read)."""
    from safetensors import safe_open

    with safe_open(path, framework="pt", device="cpu") as fh:
        return dict(fh.metadata() or {})


class ICLoRAFile(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_ICLoRAFile",
            display_name="LTX-2.3 IC-LoRA File (reads downscale factor)",
            category=CATEGORY,
            description="Picks the IC-LoRA file and reads its reference_downscale_factor from the safetensors "
                        "header only (2 for the Union Control ref0.5 LoRA). No weights are loaded here, so "
                        "the control video can be previewed without loading the model.",
            search_aliases=["ic-lora", "union control lora", "downscale factor"],
            inputs=[
                io.Combo.Input("lora_name", options=folder_paths.get_filename_list("loras"),
                               tooltip="The IC-LoRA file in models/loras, e.g. "
                                       "ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors."),
            ],
            outputs=[
                ICLoRA.Output("ic_lora", tooltip="The chosen IC-LoRA file, for the IC-LoRA loader."),
                io.Int.Output("downscale_factor", tooltip="reference_downscale_factor from the LoRA metadata."),
            ],
        )

    @classmethod
    def execute(cls, lora_name) -> io.NodeOutput:
        path = folder_paths.get_full_path_or_raise("loras", lora_name)
        try:
            metadata = _read_safetensors_metadata(path)
        except Exception as exc:  # noqa: BLE001 - not a readable safetensors file
            raise ValueError(f"lora_name: {lora_name} is not a readable .safetensors file ({exc})") from None
        factor = guide.downscale_factor_from_metadata(metadata, lora_name, warn=log.warning)
        return io.NodeOutput({"name": lora_name, "path": path, "downscale_factor": factor}, factor)


class ICLoRALoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_ICLoRALoader",
            display_name="LTX-2.3 IC-LoRA Loader",
            category=CATEGORY,
            description="Applies the IC-LoRA chosen in the IC-LoRA File node to the model.",
            search_aliases=["ic-lora", "union control lora", "lora loader"],
            inputs=[
                io.Model.Input("model", tooltip="The model to patch (after the distilled LoRA)."),
                ICLoRA.Input("ic_lora", tooltip="From the IC-LoRA File node."),
                io.Float.Input("strength_model", default=1.0, min=-10.0, max=10.0, step=0.01,
                               tooltip="LoRA strength (official workflow: 1.0)."),
            ],
            outputs=[
                io.Model.Output("model", tooltip="The patched model."),
                io.Int.Output("downscale_factor", tooltip="reference_downscale_factor from the LoRA metadata."),
            ],
        )

    @classmethod
    def execute(cls, model, ic_lora, strength_model) -> io.NodeOutput:
        if strength_model != 0:
            lora = comfy.utils.load_torch_file(ic_lora["path"], safe_load=True)
            model, _ = comfy.sd.load_lora_for_models(model, None, lora, strength_model, 0)
        return io.NodeOutput(model, int(ic_lora["downscale_factor"]))


class ICLoRAGuide(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_ICLoRAGuide",
            display_name="LTX-2.3 IC-LoRA Guide (reference semantics)",
            category=CATEGORY,
            description="Appends the control video as IC-LoRA guide latents at frame 0: encoded at 1/factor of "
                        "the output size, dilated onto the full grid, noise mask 1 - video_strength on real "
                        "tokens (holes dropped), small-grid RoPE positions, attention strength 1.0.",
            search_aliases=["ic-lora guide", "add guide", "union control guide"],
            inputs=[
                io.Conditioning.Input("positive", tooltip="Positive conditioning (after LTXVConditioning)."),
                io.Conditioning.Input("negative", tooltip="Negative conditioning (after LTXVConditioning)."),
                io.Vae.Input("vae", tooltip="The video VAE."),
                io.Latent.Input("latent", tooltip="The video latent (before joining audio)."),
                io.Image.Input("control", tooltip="The control video at the output size."),
                io.Int.Input("downscale_factor", default=2, min=1, max=8,
                             tooltip="From the IC-LoRA loader (reference_downscale_factor)."),
                io.Float.Input("video_strength", default=0.6, min=0.0, max=1.0, step=0.01,
                               tooltip="Guide strength; acts only through the noise mask. Overridden by "
                                       "settings when connected."),
                SettingsSocket.Input("settings", optional=True,
                               tooltip="When connected, its video_strength is used."),
            ],
            outputs=[
                io.Conditioning.Output(display_name="positive"),
                io.Conditioning.Output(display_name="negative"),
                io.Latent.Output(display_name="latent"),
            ],
        )

    @classmethod
    def execute(cls, positive, negative, vae, latent, control, downscale_factor=2, video_strength=0.6,
                settings=None) -> io.NodeOutput:
        strength = float(settings.video_strength) if settings is not None else float(video_strength)
        factor = int(downscale_factor)
        samples = latent["samples"]
        if samples.ndim != 5:
            raise ValueError("latent: expected a video latent [B,C,F,H,W]; add the guide before joining audio")
        _, _, n_lat, lh, lw = samples.shape
        guide.check_divisible(lh, lw, factor)
        t_scale, h_scale, w_scale = vae.downscale_index_formula
        keep = guide.keep_frames(control.shape[0], t_scale)
        pixels = control[:keep, :, :, :3]
        gw, gh = lw * w_scale // factor, lh * h_scale // factor
        if pixels.shape[1] != gh or pixels.shape[2] != gw:
            pixels = comfy.utils.common_upscale(pixels.movedim(-1, 1), gw, gh, "bilinear", "disabled").movedim(1, -1)
        encoded = vae.encode(pixels)
        if encoded.shape[2] > n_lat:
            raise ValueError(f"control: {keep} frames give {encoded.shape[2]} latent frames but the video latent "
                             f"has {n_lat}")
        dilated, dmask = guide.dilate(encoded, factor)
        noise_mask = _noise_mask(latent)
        gmask = guide.guide_noise_mask(dmask, dilated.shape[2], strength, like=noise_mask)
        new_samples, new_mask = guide.append_guide(samples, noise_mask, dilated.to(samples.device),
                                                   gmask.to(noise_mask.device))
        pos = guide.guide_positions(dilated.shape[2], lh, lw, factor=factor, frame_idx=0, causal_fix=True,
                                    batch=dilated.shape[0], scale=(t_scale, h_scale, w_scale))
        entry = guide.attention_entry(dilated.shape[2], lh, lw, factor)
        out = []
        for cond in (positive, negative):
            existing = _first_value(cond, "keyframe_idxs")
            idxs = pos if existing is None else torch.cat([existing, pos.to(existing.device)], 2)
            entries = list(_first_value(cond, "guide_attention_entries") or []) + [dict(entry)]
            out.append(node_helpers.conditioning_set_values(
                cond, {"keyframe_idxs": idxs, "guide_attention_entries": entries}))
        return io.NodeOutput(out[0], out[1], {"samples": new_samples, "noise_mask": new_mask})


class ReferenceImage(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_ReferenceImage",
            display_name="LTX-2.3 Ref V2V Reference Image",
            category=CATEGORY,
            description="First-frame conditioning of the generated video with input_image (the official "
                        "graph's image path). Passes the latent through unchanged when there is no image.",
            inputs=[
                io.Vae.Input("vae", tooltip="The video VAE."),
                io.Latent.Input("latent", tooltip="The video latent (apply before the IC-LoRA guide)."),
                SettingsSocket.Input("settings", optional=True, tooltip="Its input_image is used when connected."),
                io.Image.Input("image", optional=True, tooltip="An image to use instead of settings' input_image."),
                io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.01, advanced=True,
                               tooltip="1.0 freezes the first frame to the image."),
            ],
            outputs=[io.Latent.Output(display_name="latent")],
        )

    @classmethod
    def execute(cls, vae, latent, settings=None, image=None, strength=1.0) -> io.NodeOutput:
        if image is None and settings is not None and settings.resolved.get("input_image"):
            image = media.load_image(settings.resolved["input_image"], label="input_image")
        if image is None:
            return io.NodeOutput(latent)
        _, h_scale, w_scale = vae.downscale_index_formula
        _, _, _, lh, lw = latent["samples"].shape
        pixels = imageops.cover_crop(image[:1, :, :, :3], lw * w_scale, lh * h_scale)
        result = LTXVImgToVideoInplace.execute(vae=vae, image=pixels, latent=latent, strength=strength, bypass=False)
        return io.NodeOutput(result[0])


def _fit_audio(audio: dict, seconds: float) -> dict:
    """Trim or zero-pad a waveform [B,C,S] to exactly `seconds`."""
    wave, sr = audio["waveform"], int(audio["sample_rate"])
    want = max(1, round(seconds * sr))
    if wave.shape[-1] >= want:
        wave = wave[..., :want]
    else:
        wave = torch.nn.functional.pad(wave, (0, want - wave.shape[-1]))
    return {"waveform": wave, "sample_rate": sr}


class VideoInit(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_VideoInit",
            display_name="LTX-2.3 Ref V2V Start Latents",
            category=CATEGORY,
            description="The sampler's starting latents. Normally empty video and audio latents; with "
                        "preserve_original_video the reference video VAE-encoded at the output size and "
                        "length (and its audio encoded when it has audio).",
            inputs=[
                SettingsSocket.Input("settings", tooltip="From the Settings node (preserve_original_video)."),
                io.Vae.Input("vae", tooltip="The video VAE."),
                io.Vae.Input("audio_vae", tooltip="The audio VAE."),
                io.Image.Input("frames", tooltip="Reference frames from Reference planning."),
                io.Int.Input("width", default=896, min=32, max=8192, tooltip="Output width."),
                io.Int.Input("height", default=512, min=32, max=8192, tooltip="Output height."),
                io.Int.Input("length", default=121, min=1, max=4096, tooltip="Output frame count."),
                io.Float.Input("fps", default=24.0, min=1.0, max=240.0, tooltip="Output frame rate."),
                io.Audio.Input("source_audio", optional=True, tooltip="The reference video's audio, if any."),
            ],
            outputs=[
                io.Latent.Output("video_latent", tooltip="Video latent [1,128,F_l,H/32,W/32]."),
                io.Latent.Output("audio_latent", tooltip="Audio latent [1,8,ceil(F/fps*25),16]."),
            ],
        )

    @classmethod
    def execute(cls, settings, vae, audio_vae, frames, width, height, length, fps,
                source_audio=None) -> io.NodeOutput:
        frame_rate = max(1, int(round(fps)))
        audio_latent = LTXVEmptyLatentAudio.execute(frames_number=length, frame_rate=frame_rate, batch_size=1,
                                                    audio_vae=audio_vae)[0]
        device = comfy.model_management.intermediate_device()
        if not settings.preserve_original_video:
            video = torch.zeros([1, 128, (length - 1) // 8 + 1, height // 32, width // 32], device=device)
            return io.NodeOutput({"samples": video}, audio_latent)

        pixels = imageops.cover_crop(frames[:length, :, :, :3], width, height)
        pixels = imageops.pad_with_last_frame(pixels, length)
        video = vae.encode(pixels)
        if source_audio is not None:
            fitted = _fit_audio(source_audio, length / fps)
            encoded = LTXVAudioVAEEncode.execute(audio=fitted, audio_vae=audio_vae)[0]["samples"]
            target = audio_latent["samples"].shape[2]
            encoded = encoded[:, :, :target]
            if encoded.shape[2] < target:
                encoded = torch.nn.functional.pad(encoded, (0, 0, 0, target - encoded.shape[2]))
            audio_latent = {"samples": encoded.to(audio_latent["samples"].dtype), "type": "audio"}
        return io.NodeOutput({"samples": video}, audio_latent)


class Schedule(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_Schedule",
            display_name="LTX-2.3 Ref V2V Schedule",
            category=CATEGORY,
            description="The official distilled 8-step sigmas (dev + distilled LoRA 0.5, CFG 1, "
                        "euler_ancestral_cfg_pp). With preserve_original_video it starts at sigma = strength.",
            inputs=[
                SettingsSocket.Input("settings", tooltip="From the Settings node (strength, preserve_original_video)."),
                io.Combo.Input("mode", options=list(schedule.MODES), default="anchored", advanced=True,
                               tooltip="anchored: [strength] + the distilled sigmas below it (reference "
                                       "behaviour). step_cut: core SplitSigmasDenoise (keeps the last steps)."),
                io.Boolean.Input("strength_without_preserve", default=False, advanced=True,
                                 tooltip="Also truncate when preserve_original_video is off (starts from an "
                                         "under-noised empty latent; literal emulation only)."),
            ],
            outputs=[io.Sigmas.Output("sigmas", tooltip="For SamplerCustomAdvanced.")],
        )

    @classmethod
    def execute(cls, settings, mode="anchored", strength_without_preserve=False) -> io.NodeOutput:
        sig = schedule.preset_sigmas(settings.strength, settings.preserve_original_video, mode,
                                     strength_without_preserve)
        return io.NodeOutput(torch.tensor(sig, dtype=torch.float32))
