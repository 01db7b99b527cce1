"""Guide math against hand-computed tensors."""
import pytest
import torch

from rv2v.nodes.pure import guide as G


def test_dilate_factor_2_by_hand():
    small = torch.arange(1, 1 + 1 * 2 * 1 * 2 * 3, dtype=torch.float32).reshape(1, 2, 1, 2, 3)
    big, mask = G.dilate(small, 2)
    assert big.shape == (1, 2, 1, 4, 6) and mask.shape == (1, 1, 1, 4, 6)
    expected_c0 = torch.tensor([[1, 0, 2, 0, 3, 0], [0, 0, 0, 0, 0, 0], [4, 0, 5, 0, 6, 0], [0, 0, 0, 0, 0, 0]],
                               dtype=torch.float32)
    assert torch.equal(big[0, 0, 0], expected_c0)
    assert torch.equal(big[0, 1, 0], torch.where(expected_c0 > 0, expected_c0 + 6, expected_c0))
    expected_mask = torch.tensor([[1, -1, 1, -1, 1, -1], [-1] * 6, [1, -1, 1, -1, 1, -1], [-1] * 6],
                                 dtype=torch.float32)
    assert torch.equal(mask[0, 0, 0], expected_mask)
    same, none = G.dilate(small, 1)
    assert same is small and none is None


def test_noise_mask_is_one_minus_strength_on_real_tokens_and_negative_on_holes():
    _, mask = G.dilate(torch.zeros(1, 4, 2, 2, 2), 2)
    for s in (0.0, 0.6, 1.0):
        m = G.guide_noise_mask(mask, 2, s, like=torch.ones(1))
        real = m[..., ::2, ::2]
        assert torch.allclose(real, torch.full_like(real, 1 - s))
        holes = m.clone()
        holes[..., ::2, ::2] = float("nan")
        vals = holes[~torch.isnan(holes)]
        assert torch.allclose(vals, torch.full_like(vals, -1 - s)) and (vals < 0).all()
    m1 = G.guide_noise_mask(None, 3, 0.25, like=torch.ones(2, 1, 1, 1, 1))
    assert m1.shape == (2, 1, 3, 1, 1) and torch.allclose(m1, torch.full_like(m1, 0.75))


def test_positions_by_hand_factor_2_causal():
    pos = G.guide_positions(frames=2, height=2, width=2, factor=2)
    assert pos.shape == (1, 3, 8, 2) and pos.dtype == torch.long
    # token order (f, h, w); t: frame 0 -> [0, 1), frame 1 -> [1, 9) (causal fix: max(0, 8t+1-8))
    t = pos[0, 0]
    assert t[:4].tolist() == [[0, 1]] * 4 and t[4:].tolist() == [[1, 9]] * 4
    # h: latent row r -> [32 r, 32 (r + 1) + 32]   (end extended by (f-1)*32)
    assert pos[0, 1, :4].tolist() == [[0, 64], [0, 64], [32, 96], [32, 96]]
    assert pos[0, 2, :4].tolist() == [[0, 64], [32, 96], [0, 64], [32, 96]]


def test_positions_of_dilated_real_tokens_cover_their_full_resolution_patch():
    f = 2
    pos = G.guide_positions(frames=1, height=4, width=4, factor=f)
    boxes = pos[0, 1:, :, :].reshape(2, 4, 4, 2)
    for i in range(2):
        for j in range(2):
            h_box, w_box = boxes[0, f * i, f * j].tolist(), boxes[1, f * i, f * j].tolist()
            assert h_box == [32 * f * i, 32 * f * i + 32 * f] and w_box == [32 * f * j, 32 * f * j + 32 * f]


def test_positions_without_causal_fix_and_offset():
    pos = G.guide_positions(frames=2, height=1, width=1, factor=1, frame_idx=16, causal_fix=False, batch=2)
    assert pos.shape == (2, 3, 2, 2)
    assert pos[0, 0].tolist() == [[16, 24], [24, 32]]


def test_append_guide_expands_masks_and_concatenates():
    latent = torch.randn(1, 128, 3, 4, 6)
    mask = torch.ones(1, 1, 3, 1, 1)
    mask[:, :, 0] = 0.0  # a frozen first frame (reference image)
    small = torch.randn(1, 128, 3, 2, 3)
    big, dmask = G.dilate(small, 2)
    gmask = G.guide_noise_mask(dmask, 3, 0.6, like=mask)
    out, out_mask = G.append_guide(latent, mask, big, gmask)
    assert out.shape == (1, 128, 6, 4, 6) and out_mask.shape == (1, 1, 6, 4, 6)
    assert torch.equal(out[:, :, :3], latent) and torch.equal(out[:, :, 3:], big)
    assert (out_mask[:, :, 0] == 0).all() and (out_mask[:, :, 1:3] == 1).all()
    assert torch.allclose(out_mask[:, :, 3:, ::2, ::2], torch.tensor(0.4))
    with pytest.raises(G.GuideError, match="channels"):
        G.append_guide(torch.zeros(1, 144, 3, 4, 6), mask, big, gmask)
    with pytest.raises(G.GuideError, match="grid"):
        G.append_guide(latent, mask, small, gmask)


def test_divisibility_and_entry():
    G.check_divisible(16, 28, 2)
    with pytest.raises(G.GuideError, match=r"latent size 27x16 .* multiples of 64"):
        G.check_divisible(16, 27, 2)
    e = G.attention_entry(16, 16, 28, 2)
    assert e == {"pre_filter_count": 16 * 16 * 28, "strength": 1.0, "pixel_mask": None, "latent_shape": [16, 8, 14]}
    assert [G.keep_frames(n) for n in (1, 8, 9, 16, 17, 121, 124)] == [1, 1, 9, 9, 17, 121, 121]


def test_downscale_factor_from_lora_metadata():
    warnings = []
    assert G.downscale_factor_from_metadata({"reference_downscale_factor": "2"}, "u.safetensors") == 2
    assert G.downscale_factor_from_metadata({"reference_downscale_factor": "1.0",
                                             "reference_temporal_scale_factor": "1"}, "u") == 1
    assert G.downscale_factor_from_metadata(None, "plain.safetensors", warn=warnings.append) == 1
    assert warnings and "plain.safetensors" in warnings[0]
    for meta, frag in (({"reference_downscale_factor": "abc"}, "not a number"),
                       ({"reference_downscale_factor": "1.5"}, "whole number"),
                       ({"reference_downscale_factor": "0"}, "whole number"),
                       ({"reference_temporal_scale_factor": "2"}, "temporal")):
        with pytest.raises(G.GuideError, match=frag):
            G.downscale_factor_from_metadata(meta, "x.safetensors")
