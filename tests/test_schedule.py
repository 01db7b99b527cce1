"""Sigma schedules."""
import pytest

from rv2v.nodes.pure import schedule as S

D = list(S.DISTILLED_SIGMAS)


@pytest.mark.parametrize("s,expected", [
    (1.0, D), (0.9, [0.9, 0.725, 0.421875, 0.0]), (0.6, [0.6, 0.421875, 0.0]), (0.5, [0.5, 0.421875, 0.0]),
    (0.3, [0.3, 0.0]), (0.05, [0.05, 0.0]), (0.98, [0.98, 0.975, 0.909375, 0.725, 0.421875, 0.0]),
    (0.725, [0.725, 0.421875, 0.0]),
])
def test_anchored_schedule_starts_at_strength(s, expected):
    assert S.anchored(s) == expected
    assert S.preset_sigmas(s, preserve_original_video=True) == expected


@pytest.mark.parametrize("s,keep", [(1.0, 8), (0.5, 4), (0.6, 5), (0.1, 1), (0.01, 1)])
def test_step_cut_matches_core_split_sigmas_denoise(s, keep):
    out = S.step_cut(s)
    assert out == D[8 - keep:] and len(out) == keep + 1


def test_strength_ignored_without_preserve_unless_asked():
    assert S.preset_sigmas(0.5, preserve_original_video=False) == D
    assert S.preset_sigmas(0.5, False, apply_strength_without_preserve=True) == [0.5, 0.421875, 0.0]
    assert S.preset_sigmas(0.6, True, mode="step_cut")[0] == 0.98125  # why anchored is the default


def test_bad_strength_and_mode():
    with pytest.raises(ValueError, match="greater than 0"):
        S.anchored(0)
    with pytest.raises(ValueError, match="mode"):
        S.preset_sigmas(0.5, True, mode="linear")
    assert D[0] == 1.0 and D[-1] == 0.0 and all(a > b for a, b in zip(D, D[1:]))
