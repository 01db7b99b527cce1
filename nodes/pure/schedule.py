"""Sigma schedules (pure; standard library only).

The preset samples the dev checkpoint + distilled LoRA (0.5) with the official
8-step distilled sigma list, CFG 1 and ``euler_ancestral_cfg_pp``
(``ltx_iclora_spec.md`` §4.2, §6).

For ``preserve_original_video`` the flow-matching start is
``x0 = s * noise + (1 - s) * encoded_video``, so the schedule is anchored at
sigma0 = strength and follows the distilled tail below it (Lightricks' own
partial-denoise passes do the same), instead of core's step cutting
(``SplitSigmasDenoise``), which keeps sigma0 near 1 for mid strengths.
"""
from __future__ import annotations

DISTILLED_SIGMAS: tuple[float, ...] = (
    1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0,
)

MODES = ("anchored", "step_cut")


def anchored(strength: float, sigmas: tuple[float, ...] = DISTILLED_SIGMAS) -> list[float]:
    """[s] + [sigma in sigmas if sigma < s]; the full list for s >= its first value."""
    s = float(strength)
    if not 0.0 < s:
        raise ValueError(f"strength must be greater than 0, got {strength}")
    if s >= sigmas[0]:
        return list(sigmas)
    tail = [x for x in sigmas if x < s]
    out = [s] + tail
    if out[-1] != 0.0:
        out.append(0.0)
    return out


def step_cut(strength: float, sigmas: tuple[float, ...] = DISTILLED_SIGMAS) -> list[float]:
    """Core ``SplitSigmasDenoise`` semantics: keep the last round(steps * s) steps."""
    s = float(strength)
    if not 0.0 < s:
        raise ValueError(f"strength must be greater than 0, got {strength}")
    steps = len(sigmas) - 1
    keep = max(1, min(steps, round(steps * s)))
    return list(sigmas[steps - keep:])


def preset_sigmas(strength: float, preserve_original_video: bool, mode: str = "anchored",
                  apply_strength_without_preserve: bool = False) -> list[float]:
    """The preset's sigma list.

    ``strength`` truncates the schedule only with ``preserve_original_video``: from
    an empty (zero) latent a truncated schedule starts under-noised and gives grey,
    blurry video. ``apply_strength_without_preserve`` emulates the literal
    behaviour for users who want it.
    """
    if mode not in MODES:
        raise ValueError(f"schedule mode must be one of {MODES}, got {mode!r}")
    if not preserve_original_video and not apply_strength_without_preserve:
        return list(DISTILLED_SIGMAS)
    fn = anchored if mode == "anchored" else step_cut
    return fn(strength)
