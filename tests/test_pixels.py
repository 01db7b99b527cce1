"""Tests for nodes/pure/pixels.py (float <-> uint8/uint16 pixel conversions)."""
import numpy as np
import pytest
import torch

from rv2v.nodes.pure import pixels
from rv2v.nodes.pure.pixels import float_to_uint8_round, float_to_uint8_trunc, uint8_to_float, uint16_to_float


def _samples(dtype=torch.float32):
    """Every level k/255, its neighbours one ulp up and down, out-of-range values, random values."""
    levels = torch.arange(256, dtype=dtype) / 255.0
    rand = torch.rand(20_000, generator=torch.Generator().manual_seed(0), dtype=torch.float32) * 1.4 - 0.2
    return torch.cat([levels, torch.nextafter(levels, torch.tensor(2.0, dtype=dtype)),
                      torch.nextafter(levels, torch.tensor(-2.0, dtype=dtype)), rand.to(dtype),
                      torch.tensor([-1.0, -0.0, 1.0, 2.0, float("inf"), -float("inf")], dtype=dtype)])


def test_trunc_is_the_numpy_uint8_cast_of_x_times_255():
    x = _samples()
    ref = np.clip(x.numpy() * np.float32(255.0), 0, 255).astype(np.uint8)  # ComfyUI preprocessors' cast
    assert np.array_equal(float_to_uint8_trunc(x).numpy(), ref)
    assert float_to_uint8_trunc(torch.tensor([0.999999, 254.9 / 255, 1 / 255])).tolist() == [254, 254, 1]


def test_trunc_computes_in_the_input_float_dtype():
    x = _samples(torch.float16)
    ref = np.clip(x.numpy() * np.float16(255.0), 0, 255).astype(np.uint8)  # half-precision product
    assert np.array_equal(float_to_uint8_trunc(x).numpy(), ref)


def test_trunc_equals_clamping_first_then_floor():
    """``floor(clamp(x, 0, 1) * 255)`` (the depth path's former formula) is the same rule in float32."""
    x = _samples()
    assert torch.equal(float_to_uint8_trunc(x), torch.floor(x.clamp(0.0, 1.0) * 255.0).to(torch.uint8))


def test_trunc_passes_uint8_through_and_clamps_other_integers():
    u8 = torch.tensor([0, 7, 255], dtype=torch.uint8)
    assert float_to_uint8_trunc(u8) is u8
    assert float_to_uint8_trunc(torch.tensor([-3, 7, 300])).tolist() == [0, 7, 255]
    x = torch.tensor([0.5, 1.5])
    float_to_uint8_trunc(x)
    assert x.tolist() == [0.5, 1.5]  # the input is not modified


def test_round_is_half_to_even_after_clamping():
    x = _samples()
    ref = np.round(np.clip(x.numpy(), 0, 1) * np.float32(255.0)).astype(np.uint8)  # numpy rounds half to even
    assert np.array_equal(float_to_uint8_round(x).numpy(), ref)
    halves = torch.from_numpy(((np.arange(255) + 0.5) / 255).astype(np.float32))
    assert torch.equal(halves * 255.0, torch.arange(255) + 0.5)  # exact halves in float32
    assert float_to_uint8_round(halves).tolist() == [k if k % 2 == 0 else k + 1 for k in range(255)]
    assert float_to_uint8_round(torch.tensor([0.2 / 255, 0.7 / 255, 1.0, 1e9, -5.0])).tolist() == [0, 1, 255, 255, 0]


def test_round_in_place_uses_the_input_as_scratch():
    x = torch.tensor([0.25, 1.5, -0.5])
    kept = x.clone()
    out = float_to_uint8_round(x)
    assert torch.equal(x, kept)
    out_in_place = float_to_uint8_round(x, in_place=True)
    assert torch.equal(out, out_in_place) and out.tolist() == [64, 255, 0]
    assert x.tolist() == [64.0, 255.0, 0.0]  # clamped, scaled and rounded in place


def test_uint8_to_float_divides_exactly_and_copies():
    u8 = torch.arange(256, dtype=torch.uint8)
    f = uint8_to_float(u8)
    assert f.dtype == torch.float32
    assert np.array_equal(f.numpy(), np.arange(256, dtype=np.float32) / np.float32(255.0))
    assert torch.equal(uint8_to_float(u8.numpy()), f)  # numpy arrays too
    assert torch.equal(float_to_uint8_trunc(f), u8) and torch.equal(float_to_uint8_round(f), u8)  # round trips
    already = torch.tensor([255.0])
    assert uint8_to_float(already).item() == 1.0 and already.item() == 255.0  # a copy, even for float input


def test_uint16_to_float():
    levels = np.array([0, 1, 32768, 65535], dtype=np.uint16)
    ref = levels.astype(np.float32) / np.float32(65535.0)
    assert np.array_equal(uint16_to_float(levels).numpy(), ref)
    assert np.array_equal(uint16_to_float(torch.from_numpy(levels.astype(np.int32))).numpy(), ref)


def test_public_names():
    assert set(pixels.__all__) == {"float_to_uint8_trunc", "float_to_uint8_round", "uint8_to_float",
                                   "uint16_to_float"}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nan_in_trunc_gives_zero(dtype):
    assert float_to_uint8_trunc(torch.tensor([float("nan")], dtype=dtype)).tolist() == [0]
