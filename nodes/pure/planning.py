"""Output size and frame planning (pure; standard library only).

Sizes follow ``preset_parameters.md`` and ``ltx_iclora_spec.md`` §5.4:

* ``auto`` reproduces the official Union Control chain on the reference video's
  size: shorter side -> 544 (ComfyUI "scale shorter dimension"), then the canny
  annotator's shorter side -> 512 (controlnet_aux rounding), then "scale to
  multiple" of 32 x the IC-LoRA downscale factor (each side floored). It is
  computed from the input size whether or not the control is precomputed, so
  the output size never depends on ``skip_control_preprocess``.
* Presets: the hosted preset's named sizes, scaled down so the shorter side is
  at most 704, then snapped to the multiple (shorter side floored so it never
  exceeds the cap, longer side to the nearest multiple).
"""
from __future__ import annotations

from dataclasses import dataclass

VAE_SCALE = (8, 32, 32)  # (time, height, width) of the LTX-2.3 video VAE
SHORT_SIDE_CAP = 704
AUTO_FIRST_SHORT = 544
AUTO_CONTROL_SHORT = 512

PRESET_SIZES = {  # (width, height) before the cap
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}


class PlanningError(ValueError):
    pass


def size_multiple(downscale_factor: int = 2) -> int:
    """Pixel multiple of the output size: 32 x the IC-LoRA downscale factor."""
    f = int(downscale_factor)
    if f < 1:
        raise PlanningError(f"IC-LoRA downscale factor must be >= 1, got {downscale_factor}")
    return VAE_SCALE[1] * f


def scale_shorter(width: int, height: int, short: int) -> tuple[int, int]:
    """ComfyUI's "scale shorter dimension": the longer side is round(long * short / shorter)."""
    if width <= 0 or height <= 0:
        raise PlanningError(f"invalid frame size {width}x{height}")
    if height < width:
        return round(width / height * short), short
    if width < height:
        return short, round(height / width * short)
    return short, short


def annotator_resize(width: int, height: int, resolution: int) -> tuple[int, int]:
    """controlnet_aux's detect size: k = resolution / shorter side, sides round(side * k)."""
    k = resolution / min(width, height)
    return round(width * k), round(height * k)


def auto_size(width: int, height: int, downscale_factor: int = 2) -> tuple[int, int]:
    """Output size for ``resolution="auto"`` from the reference video size."""
    m = size_multiple(downscale_factor)
    w, h = scale_shorter(width, height, AUTO_FIRST_SHORT)
    w, h = annotator_resize(w, h, AUTO_CONTROL_SHORT)
    return max(m, w // m * m), max(m, h // m * m)


def preset_size(name: str, downscale_factor: int = 2) -> tuple[int, int]:
    """Output size for a named preset (shorter side <= 704, sides multiples of 32 x factor)."""
    if name not in PRESET_SIZES:
        raise PlanningError(f"unknown resolution {name!r}; allowed: auto, " + ", ".join(PRESET_SIZES))
    m = size_multiple(downscale_factor)
    w, h = PRESET_SIZES[name]
    short = min(w, h)
    if short > SHORT_SIDE_CAP:
        k = SHORT_SIDE_CAP / short
        w, h = w * k, h * k
    if w <= h:
        w2 = max(m, int(min(w, SHORT_SIDE_CAP) // m) * m)
        h2 = max(m, round(h / m) * m)
    else:
        h2 = max(m, int(min(h, SHORT_SIDE_CAP) // m) * m)
        w2 = max(m, round(w / m) * m)
    return int(w2), int(h2)


def output_size(resolution: str, src_width: int, src_height: int, downscale_factor: int = 2) -> tuple[int, int]:
    """(width, height) of the generated video for any ``resolution`` value."""
    if resolution == "auto":
        return auto_size(src_width, src_height, downscale_factor)
    return preset_size(resolution, downscale_factor)


@dataclass(frozen=True)
class LatentGeometry:
    width: int
    height: int
    frames: int

    @property
    def latent_frames(self) -> int:
        return (self.frames - 1) // VAE_SCALE[0] + 1

    @property
    def latent_height(self) -> int:
        return self.height // VAE_SCALE[1]

    @property
    def latent_width(self) -> int:
        return self.width // VAE_SCALE[2]

    def audio_latent_frames(self, fps: float) -> int:
        """ComfyUI's audio latent length: ceil(frames / fps * 25)."""
        import math

        return math.ceil(self.frames / fps * 25)


def guide_pixel_size(width: int, height: int, downscale_factor: int) -> tuple[int, int]:
    """Pixel size the control video is encoded at: latent size x 32 / factor."""
    lw, lh = width // VAE_SCALE[2], height // VAE_SCALE[1]
    f = int(downscale_factor)
    if lw % f or lh % f:
        raise PlanningError(
            f"latent size {lw}x{lh} (output {width}x{height}) is not divisible by the IC-LoRA "
            f"reference downscale factor {f}; output sides must be multiples of {32 * f}"
        )
    return lw * VAE_SCALE[2] // f, lh * VAE_SCALE[1] // f


def working_size(src_w: int, src_h: int, out_w: int, out_h: int,
                 short_side: int = AUTO_FIRST_SHORT) -> tuple[int, int]:
    """The size the reference is decoded at: its shorter side at ``short_side`` (the official
    graph's first resize), but never smaller than needed to cover ``out_w x out_h``; the
    control is computed from it and cover-cropped to the output."""
    scale = max(short_side / min(src_w, src_h), out_w / src_w, out_h / src_h)
    return max(out_w, round(src_w * scale)), max(out_h, round(src_h * scale))
