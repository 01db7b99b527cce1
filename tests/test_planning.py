"""Output size and frame planning."""
import itertools

import pytest

from rv2v.nodes.pure import planning as PL
from rv2v.nodes.pure.params import RESOLUTIONS


@pytest.mark.parametrize("src,out", [
    ((1920, 1080), (896, 512)), ((1280, 720), (896, 512)), ((3840, 2160), (896, 512)),
    ((1080, 1920), (512, 896)), ((640, 480), (640, 512)), ((512, 512), (512, 512)),
    ((1000, 1000), (512, 512)), ((1920, 804), (1216, 512)), ((160, 128), (640, 512)),
])
def test_auto_follows_the_official_chain(src, out):
    assert PL.auto_size(*src, downscale_factor=2) == out


def test_auto_chain_steps_by_hand():
    # 1920x1080 -> shorter side 544: 967x544 -> annotator 512: round(967*512/544)=910 -> floor to 64
    assert PL.scale_shorter(1920, 1080, 544) == (967, 544)
    assert PL.annotator_resize(967, 544, 512) == (910, 512)
    assert PL.auto_size(1920, 1080, downscale_factor=1) == (896, 512)  # 910 // 32 * 32 = 896


@pytest.mark.parametrize("name,out", [
    ("square_hd", (704, 704)), ("square", (512, 512)), ("portrait_4_3", (704, 960)),
    ("portrait_16_9", (576, 1024)), ("landscape_4_3", (960, 704)), ("landscape_16_9", (1024, 576)),
])
def test_presets_cap_short_side_at_704_and_snap_to_64(name, out):
    assert PL.preset_size(name, 2) == out


ASPECTS = [(w, h) for w, h in itertools.product([96, 160, 333, 640, 720, 1280, 1920, 2560, 4096],
                                                 [96, 128, 481, 480, 720, 1080, 1440, 2160])]


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize("factor", [1, 2, 4])
def test_every_resolution_for_many_aspect_ratios(resolution, factor):
    m = 32 * factor
    for w, h in ASPECTS:
        ow, oh = PL.output_size(resolution, w, h, factor)
        assert ow % m == 0 and oh % m == 0 and ow >= m and oh >= m
        assert min(ow, oh) <= 704
        if resolution == "auto":
            # aspect preserved up to the flooring to the multiple
            assert abs(ow / oh - w / h) / (w / h) < 0.5 or min(w, h) * 8 < max(w, h)
            assert min(ow, oh) == 512 // m * m
        # the guide size is integral
        gw, gh = PL.guide_pixel_size(ow, oh, factor)
        assert gw * factor == ow and gh * factor == oh


def test_unknown_resolution_and_bad_factor():
    with pytest.raises(PL.PlanningError, match="unknown resolution '8k'"):
        PL.output_size("8k", 100, 100)
    with pytest.raises(PL.PlanningError, match=">= 1"):
        PL.size_multiple(0)
    with pytest.raises(PL.PlanningError, match="not divisible"):
        PL.guide_pixel_size(96, 64, 2)


def test_latent_geometry_of_the_worked_example():
    g = PL.LatentGeometry(896, 512, 121)
    assert (g.latent_frames, g.latent_height, g.latent_width) == (16, 16, 28)
    assert g.audio_latent_frames(24) == 127
    assert PL.guide_pixel_size(896, 512, 2) == (448, 256)


def test_working_size_covers_the_output_at_the_official_first_resize():
    from rv2v.nodes.pure import planning as PL

    assert PL.working_size(1920, 1080, 896, 512) == (967, 544)  # shorter side -> 544
    assert PL.working_size(192, 128, 768, 512) == (816, 544)
    assert PL.working_size(640, 512, 1024, 576) == (1024, 819)  # a preset wider than 544 covers the output
    w, h = PL.working_size(1280, 704, 704, 704, short_side=512)
    assert (w, h) == (1280, 704) and w >= 704 and h >= 704
