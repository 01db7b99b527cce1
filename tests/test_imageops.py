"""Tests for nodes/pure/imageops.py (frame resizing)."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rv2v.nodes.pure import imageops
from rv2v.nodes.pure.imageops import center_crop_box, cover_crop, resize_frames, scale_short_side

METHODS = ["nearest", "nearest-exact", "bilinear", "bicubic", "area", "lanczos"]


def _noise(f=3, h=48, w=64, seed=0):
    return torch.rand(f, h, w, 3, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- scale_short_side


@pytest.mark.parametrize(
    "hw, short, expected",
    [
        ((1080, 1920), 544, (544, 967)),  # spec 5.4: 1920x1080 -> 967x544
        ((720, 1280), 544, (544, 967)),
        ((2160, 3840), 544, (544, 967)),
        ((1920, 1080), 544, (967, 544)),  # portrait
        ((480, 640), 544, (544, 725)),  # 640x480 -> 725x544
        ((544, 967), 512, (512, 910)),  # canny step of the auto chain
        ((512, 512), 544, (544, 544)),
        ((804, 1920), 544, (544, 1299)),
    ],
)
def test_scale_short_side_examples(hw, short, expected):
    assert scale_short_side(*hw, short) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 2000))
def test_scale_short_side_matches_comfyui_formula(h, w, short):
    h2, w2 = scale_short_side(h, w, short)
    assert min(h2, w2) == short
    if h < w:
        assert w2 == round((w / h) * short)
    elif w < h:
        assert h2 == round((h / w) * short)
    else:
        assert (h2, w2) == (short, short)


def test_scale_short_side_rejects_nonpositive():
    with pytest.raises(ValueError):
        scale_short_side(0, 10, 5)
    with pytest.raises(ValueError):
        scale_short_side(10, 10, 0)


# ----------------------------------------------------------------------------- crop box


def test_center_crop_box_matches_common_upscale():
    # 16:9 -> square: remove round((1920 - 1080) / 2) = 420 columns on each side
    assert center_crop_box(1080, 1920, 512, 512) == (0, 420, 1080, 1080)
    # portrait -> landscape: crop rows
    y, x, h, w = center_crop_box(1920, 1080, 1024, 576)
    assert x == 0 and w == 1080 and y == round((1920 - 1920 * ((1080 / 1920) / (1024 / 576))) / 2)
    assert h == 1920 - 2 * y
    # same aspect: nothing cropped
    assert center_crop_box(720, 1280, 512, 288) == (0, 0, 720, 1280)


# ----------------------------------------------------------------------------- resize_frames


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("size", [(32, 24), (96, 80), (64, 20)])
def test_resize_shapes_and_range(method, size):
    frames = _noise()
    out = resize_frames(frames, size[0], size[1], method)
    assert out.shape == (3, size[1], size[0], 3)
    assert out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("size", [(20, 15), (150, 110)])
def test_resize_keeps_constant_image(method, size):
    frames = torch.full((2, 48, 64, 3), 0.37)
    out = resize_frames(frames, *size, method)
    assert torch.allclose(out, torch.full_like(out, 0.37), atol=1e-5)


def test_resize_same_size_returns_input_without_copy():
    frames = _noise()
    assert resize_frames(frames, 64, 48) is frames


def test_resize_uint8_input_is_scaled_to_unit_range():
    frames = torch.full((2, 8, 8, 3), 255, dtype=torch.uint8)
    out = resize_frames(frames, 4, 4, "area")
    assert out.dtype == torch.float32
    assert torch.allclose(out, torch.ones_like(out))


def test_resize_keeps_half_precision_dtype():
    out = resize_frames(_noise().half(), 32, 24, "bilinear")
    assert out.dtype == torch.float16


@pytest.mark.parametrize("method", METHODS)
def test_resize_chunking_does_not_change_result(method):
    frames = _noise(f=7)
    whole = resize_frames(frames, 40, 30, method, chunk_size=100)
    calls = []
    chunked = resize_frames(frames, 40, 30, method, chunk_size=3, progress=lambda d, t: calls.append((d, t)))
    assert torch.allclose(whole, chunked, atol=1e-6)
    assert calls == [(3, 7), (6, 7), (7, 7)]


@pytest.mark.parametrize("method", ["bilinear", "bicubic", "lanczos", "area"])
def test_shrinking_is_antialiased(method):
    """Noise shrunk 8x must average out (an aliased resize keeps its variance)."""
    frames = _noise(f=1, h=128, w=128)
    small = resize_frames(frames, 16, 16, method)
    aliased = resize_frames(frames, 16, 16, "bilinear", antialias=False)
    assert float(small.std()) < 0.5 * float(aliased.std())
    assert abs(float(small.mean()) - float(frames.mean())) < 0.02


def test_lanczos_follows_a_smooth_signal():
    """Downscaling a low-frequency cosine must land on the sampled cosine."""
    w_in, w_out = 256, 64
    x_in = (torch.arange(w_in) + 0.5) / w_in
    row = 0.5 + 0.4 * torch.cos(2 * math.pi * 2 * x_in)
    frames = row.view(1, 1, w_in, 1).expand(1, 4, w_in, 3).contiguous()
    out = resize_frames(frames, w_out, 4, "lanczos")
    x_out = (torch.arange(w_out) + 0.5) / w_out
    expected = 0.5 + 0.4 * torch.cos(2 * math.pi * 2 * x_out)
    # ignore the border, where the truncated kernel is renormalised
    assert torch.allclose(out[0, 2, 4:-4, 0], expected[4:-4], atol=0.01)


def test_lanczos_upscale_interpolates_original_samples():
    """Upscaling 2x then shrinking 2x gives back a smooth image."""
    y = torch.linspace(0, 1, 24).view(24, 1)
    x = torch.linspace(0, 1, 32).view(1, 32)
    img = (0.5 + 0.3 * torch.sin(3 * x) * torch.cos(2 * y)).unsqueeze(-1).expand(24, 32, 3)
    frames = img.unsqueeze(0).contiguous()
    back = resize_frames(resize_frames(frames, 64, 48, "lanczos"), 32, 24, "lanczos")
    assert torch.allclose(back[:, 3:-3, 3:-3], frames[:, 3:-3, 3:-3], atol=0.01)


def test_method_aliases_and_errors():
    frames = _noise(f=1)
    a = resize_frames(frames, 20, 10, "lanczos-like antialias")
    b = resize_frames(frames, 20, 10, "lanczos")
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="unknown resize method"):
        resize_frames(frames, 20, 10, "sinc")
    with pytest.raises(ValueError, match="positive"):
        resize_frames(frames, 0, 10)
    with pytest.raises(ValueError, match=r"\[F, H, W, C\]"):
        resize_frames(frames[0], 20, 10)


def test_auto_chunk_size_is_bounded():
    assert imageops.auto_chunk_size((2160, 3840), (512, 896)) >= 1
    assert imageops.auto_chunk_size((48, 64), (24, 32)) > 100


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 40), w=st.integers(1, 40), oh=st.integers(1, 40), ow=st.integers(1, 40),
    method=st.sampled_from(METHODS),
)
def test_resize_property_shapes(h, w, oh, ow, method):
    frames = torch.rand(2, h, w, 3, generator=torch.Generator().manual_seed(h * 41 + w))
    out = resize_frames(frames, ow, oh, method)
    assert out.shape == (2, oh, ow, 3)
    assert torch.isfinite(out).all()
    assert float(out.min()) >= -1e-6 and float(out.max()) <= 1 + 1e-6


# ----------------------------------------------------------------------------- cover_crop


def test_cover_crop_equals_resize_of_centre_region():
    frames = _noise(f=2, h=36, w=64)
    out = cover_crop(frames, 32, 32, "bilinear")
    y, x, h, w = center_crop_box(36, 64, 32, 32)
    assert (y, x, h, w) == (0, 14, 36, 36)
    ref = resize_frames(frames[:, y:y + h, x:x + w].contiguous(), 32, 32, "bilinear")
    assert out.shape == (2, 32, 32, 3)
    assert torch.allclose(out, ref, atol=1e-6)


def test_cover_crop_keeps_the_centre_and_drops_the_sides():
    frames = torch.zeros(1, 40, 80, 3)
    frames[:, :, :20] = 1.0  # left quarter white: outside a square centre crop
    frames[:, 15:25, 35:45] = 0.5  # centre mark
    out = cover_crop(frames, 20, 20, "area")
    assert float(out[0, :, :2].max()) == 0.0
    assert abs(float(out[0, 10, 10, 0]) - 0.5) < 1e-6


@pytest.mark.parametrize("method", ["lanczos", "bicubic", "area"])
def test_cover_crop_to_wider_and_taller_targets(method):
    frames = _noise(f=1, h=48, w=64)
    assert cover_crop(frames, 64, 16, method).shape == (1, 16, 64, 3)
    assert cover_crop(frames, 16, 64, method).shape == (1, 64, 16, 3)
    assert cover_crop(frames, 64, 48, method) is frames


def test_lanczos_sparse_and_dense_paths_agree():
    """CPU uses a sparse filter matrix, other devices a dense one: same result."""
    frames = _noise(f=2)
    sparse = imageops._lanczos_matrix(48, 20, "cpu")
    assert sparse.layout == torch.sparse_csr
    dense = sparse.to_dense()
    for axis in (1, 2):
        m_sparse = sparse if axis == 1 else imageops._lanczos_matrix(64, 20, "cpu")
        a = imageops._filter_axis(frames, m_sparse, axis)
        b = imageops._filter_axis(frames, m_sparse.to_dense(), axis)
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(dense.sum(dim=1), torch.ones(20), atol=1e-6)  # rows are normalised


# ----------------------------------------------------------------------------- pad_with_last_frame


def test_pad_with_last_frame_repeats_the_last_frame():
    frames = _noise(f=3, h=4, w=5)
    out = imageops.pad_with_last_frame(frames, 6)
    assert out.shape == (6, 4, 5, 3)
    assert torch.equal(out[:3], frames)
    assert all(torch.equal(out[i], frames[2]) for i in range(3, 6))
    gray = torch.arange(6.0).view(2, 3)  # any trailing shape
    assert imageops.pad_with_last_frame(gray, 3).tolist() == [[0, 1, 2], [3, 4, 5], [3, 4, 5]]


def test_pad_with_last_frame_leaves_long_enough_clips_alone():
    frames = _noise(f=4, h=4, w=5)
    assert imageops.pad_with_last_frame(frames, 4) is frames
    assert imageops.pad_with_last_frame(frames, 2) is frames  # not trimmed
