"""Core-only API graphs (ComfyUI core nodes + the test probe), shared by tests and benchmarks."""
from __future__ import annotations

from . import harness

# The official 8-step distilled sigma list of the LTX-2.3 preset.
SIGMAS = "1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0"


def core_only_prompt(clip_name: str, seed: int = 42, probe_prefix: str | None = "smoke", short_side: int = 128,
                     multiple: int = 32) -> dict:
    """The core-only API prompt (node ids are strings; links are [node_id, output_index])."""
    ckpt = harness.CHECKPOINT.split("/", 1)[1]
    return {
        # model: checkpoint -> distilled LoRA -> IC-LoRA -> guider
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "LoraLoaderModelOnly", "inputs": {
            "model": ["1", 0], "lora_name": harness.DISTILLED_LORA.split("/", 1)[1], "strength_model": 0.5}},
        "3": {"class_type": "LoraLoaderModelOnly", "inputs": {
            "model": ["2", 0], "lora_name": harness.IC_LORA.split("/", 1)[1], "strength_model": 1.0}},
        "4": {"class_type": "GetICLoRAParameters", "inputs": {"iclora_model": ["3", 0]}},
        "5": {"class_type": "CFGGuider", "inputs": {
            "model": ["3", 0], "positive": ["19", 0], "negative": ["19", 1], "cfg": 1.0}},
        # text
        "6": {"class_type": "LTXAVTextEncoderLoader", "inputs": {
            "text_encoder": harness.TEXT_ENCODER.split("/", 1)[1], "ckpt_name": ckpt, "device": "default"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {
            "clip": ["6", 0], "text": "A yellow square and a blue disc glide across a soft gradient."}},
        "8": {"class_type": "CLIPTextEncode", "inputs": {
            "clip": ["6", 0], "text": "blurry, low quality, still frame, watermark"}},
        "9": {"class_type": "LTXVConditioning", "inputs": {
            "positive": ["7", 0], "negative": ["8", 0], "frame_rate": ["11", 2]}},
        # source video -> control video (canny) -> latent size
        "10": {"class_type": "LoadVideo", "inputs": {"file": clip_name}},
        "11": {"class_type": "GetVideoComponents", "inputs": {"video": ["10", 0]}},
        "12": {"class_type": "ResizeImageMaskNode", "inputs": {
            "input": ["11", 0], "resize_type": "scale shorter dimension",
            "resize_type.shorter_size": short_side, "scale_method": "area"}},
        "13": {"class_type": "ResizeImageMaskNode", "inputs": {
            "input": ["12", 0], "resize_type": "scale to multiple",
            "resize_type.multiple": multiple, "scale_method": "area"}},
        "14": {"class_type": "Canny", "inputs": {"image": ["13", 0], "low_threshold": 0.4, "high_threshold": 0.8}},
        "15": {"class_type": "GetImageSize", "inputs": {"image": ["14", 0]}},
        "16": {"class_type": "EmptyLTXVLatentVideo", "inputs": {
            "width": ["15", 0], "height": ["15", 1], "length": ["15", 2], "batch_size": 1}},
        # first frame -> i2v; control video -> small-grid IC-LoRA guide
        "17": {"class_type": "ImageFromBatch", "inputs": {"image": ["13", 0], "batch_index": 0, "length": 1}},
        "18": {"class_type": "LTXVImgToVideoInplace", "inputs": {
            "vae": ["1", 2], "image": ["17", 0], "latent": ["16", 0], "strength": 1.0, "bypass": False}},
        "19": {"class_type": "LTXVAddGuide", "inputs": {
            "positive": ["9", 0], "negative": ["9", 1], "vae": ["1", 2], "latent": ["18", 0],
            "image": ["14", 0], "frame_idx": 0, "strength": 1.0, "iclora_parameters": ["4", 0]}},
        # audio latent
        "20": {"class_type": "LTXVAudioVAELoader", "inputs": {"ckpt_name": ckpt}},
        "21": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a", "values.a": ["11", 2]}},
        "22": {"class_type": "LTXVEmptyLatentAudio", "inputs": {
            "frames_number": ["15", 2], "frame_rate": ["21", 1], "batch_size": 1, "audio_vae": ["20", 0]}},
        "23": {"class_type": "LTXVConcatAVLatent", "inputs": {"video_latent": ["19", 2], "audio_latent": ["22", 0]}},
        # sampling
        "24": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler_ancestral_cfg_pp"}},
        "25": {"class_type": "ManualSigmas", "inputs": {"sigmas": SIGMAS}},
        "26": {"class_type": "RandomNoise", "inputs": {"noise_seed": seed}},
        "27": {"class_type": "SamplerCustomAdvanced", "inputs": {
            "noise": ["26", 0], "guider": ["5", 0], "sampler": ["24", 0], "sigmas": ["25", 0],
            "latent_image": ["23", 0]}},
        "28": {"class_type": "LTXVSeparateAVLatent", "inputs": {"av_latent": ["27", 0]}},
        "29": {"class_type": "LTXVCropGuides", "inputs": {
            "positive": ["19", 0], "negative": ["19", 1], "latent": ["28", 0]}},
        # decode + save
        "30": {"class_type": "VAEDecode", "inputs": {"samples": ["29", 2], "vae": ["1", 2]}},
        "31": {"class_type": "LTXVAudioVAEDecode", "inputs": {"samples": ["28", 1], "audio_vae": ["20", 0]}},
        "32": {"class_type": "CreateVideo", "inputs": {"images": ["30", 0], "fps": ["11", 2], "audio": ["31", 0]}},
        "33": {"class_type": "SaveVideo", "inputs": {
            "video": ["32", 0], "filename_prefix": "video/rv2v_smoke", "format": "mp4", "codec": "h264"}},
        **({} if probe_prefix is None else {
        # probes: the guided AV latent (noise masks) + guide conditioning, and the cropped result
        "34": {"class_type": "RV2VTest_SaveTensors", "inputs": {
            "name": f"{probe_prefix}_guided", "latent": ["23", 0], "conditioning": ["19", 0]}},
        "35": {"class_type": "RV2VTest_SaveTensors", "inputs": {
            "name": f"{probe_prefix}_cropped", "latent": ["29", 2], "image": ["30", 0]}},
        }),
    }
