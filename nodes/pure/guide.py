"""IC-LoRA guide math with the reference (Lightricks) semantics. Pure torch.

See ``ltx_iclora_spec.md`` §2. A guide is appended to the video latent on the
time axis together with a noise mask and RoPE positions (``keyframe_idxs``):

* dilation (small grid, factor f): the guide latent, encoded at 1/f of the
  output size, is written at every f-th row and column of a full-size zero
  latent; its mask is 1 there and -1 on the holes (holes are dropped by the
  model before attention);
* noise mask: ``mask - video_strength`` so real guide tokens get
  ``1 - video_strength`` and holes stay negative. ``video_strength`` acts ONLY
  through this mask: the attention entry carries strength 1.0 (core's
  ``LTXVAddGuide`` would also turn it into an attention penalty; we do not);
* positions: pixel boxes ``latent_index * (8, 32, 32)`` with the causal fix on
  time (``max(0, t + 1 - 8)``) and, for h and w, the end coordinate extended
  by ``(f - 1) * 32`` so each small-grid token covers the full-resolution patch
  it summarises.
"""
from __future__ import annotations

import torch

VAE_SCALE = (8, 32, 32)


class GuideError(ValueError):
    pass


def check_divisible(latent_height: int, latent_width: int, factor: int) -> None:
    if factor < 1:
        raise GuideError(f"reference downscale factor must be >= 1, got {factor}")
    if latent_height % factor or latent_width % factor:
        raise GuideError(
            f"latent size {latent_width}x{latent_height} (pixels {latent_width * 32}x{latent_height * 32}) "
            f"is not divisible by the IC-LoRA reference downscale factor {factor}: output width and height "
            f"must be multiples of {32 * factor}"
        )


def dilate(guide: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Spread a small-grid guide latent [B,C,F,h,w] over a [B,C,F,h*f,w*f] grid.

    Returns (dilated latent, mask [B,1,F,h*f,w*f] with 1 on real tokens and -1 on
    holes). For factor 1 returns (guide, None).
    """
    f = int(factor)
    if f <= 1:
        return guide, None
    b, c, t, h, w = guide.shape
    out = guide.new_zeros((b, c, t, h * f, w * f))
    out[..., ::f, ::f] = guide
    mask = torch.full((b, 1, t, h * f, w * f), -1.0, dtype=guide.dtype, device=guide.device)
    mask[..., ::f, ::f] = 1.0
    return out, mask


def guide_positions(
    frames: int,
    height: int,
    width: int,
    factor: int = 1,
    frame_idx: int = 0,
    causal_fix: bool = True,
    batch: int = 1,
    scale: tuple[int, int, int] = VAE_SCALE,
) -> torch.Tensor:
    """Pixel-space RoPE boxes of a (dilated) guide latent of size [frames, height, width].

    Returns int64 [batch, 3, frames*height*width, 2] (axis t/h/w, token in
    (f, h, w) order, [start, end]), the dtype ComfyUI's own positions use.
    """
    st, sh, sw = scale
    t = torch.arange(frames, dtype=torch.long)
    hh = torch.arange(height, dtype=torch.long)
    ww = torch.arange(width, dtype=torch.long)
    gt, gh, gw = torch.meshgrid(t, hh, ww, indexing="ij")
    starts = torch.stack([gt.reshape(-1) * st, gh.reshape(-1) * sh, gw.reshape(-1) * sw])
    ends = torch.stack([(gt.reshape(-1) + 1) * st, (gh.reshape(-1) + 1) * sh, (gw.reshape(-1) + 1) * sw])
    if causal_fix:
        starts[0] = (starts[0] + 1 - st).clamp(min=0)
        ends[0] = (ends[0] + 1 - st).clamp(min=0)
    starts[0] += frame_idx
    ends[0] += frame_idx
    ends[1] += (factor - 1) * sh
    ends[2] += (factor - 1) * sw
    pos = torch.stack([starts, ends], dim=-1)  # [3, N, 2]
    return pos.unsqueeze(0).expand(batch, -1, -1, -1).clone()


def expand_mask(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Broadcast a [B,1,F,1,1] mask to [B,1,F,height,width] (no-op if already full)."""
    if mask.shape[3] == height and mask.shape[4] == width:
        return mask
    return mask.expand(-1, -1, -1, height, width).clone()


def guide_noise_mask(dilated_mask: torch.Tensor | None, frames: int, video_strength: float,
                     like: torch.Tensor) -> torch.Tensor:
    """Noise mask of the appended guide frames.

    With a dilation mask: ``dilated_mask - s`` (real tokens 1-s, holes -1-s).
    Without (factor 1): the constant 1-s of shape [B,1,frames,1,1].
    """
    s = float(video_strength)
    if dilated_mask is not None:
        return dilated_mask - s
    b = like.shape[0]
    return torch.full((b, 1, frames, 1, 1), 1.0 - s, dtype=like.dtype, device=like.device)


def append_guide(latent: torch.Tensor, noise_mask: torch.Tensor, guide: torch.Tensor,
                 guide_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate guide frames after the target frames, latent and mask alike."""
    if latent.shape[1] != guide.shape[1]:
        raise GuideError(
            f"guide has {guide.shape[1]} channels but the video latent has {latent.shape[1]}: add the guide "
            "before joining audio and video latents"
        )
    if latent.shape[3:] != guide.shape[3:]:
        raise GuideError(f"guide latent grid {tuple(guide.shape[3:])} != video latent grid {tuple(latent.shape[3:])}")
    h, w = latent.shape[3], latent.shape[4]
    if guide_mask.shape[3] != 1 or noise_mask.shape[3] != 1:
        noise_mask = expand_mask(noise_mask, h, w)
        guide_mask = expand_mask(guide_mask, h, w)
    guide_mask = guide_mask.to(noise_mask.dtype)
    return torch.cat([latent, guide.to(latent.dtype)], dim=2), torch.cat([noise_mask, guide_mask], dim=2)


def attention_entry(frames: int, height: int, width: int, factor: int) -> dict:
    """The guide_attention_entries record: pre-filter count is the dilated slot count,
    latent_shape the small grid, strength 1.0 (no attention attenuation)."""
    f = max(1, int(factor))
    return {
        "pre_filter_count": frames * height * width,
        "strength": 1.0,
        "pixel_mask": None,
        "latent_shape": [frames, height // f, width // f],
    }


def keep_frames(n: int, time_scale: int = VAE_SCALE[0]) -> int:
    """Largest 8k+1 prefix of n frames."""
    return ((n - 1) // time_scale) * time_scale + 1


def downscale_factor_from_metadata(metadata: dict | None, name: str, warn=None) -> int:
    """``reference_downscale_factor`` from IC-LoRA safetensors metadata (1 when absent).

    A ``reference_temporal_scale_factor`` other than 1 is refused: no guide node handles it.
    """
    metadata = metadata or {}
    temporal = metadata.get("reference_temporal_scale_factor")
    if temporal not in (None, "", "1", "1.0", 1, 1.0):
        raise GuideError(f"{name}: reference_temporal_scale_factor={temporal} is not supported (only 1)")
    raw = metadata.get("reference_downscale_factor")
    if raw in (None, ""):
        if warn is not None:
            warn(f"{name} has no reference_downscale_factor metadata; assuming 1")
        return 1
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise GuideError(f"{name}: reference_downscale_factor {raw!r} is not a number") from None
    if value < 1 or not value.is_integer():
        raise GuideError(f"{name}: reference_downscale_factor {raw!r} must be a whole number >= 1")
    return int(value)
