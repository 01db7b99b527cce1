"""Video Depth Anything (nodes/pure/depth): key layout, loading, windowing, tiny end-to-end.

No real weights and no upstream code: the expected key layout is written here
from the architecture description (the Video Depth Anything code and model cards),
independently of the module tree, and vitb/vitl are checked on the meta device.
"""
import math

import pytest
import torch

from rv2v.nodes.pure.depth import (
    VDA_CONFIGS,
    VDAConfig,
    build_random,
    depth_to_gray,
    detect_config,
    infer_windows,
    load_state_dict_file,
    load_vda,
    network_size,
    scale_shift_lstsq,
    video_depth,
    window_starts,
)
from rv2v.nodes.pure.depth.dinov2 import ViTConfig
from rv2v.nodes.pure.depth.vda import VideoDepthAnything
from rv2v.nodes.pure.depth.windowing import KEYFRAMES, crossfade_weights, padded_length

TINY = VDAConfig("tiny", ViTConfig(48, 2, 3, img_size=56), (0, 1, 1, 1), 32, (16, 32, 32, 64))

# --------------------------------------------------------------------------- frozen layout


def expected_layout(dim, depth, features, oc, max_len=32):
    """Key -> shape for an upstream VDA checkpoint, from the architecture description."""
    k = {
        "pretrained.cls_token": (1, 1, dim),
        "pretrained.pos_embed": (1, 37 * 37 + 1, dim),
        "pretrained.mask_token": (1, dim),
        "pretrained.patch_embed.proj.weight": (dim, 3, 14, 14),
        "pretrained.patch_embed.proj.bias": (dim,),
        "pretrained.norm.weight": (dim,),
        "pretrained.norm.bias": (dim,),
    }
    for b in range(depth):
        p = f"pretrained.blocks.{b}."
        k.update({
            p + "norm1.weight": (dim,), p + "norm1.bias": (dim,),
            p + "attn.qkv.weight": (3 * dim, dim), p + "attn.qkv.bias": (3 * dim,),
            p + "attn.proj.weight": (dim, dim), p + "attn.proj.bias": (dim,),
            p + "ls1.gamma": (dim,),
            p + "norm2.weight": (dim,), p + "norm2.bias": (dim,),
            p + "mlp.fc1.weight": (4 * dim, dim), p + "mlp.fc1.bias": (4 * dim,),
            p + "mlp.fc2.weight": (dim, 4 * dim), p + "mlp.fc2.bias": (dim,),
            p + "ls2.gamma": (dim,),
        })
    for i, c in enumerate(oc):
        k[f"head.projects.{i}.weight"] = (c, dim, 1, 1)
        k[f"head.projects.{i}.bias"] = (c,)
        k[f"head.scratch.layer{i + 1}_rn.weight"] = (features, c, 3, 3)
    k["head.resize_layers.0.weight"] = (oc[0], oc[0], 4, 4)
    k["head.resize_layers.0.bias"] = (oc[0],)
    k["head.resize_layers.1.weight"] = (oc[1], oc[1], 2, 2)
    k["head.resize_layers.1.bias"] = (oc[1],)
    k["head.resize_layers.3.weight"] = (oc[3], oc[3], 3, 3)
    k["head.resize_layers.3.bias"] = (oc[3],)
    for r in range(1, 5):
        p = f"head.scratch.refinenet{r}."
        k[p + "out_conv.weight"] = (features, features, 1, 1)
        k[p + "out_conv.bias"] = (features,)
        for u in (1, 2):
            for c in (1, 2):
                k[p + f"resConfUnit{u}.conv{c}.weight"] = (features, features, 3, 3)
                k[p + f"resConfUnit{u}.conv{c}.bias"] = (features,)
    k["head.scratch.output_conv1.weight"] = (features // 2, features, 3, 3)
    k["head.scratch.output_conv1.bias"] = (features // 2,)
    k["head.scratch.output_conv2.0.weight"] = (32, features // 2, 3, 3)
    k["head.scratch.output_conv2.0.bias"] = (32,)
    k["head.scratch.output_conv2.2.weight"] = (1, 32, 1, 1)
    k["head.scratch.output_conv2.2.bias"] = (1,)
    for m, c in enumerate([oc[2], oc[3], features, features]):
        p = f"head.motion_modules.{m}.temporal_transformer."
        k[p + "norm.weight"] = (c,)
        k[p + "norm.bias"] = (c,)
        for lin in ("proj_in", "proj_out"):
            k[p + lin + ".weight"] = (c, c)
            k[p + lin + ".bias"] = (c,)
        b = p + "transformer_blocks.0."
        for a in (0, 1):
            q = b + f"attention_blocks.{a}."
            for n in ("to_q", "to_k", "to_v"):
                k[q + n + ".weight"] = (c, c)
            k[q + "to_out.0.weight"] = (c, c)
            k[q + "to_out.0.bias"] = (c,)
            k[q + "pos_encoder.pe"] = (1, max_len, c)
            k[b + f"norms.{a}.weight"] = (c,)
            k[b + f"norms.{a}.bias"] = (c,)
        k[b + "ff.net.0.proj.weight"] = (8 * c, c)
        k[b + "ff.net.0.proj.bias"] = (8 * c,)
        k[b + "ff.net.2.weight"] = (c, 4 * c)
        k[b + "ff.net.2.bias"] = (c,)
        k[b + "ff_norm.weight"] = (c,)
        k[b + "ff_norm.bias"] = (c,)
    return k


SPEC = {  # variant: (dim, depth, features, out_channels, n_keys, params in millions)
    "vits": (384, 12, 64, (48, 96, 192, 384), 351, 29.0),
    "vitb": (768, 12, 128, (96, 192, 384, 768), 351, 114.4),
    "vitl": (1024, 24, 256, (256, 512, 1024, 1024), 519, 384.4),
}


def meta_model(cfg):
    with torch.device("meta"):
        return VideoDepthAnything(cfg)


@pytest.mark.parametrize("variant", ["vits", "vitb", "vitl"])
def test_key_layout_matches_frozen_spec(variant):
    dim, depth, feat, oc, n_keys, mparams = SPEC[variant]
    expected = expected_layout(dim, depth, feat, oc)
    model = meta_model(VDA_CONFIGS[variant])
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert len(expected) == n_keys
    assert got == expected
    params = sum(p.numel() for p in model.parameters())
    assert round(params / 1e6, 1) == mparams
    assert params == EXACT_PARAMS[variant]  # counted on upstream @ 4f5ae23 (same layout, checked dev-side)


EXACT_PARAMS = {"vits": 29_035_137, "vitb": 114_441_409, "vitl": 384_390_337}


def meta_state_dict(variant):
    dim, depth, feat, oc, _, _ = SPEC[variant]
    return {k: torch.empty(s, device="meta") for k, s in expected_layout(dim, depth, feat, oc).items()}


@pytest.mark.parametrize("variant", ["vits", "vitb", "vitl"])
def test_strict_load_shape_only_all_variants(variant):
    sd = meta_state_dict(variant)
    assert detect_config(sd).name == variant
    model = load_vda(sd, device="meta")
    assert model.cfg.name == variant and not model.metric
    # pe buffers may be absent from a file: they are recomputed
    sd2 = {k: v for k, v in meta_state_dict(variant).items() if not k.endswith("pos_encoder.pe")}
    assert load_vda(sd2, device="meta").cfg.name == variant
    assert load_vda(meta_state_dict(variant), metric=True, device="meta").metric
    assert detect_config(sd, name_hint=f"metric_video_depth_anything_{variant}.pth").metric


@pytest.fixture(scope="module")
def vits_files(tmp_path_factory):
    """Random vits state dict saved as .pth and .safetensors (fp16 to keep the files small)."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    sd = {k: torch.randn(v).half() for k, v in expected_layout(*SPEC["vits"][:4]).items()}
    d = tmp_path_factory.mktemp("vda")
    pth, st = d / "video_depth_anything_vits.pth", d / "vda_vits.safetensors"
    torch.save(sd, pth)
    save_file(sd, str(st))
    return sd, pth, st


def test_vits_real_files_load_strict_both_formats(vits_files):
    sd, pth, st = vits_files
    for path in (pth, st):
        model = load_vda(path)
        assert model.cfg.name == "vits"
        got = model.state_dict()
        for key in ("pretrained.blocks.11.mlp.fc2.weight", "head.motion_modules.3.temporal_transformer.proj_out.weight",
                    "head.scratch.output_conv2.2.bias", "pretrained.pos_embed"):
            assert got[key].dtype == torch.float32
            assert torch.equal(got[key], sd[key].float())
    assert load_vda(pth.with_name(pth.name), metric=None).metric is False


def test_wrapped_and_metric_named_files(tmp_path):
    model = build_random(TINY, seed=3)
    sd = model.state_dict()
    torch.save({"state_dict": sd}, tmp_path / "metric_video_depth_anything_tiny.pth")
    loaded = load_vda(tmp_path / "metric_video_depth_anything_tiny.pth", config=TINY, metric=True)
    assert loaded.metric
    # legacy (non-zip) torch.save format cannot be mmapped: loader falls back; "module." prefixes are stripped
    torch.save({"model": {"module." + k: v for k, v in sd.items()}}, tmp_path / "legacy.pt",
               _use_new_zipfile_serialization=False)
    legacy = load_vda(tmp_path / "legacy.pt", config=TINY)
    assert torch.equal(legacy.state_dict()["pretrained.pos_embed"], sd["pretrained.pos_embed"])


def test_tiny_roundtrip_both_formats_same_output(tmp_path):
    from safetensors.torch import save_file

    model = build_random(TINY, seed=4)
    sd = model.state_dict()
    torch.save(sd, tmp_path / "t.pth")
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "t.safetensors"))
    x = torch.randn(1, 4, 3, 28, 42)
    ref = model(x)
    for f in ("t.pth", "t.safetensors"):
        assert load_state_dict_file(tmp_path / f).keys() == sd.keys()
        assert torch.equal(load_vda(tmp_path / f, config=TINY)(x), ref)


def test_mismatched_files_give_clear_errors(tmp_path):
    sd = meta_state_dict("vits")
    dav2 = {k.replace("head.", "depth_head.", 1): v for k, v in sd.items() if "motion_modules" not in k}
    with pytest.raises(ValueError, match="Depth Anything V2"):
        load_vda(dav2, device="meta")
    no_mm = {k: v for k, v in sd.items() if "motion_modules" not in k}
    with pytest.raises(ValueError, match="motion_modules"):
        load_vda(no_mm, device="meta")
    with pytest.raises(ValueError, match="pretrained.pos_embed"):
        load_vda({"foo": torch.zeros(1)}, device="meta")
    odd = meta_state_dict("vits")
    odd["pretrained.pos_embed"] = torch.empty(1, 1370, 500, device="meta")
    with pytest.raises(ValueError, match="unrecognised"):
        load_vda(odd, device="meta")
    missing = meta_state_dict("vitb")
    del missing["head.scratch.refinenet2.out_conv.bias"]
    missing["head.extra.weight"] = torch.empty(3, device="meta")
    with pytest.raises(ValueError, match=r"missing keys \(1\): head.scratch.refinenet2.out_conv.bias.*"
                                         r"unexpected keys \(1\): head.extra.weight"):
        load_vda(missing, device="meta")
    shape = meta_state_dict("vitl")
    shape["head.projects.0.weight"] = torch.empty(7, 1024, 1, 1, device="meta")
    with pytest.raises(ValueError, match=r"shape mismatches.*head.projects.0.weight"):
        load_vda(shape, device="meta")
    with pytest.raises(FileNotFoundError):
        load_vda(tmp_path / "nope.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="state dict"):
        load_vda(tmp_path / "list.pth")


# --------------------------------------------------------------------------- pure helpers


def test_network_size_rule():
    assert network_size(540, 960) == (518, 924)
    assert network_size(960, 540) == (924, 518)
    assert network_size(512, 512) == (518, 518)
    assert network_size(1080, 1920) == (518, 924)
    assert network_size(100, 400) == (224, 896)  # ratio > 1.78 shrinks input_size to 224
    assert network_size(704, 1280) == (504, 910)  # ratio 1.82 > 1.78
    for h, w in [(333, 517), (64, 64), (37, 29), (540, 960)]:
        nh, nw = network_size(h, w)
        assert nh % 14 == 0 and nw % 14 == 0 and min(nh, nw) >= 518  # ratio <= 1.78: lower bound 518
        assert abs(nw / nh - w / h) < 0.05


def test_window_arithmetic():
    assert window_starts(1) == [0] and padded_length(1) == 32
    assert window_starts(121) == [0, 22, 44, 66, 88, 110] and padded_length(121) == 142
    assert len(window_starts(481)) == 22
    assert KEYFRAMES == (0, 12, 24, 25, 26, 27, 28, 29, 30, 31)
    assert torch.allclose(crossfade_weights(), torch.arange(8, dtype=torch.float64) / 7)


def test_scale_shift_lstsq_recovers_and_handles_degenerate():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(2, 9, 11, generator=g)
    s, t = scale_shift_lstsq(p, 2.5 * p - 0.75)
    assert abs(s - 2.5) < 1e-6 and abs(t + 0.75) < 1e-6
    assert scale_shift_lstsq(torch.ones(2, 3, 3), torch.rand(2, 3, 3)) == (1.0, 0.0)
    assert scale_shift_lstsq(torch.zeros(2, 3, 3), torch.zeros(2, 3, 3)) == (1.0, 0.0)


def test_gray_normalisation_is_global_and_nan_free():
    d = torch.stack([torch.full((4, 5), 1.0), torch.full((4, 5), 3.0)])
    d[1, 0, 0] = 5.0
    g = depth_to_gray(d, chunk=1)
    assert g.shape == (2, 4, 5, 3) and g.dtype == torch.float32
    assert g[0].max() == 0 and abs(g[1, 0, 0, 0] - 1) < 1e-5 and abs(g[1, 1, 1, 0] - 0.5) < 1e-5
    assert torch.equal(depth_to_gray(d, invert=True), 1 - depth_to_gray(d))
    z = depth_to_gray(torch.zeros(3, 4, 5), out_hw=(8, 10))
    assert z.shape == (3, 8, 10, 3) and not torch.isnan(z).any() and z.max() == 0


# --------------------------------------------------------------------------- windowing vs reference


def fake_net(x):
    """Deterministic fake: depends on each frame's content and on the window composition."""
    b, t, c, h, w = x.shape
    per_frame = x.mean(dim=2) + 3.0
    window = x.mean(dim=(1, 2), keepdim=True).squeeze(2)
    pos = torch.arange(t, dtype=x.dtype).view(1, t, 1, 1)
    return torch.relu(per_frame * (1.0 + 0.1 * window) + 0.05 * pos)


def reference_windowing(net, inputs):
    """List-based transcription of the upstream algorithm (padding, keyframes, LSQ, cross-fade)."""
    n = inputs.shape[0]
    frames = list(inputs) + [inputs[-1]] * (padded_length(n) - n)
    depths, pre = [], None
    for s in range(0, n, 22):
        cur = torch.stack(frames[s:s + 32])
        if pre is not None:
            cur[:10] = pre[list(KEYFRAMES)]
        depths += list(net(cur[None])[0])
        pre = cur
    aligned, ref = [], []
    for s in range(0, len(depths), 32):
        if not aligned:
            aligned += depths[:32]
            ref = [depths[0], depths[12]]
            continue
        pred, tgt = torch.cat(depths[s:s + 2]).double(), torch.cat(ref).double()
        a = torch.tensor([[float((pred * pred).sum()), float(pred.sum())], [float(pred.sum()), float(pred.numel())]],
                         dtype=torch.float64)
        bvec = torch.tensor([float((pred * tgt).sum()), float(tgt.sum())], dtype=torch.float64)
        sc, sh = torch.linalg.solve(a, bvec).tolist()
        post = [(d * sc + sh).clamp_min(0) for d in depths[s + 2:s + 10]]
        pre8 = aligned[-8:]
        aligned[-8:] = [pre8[i] * (1 - i / 7) + post[i] * (i / 7) for i in range(8)]
        aligned += [(d * sc + sh).clamp_min(0) for d in depths[s + 10:s + 32]]
        ref = [ref[0], (depths[s + 12] * sc + sh).clamp_min(0)]
    return torch.stack(aligned[:n])


@pytest.mark.parametrize("n", [1, 5, 31, 32, 33, 54, 75])
def test_streaming_windowing_matches_reference(n):
    g = torch.Generator().manual_seed(n)
    frames = torch.rand(n, 14, 28, 3, generator=g)
    got = infer_windows(fake_net, frames, size=(14, 28), quantize=False)
    from rv2v.nodes.pure.depth.windowing import preprocess

    ref = reference_windowing(fake_net, preprocess(frames, (14, 28), quantize=False))
    assert got.shape == (n, 14, 28)
    assert torch.allclose(got, ref.float(), atol=1e-5, rtol=1e-5)


def test_windowing_scale_shift_alignment_undoes_per_window_drift():
    """A net whose windows differ by an affine drift is realigned to window 0's scale."""
    calls = []

    def drifting(x):
        k = len(calls)
        calls.append(k)
        base = x.mean(dim=2)[0] + 2.0
        return ((1.0 + 0.5 * k) * base + 0.3 * k)[None]

    frames = torch.rand(60, 14, 14, 3, generator=torch.Generator().manual_seed(1))
    got = infer_windows(drifting, frames, size=(14, 14), quantize=False)
    from rv2v.nodes.pure.depth.windowing import preprocess

    truth = preprocess(frames, (14, 14), quantize=False).mean(dim=1) + 2.0
    assert len(calls) == 3
    assert torch.allclose(got, truth, atol=1e-4)
    calls.clear()  # fitting on maps upsampled to frame size (upstream style) recovers the same affine drift
    got_up = infer_windows(drifting, frames, size=(14, 14), quantize=False, align_hw=(31, 23))
    assert torch.allclose(got_up, truth, atol=1e-4)


# --------------------------------------------------------------------------- tiny model, end to end


@pytest.fixture(scope="module")
def tiny():
    return build_random(TINY, seed=1)


@pytest.fixture(scope="module")
def clip():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 20, 30, 3, generator=g)
    shift = torch.linspace(0, 1, 72).view(72, 1, 1, 1)
    return ((base + 0.3 * shift) % 1.0).contiguous()


@torch.no_grad()
def test_tiny_model_forward_and_temporal_mixing():
    model = build_random(TINY, seed=1).double()  # float64: batching/chunking must be exact
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 5, 3, 28, 42, generator=g, dtype=torch.float64)
    y = model(x)
    assert y.shape == (2, 5, 28, 42) and (y >= 0).all() and y.max() > 0
    assert torch.allclose(torch.cat([model(x[:1]), model(x[1:])]), y, atol=1e-10)
    assert torch.allclose(model(x, encoder_chunk=3), y, atol=1e-10)
    assert torch.allclose(model.head.forward(
        model.pretrained.get_intermediate_layers(x.flatten(0, 1), TINY.layers), 2, 3, 5, micro_batch=0
    ).squeeze(1).unflatten(0, (2, 5)), y, atol=1e-10)
    x2 = x.clone()
    x2[:, 4] += 1.0  # another frame of the same clip changes frame 0 through the motion modules
    assert not torch.allclose(model(x2)[:, 0], y[:, 0], atol=1e-6)
    x3 = x.clone()
    x3[1] += 1.0  # clips of a batch do not interact
    assert torch.allclose(model(x3)[0], y[0], atol=1e-10)


def test_tiny_video_depth_full_windowed_path(tiny, clip):
    calls = []
    g = video_depth(tiny, clip, input_size=28, progress=lambda d, t: calls.append((d, t)))
    assert g.shape == (72, 20, 30, 3) and g.dtype == torch.float32
    assert g.min() >= 0 and g.max() <= 1 and abs(float(g.max()) - 1) < 1e-4 and float(g.min()) < 1e-4
    assert torch.equal(g[..., 0], g[..., 2])
    assert calls[-1][0] == calls[-1][1] and [c[0] for c in calls] == list(range(1, calls[-1][1] + 1))
    assert torch.equal(video_depth(tiny, clip, input_size=28), g)  # deterministic
    raw = video_depth(tiny, clip[:25], input_size=28, output="raw", storage_dtype=torch.float32, out_hw=(10, 15))
    assert raw.shape == (25, 10, 15) and (raw >= 0).all()


def test_tiny_short_single_black_and_stop(tiny, clip):
    short = video_depth(tiny, clip[:7], input_size=28)
    assert short.shape == (7, 20, 30, 3)
    one = video_depth(tiny, clip[:1], input_size=28)
    assert one.shape == (1, 20, 30, 3) and not torch.isnan(one).any()
    black = video_depth(tiny, torch.zeros(40, 20, 30, 3), input_size=28)
    assert not torch.isnan(black).any() and black.min() >= 0 and black.max() <= 1
    with pytest.raises(InterruptedError):
        video_depth(tiny, clip, input_size=28, should_stop=lambda: True)
    with pytest.raises(ValueError):
        video_depth(tiny, clip[..., :2], input_size=28)


def test_pos_embed_interpolation_shapes(tiny):
    enc = tiny.pretrained
    assert enc.interpolate_pos_encoding(16, 56, 56, torch.float32) is enc.pos_embed
    for h, w in [(14, 14), (28, 70), (98, 42), (14 * 9, 14 * 3)]:
        pe = enc.interpolate_pos_encoding((h // 14) * (w // 14), h, w, torch.float32)
        assert pe.shape == (1, 1 + (h // 14) * (w // 14), 48)
        assert torch.equal(pe[:, 0], enc.pos_embed[:, 0])


def test_max_res_pre_shrink(tiny, clip):
    from rv2v.nodes.pure.depth import max_res_size

    assert max_res_size(544, 967, 960) == (540, 960)
    assert max_res_size(540, 960, 960) == (540, 960) and max_res_size(100, 50, 0) == (100, 50)
    assert max_res_size(301, 1001, 500) == (150, 500)
    g = video_depth(tiny, clip[:7], input_size=28, max_res=24)
    assert g.shape == (7, 16, 24, 3) and 0 <= g.min() and g.max() <= 1


def test_storage_dtype_and_low_precision_head(tiny, clip):
    a = video_depth(tiny, clip[:30], input_size=28, storage_dtype=torch.float32)
    b = video_depth(tiny, clip[:30], input_size=28, storage_dtype=torch.float16)
    assert (a - b).abs().max() < 2e-3
    # CPU bf16 autocast as a proxy for the CUDA fp16/bf16 path: output_conv2 runs in fp32, result finite
    x = torch.rand(1, 4, 3, 28, 42)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = tiny(x)
    assert y.shape == (1, 4, 28, 42) and torch.isfinite(y.float()).all()
    from rv2v.nodes.pure.depth.windowing import autocast_context

    assert isinstance(autocast_context(torch.device("cpu"), "fp16"), type(autocast_context(torch.device("cpu"), "fp32")))
    with pytest.raises(ValueError):
        autocast_context(torch.device("cpu"), "int8")


def test_pe_buffers_are_recomputed_on_load():
    from rv2v.nodes.pure.depth.temporal import sinusoidal_table

    sd = build_random(TINY, seed=5).state_dict()
    key = "head.motion_modules.2.temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe"
    sd[key] = torch.full_like(sd[key], 7.0)
    model = load_vda(sd, config=TINY)
    assert torch.equal(model.state_dict()[key], sinusoidal_table(32, 32))
    pe = sinusoidal_table(32, 8)
    assert torch.equal(pe[0, :, 0], torch.sin(torch.arange(32.0))) and torch.equal(pe[0, 0, 1::2], torch.ones(4))
