"""nodes/pure/control_video.py (the uint8, chunked control pipeline) and the CLI's ``control``.

The pipeline must give what the Control node gives (float IMAGE frames, then the MP4
writer's rounding) while keeping every whole-clip tensor in uint8: here it is checked
against the node's own steps on float frames, for canny, depth, pose and composite,
with tiny models (the e2e generator ``tests/e2e/tiny_preprocessors.py``: a tiny-config
Video Depth Anything in ``.safetensors`` + fake TorchScript DWPose files). Chunking is
proved by instrumenting the per-chunk call; cancellation by a stop flag.
"""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from rv2v.nodes.cli import main as cli
from rv2v.nodes.pure import canny, composite, control_video as cv, imageops, media, weights
from rv2v.nodes.pure.depth import video_depth
from rv2v.nodes.pure.pose import backends

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "tests" / "e2e" / "tiny_preprocessors.py"
TINY_DEPTH = "rv2v_tiny_vda.safetensors"
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    proc = subprocess.run([sys.executable, str(GENERATOR), "--repo", str(ROOT), "--models", str(d)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return d


@pytest.fixture(scope="module")
def depth_net(models_dir):
    return cv.load_depth(str(models_dir / "rv2v_depth" / TINY_DEPTH))


@pytest.fixture(scope="module")
def pose_backend(models_dir):
    d = models_dir / "rv2v_pose"
    return cv.load_pose(str(d / weights.POSE_DETECTOR.filename), str(d / weights.POSE_ESTIMATOR.filename))


def clip_u8(n=11, h=48, w=80, seed=0):
    """Moving shapes + texture: edges for canny, variation for depth."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    frames = []
    for i in range(n):
        img = torch.stack([0.5 + 0.3 * torch.sin((x + 3 * i) / (6 + c) + y / 9) for c in range(3)], -1)
        box = ((x - 10 - 4 * i).abs() < 8) & ((y - h / 2).abs() < 10)
        img[box] = torch.tensor([0.9, 0.2, 0.1])
        img += 0.03 * torch.rand(img.shape, generator=g)
        frames.append(img.clamp(0, 1))
    return (torch.stack(frames) * 255).to(torch.uint8)


def as_float(u8):
    return u8.float() / 255.0


def rounded(x):
    return x.clamp(0, 1).mul(255).round().to(torch.uint8)


# ----------------------------------------------------------------------------- decode
def _write_mp4(path, frames_u8, fps=12):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = frames_u8.shape[2], frames_u8.shape[1], "yuv420p"
        for f in frames_u8:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f.numpy(), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


@pytest.mark.parametrize("size", [None, (64, 40)])
def test_uint8_decode_is_the_truncated_float_decode(tmp_path, size):
    src = _write_mp4(tmp_path / "c.mp4", clip_u8(9, 48, 80))
    f32, _ = media.decode_video(src, num_frames=7, size=size)
    u8, rep = media.decode_video(src, num_frames=7, size=size, dtype=torch.uint8)
    assert u8.dtype == torch.uint8 and u8.shape == f32.shape and rep.num_frames == 7
    assert torch.equal(u8, canny.frames_to_uint8(f32))  # what every preprocessor does to the floats
    assert torch.equal(as_float(u8), f32) if size is None else True  # 8-bit source: lossless both ways
    with pytest.raises(ValueError, match="dtype"):
        media.decode_video(src, num_frames=2, dtype=torch.float16)


# ----------------------------------------------------------------------------- parity with the node's steps
@pytest.mark.parametrize("wh", [(80, 48), (64, 48), (96, 64)])  # same size, crop, resize (cover)
def test_canny_matches_the_node_and_runs_in_place(wh):
    width, height = wh
    frames = clip_u8()
    node = rounded(imageops.cover_crop(canny.canny_frames(as_float(frames), 92, 200, 40), width, height))
    buf = frames.clone()
    got = cv.control_frames(buf, "canny", width, height, canny_resolution=40, chunk=4, in_place=True)
    assert got.dtype == torch.uint8 and torch.equal(got, node) and node.amax() == 255
    is_crop = imageops.center_crop_box(48, 80, width, height)[2:] == (height, width)
    assert (got.untyped_storage().data_ptr() == buf.untyped_storage().data_ptr()) == is_crop
    assert torch.equal(cv.control_frames(frames, "canny", width, height, canny_resolution=40), node)
    # the node's call: float frames in, the exact float edges out (no rounding)
    node_f = imageops.cover_crop(canny.canny_frames(as_float(frames), 92, 200, 40), width, height)
    got_f = cv.control_frames(as_float(frames), "canny", width, height, canny_resolution=40,
                              out_dtype=torch.float32)
    assert got_f.dtype == torch.float32 and torch.equal(got_f, node_f)


@pytest.mark.parametrize("wh,n", [((64, 48), 35), ((96, 64), 35), ((64, 48), 23), ((80, 48), 24)])
def test_depth_matches_the_node(depth_net, wh, n, monkeypatch):
    width, height = wh
    frames = clip_u8(n)  # 35: two windows; 23: the last frame is emitted in window 0, then repeated in window 1
    src_f = imageops.cover_crop(as_float(frames), width, height)  # the node's crop_to
    node = video_depth(depth_net, src_f, input_size=56, out_hw=(height, width))
    parked = []
    real_park = cv.park_depth
    monkeypatch.setattr(cv, "park_depth", lambda *a: parked.append(real_park(*a)) or parked[-1])
    buf = frames.clone()
    got = cv.control_frames(buf, "depth", width, height, depth_model=depth_net, depth_input_size=56,
                            in_place=True)
    assert got.shape == (n, height, width, 3) and torch.equal(got, rounded(node))
    assert got.amax() == 255 and got.amin() == 0
    # the network-resolution maps were parked in the frames' own slots (no clip-sized storage)
    assert len(parked) == 1 and parked[0] is not None
    is_crop = imageops.center_crop_box(48, 80, width, height)[2:] == (height, width)
    assert (parked[0].untyped_storage().data_ptr() == buf.untyped_storage().data_ptr()) == is_crop
    assert torch.equal(cv.control_frames(frames, "depth", width, height, depth_model=depth_net,
                                         depth_input_size=56), got)  # not in place: same result
    got_f = cv.control_frames(as_float(frames), "depth", width, height, depth_model=depth_net,
                              depth_input_size=56, out_dtype=torch.float32)  # the node's call
    assert got_f.dtype == torch.float32 and torch.equal(got_f, node)


def test_park_depth_views():
    buf = torch.zeros(3, 4, 5, 3, dtype=torch.uint8)
    v = cv.park_depth(buf, 2, 7)  # 28 bytes of each 60-byte slot
    assert v.shape == (3, 2, 7) and v.dtype == torch.float16
    v[1] = 1.0
    assert buf[0].eq(0).all() and buf[2].eq(0).all() and buf[1].view(-1)[:28].ne(0).any()
    assert buf[1].view(-1)[28:].eq(0).all()
    assert cv.park_depth(buf, 5, 7) is None  # 70 bytes do not fit
    assert cv.park_depth(buf[:, :, :4], 2, 2) is None  # not contiguous


@pytest.mark.parametrize("wh", [(64, 48), (96, 64)])
def test_pose_matches_the_node(pose_backend, wh):
    width, height = wh
    frames = clip_u8(5)
    src_f = imageops.cover_crop(as_float(frames), width, height)
    node, _ = backends.estimate_poses(pose_backend, src_f, chunk=8)
    assert node.any()
    got = cv.control_frames(frames.clone(), "pose", width, height, pose_backend=pose_backend, chunk=2,
                            in_place=True)
    assert torch.equal(got, node)
    got_f = cv.control_frames(as_float(frames), "pose", width, height, pose_backend=pose_backend,
                              out_dtype=torch.float32)
    assert got_f.dtype == torch.float32 and torch.equal(got_f, node.float() / 255)


@pytest.mark.parametrize("mode", ["all", "depth+pose", "canny+pose"])
def test_composite_matches_the_node(depth_net, pose_backend, mode):
    width, height = 64, 48
    frames = clip_u8(12)
    src_f = imageops.cover_crop(as_float(frames), width, height)
    use_depth, use_canny, use_pose = composite.layers_for_mode(mode)
    d = video_depth(depth_net, src_f, input_size=56, out_hw=(height, width)) if use_depth else None
    e = imageops.cover_crop(canny.canny_frames(as_float(frames), 92, 200, 40), width, height) if use_canny else None
    p = backends.estimate_poses(pose_backend, src_f)[0].float() / 255 if use_pose else None
    node = composite.composite(d, e, p, depth_weight=0.4)
    got = cv.control_frames(frames.clone(), "composite", width, height, composite_mode=mode, canny_resolution=40,
                            depth_model=depth_net, depth_input_size=56, pose_backend=pose_backend,
                            depth_weight=0.4, in_place=True, chunk=8)
    assert torch.equal(got, rounded(node))
    got_f = cv.control_frames(as_float(frames), "composite", width, height, composite_mode=mode,
                              canny_resolution=40, depth_model=depth_net, depth_input_size=56,
                              pose_backend=pose_backend, depth_weight=0.4, out_dtype=torch.float32)
    assert got_f.dtype == torch.float32 and torch.equal(got_f, node)


# ----------------------------------------------------------------------------- chunking, progress, cancel
def test_canny_works_chunk_by_chunk_into_the_preallocated_buffer(monkeypatch):
    frames = clip_u8(10)
    buf = frames.clone()
    seen = []
    real = canny.canny_frames

    def spy(x, *a, **k):
        seen.append((tuple(x.shape), x.dtype))
        return real(x, *a, **k)

    monkeypatch.setattr(canny, "canny_frames", spy)
    calls = []
    out = cv.control_frames(buf, "canny", 80, 48, canny_resolution=40, chunk=3, in_place=True,
                            progress=lambda d, t, s: calls.append((d, t, s)))
    assert [s[0][0] for s in seen] == [3, 3, 3, 1] and all(s[1] == torch.uint8 for s in seen)
    assert out.data_ptr() == buf.data_ptr()  # the input buffer is the output: no other clip-sized tensor
    assert calls == [(3, 10, "canny"), (6, 10, "canny"), (9, 10, "canny"), (10, 10, "canny")]

    # a stop flag ends the work between chunks: chunks done are written, the rest is untouched
    seen.clear()
    buf = frames.clone()
    polls = []

    def stop():
        polls.append(1)
        return len(polls) > 2

    with pytest.raises(InterruptedError):
        cv.control_frames(buf, "canny", 80, 48, canny_resolution=40, chunk=3, in_place=True, should_stop=stop)
    assert len(seen) == 2
    assert not torch.equal(buf[:6], frames[:6]) and torch.equal(buf[6:], frames[6:])


def test_depth_pose_composite_progress_and_cancel(depth_net, pose_backend):
    frames = clip_u8(9)
    for ctype, stages in (("depth", {"depth"}), ("pose", {"pose"}), ("composite", {"depth", "composite"})):
        calls = []
        cv.control_frames(frames.clone(), ctype, 64, 48, depth_model=depth_net, depth_input_size=56,
                          pose_backend=pose_backend, chunk=4, progress=lambda d, t, s: calls.append((d, t, s)))
        assert {c[2] for c in calls} == stages and calls[-1][0] == calls[-1][1], (ctype, calls)
        if ctype == "pose":
            assert [c[0] for c in calls] == [4, 8, 9]
        with pytest.raises(InterruptedError):
            cv.control_frames(frames.clone(), ctype, 64, 48, depth_model=depth_net, depth_input_size=56,
                              pose_backend=pose_backend, should_stop=lambda: True)


def test_pose_writes_chunks_into_a_given_output(pose_backend):
    frames = clip_u8(5)
    ref, meta = backends.estimate_poses(pose_backend, frames, chunk=2)
    buf = frames.clone()
    got, meta2 = backends.estimate_poses(pose_backend, buf, chunk=2, out=buf)  # in place over the input
    assert got.data_ptr() == buf.data_ptr() and torch.equal(got, ref) and meta2 == meta
    with pytest.raises(ValueError, match="out must be"):
        backends.estimate_poses(pose_backend, frames, out=torch.zeros(5, 4, 4, 3, dtype=torch.uint8))


def test_depth_gray_into_a_uint8_output(depth_net):
    frames = clip_u8(6)
    ref = video_depth(depth_net, frames, input_size=56)
    out = torch.full(frames.shape, 7, dtype=torch.uint8)
    got = video_depth(depth_net, frames, input_size=56, out=out, post_chunk=4)
    assert got is out and torch.equal(got, rounded(ref))
    assert torch.equal(video_depth(depth_net, frames, input_size=56, out_dtype=torch.uint8), got)
    with pytest.raises(ValueError, match="out must be"):
        video_depth(depth_net, frames, input_size=56, out=torch.zeros(6, 2, 2, 3))


def test_composite_uint8_layers_and_output():
    f = torch.rand(4, 5, 6, 3)
    e = (torch.rand(4, 5, 6, 3) > 0.7).float()
    ref = composite.composite(f, e, None, depth_weight=0.5)
    u8 = composite.composite(rounded(f), rounded(e), None, depth_weight=0.5, dtype=torch.uint8, chunk=3)
    assert u8.dtype == torch.uint8 and (u8.int() - rounded(ref).int()).abs().max() <= 1


def test_pipeline_argument_errors(depth_net):
    frames = clip_u8(2)
    with pytest.raises(ValueError, match="uint8 or float"):
        cv.control_frames(frames.to(torch.int16), "canny", 64, 48)
    with pytest.raises(ValueError, match="in_place needs uint8"):
        cv.control_frames(as_float(frames), "canny", 64, 48, in_place=True)
    with pytest.raises(ValueError, match="out_dtype"):
        cv.control_frames(frames, "canny", 64, 48, out_dtype=torch.float16)
    with pytest.raises(ValueError, match="control_type"):
        cv.control_frames(frames, "edges", 64, 48)
    with pytest.raises(ValueError, match="depth model"):
        cv.control_frames(frames, "depth", 64, 48)
    with pytest.raises(ValueError, match="pose backend"):
        cv.control_frames(frames, "composite", 64, 48, depth_model=depth_net, composite_mode="depth+pose")


# ----------------------------------------------------------------------------- model files
def test_find_model_folders_and_missing_message(tmp_path, models_dir):
    path = cv.find_model(TINY_DEPTH, weights.DEPTH_FOLDER, models_dir)
    assert path == str(models_dir / "rv2v_depth" / TINY_DEPTH)
    assert cv.find_model(path, weights.DEPTH_FOLDER, None) == path  # a path is taken as is
    (tmp_path / "videodepthanything").mkdir()
    (tmp_path / "videodepthanything" / "x.pth").write_bytes(b"0")  # the other packs' folder is searched too
    assert cv.find_model("x.pth", weights.DEPTH_FOLDER, tmp_path).endswith("videodepthanything/x.pth")
    with pytest.raises(FileNotFoundError) as err:
        cv.find_model(weights.DEPTH_DEFAULT, weights.DEPTH_FOLDER, tmp_path, download_hint="pass --download-missing")
    msg = str(err.value)
    assert weights.DEPTH_DEFAULT in msg and "models/rv2v_depth/" in msg and str(tmp_path / "rv2v_depth") in msg
    assert weights.DEPTH_FILES["vits"].url in msg and "--download-missing" in msg and "on the node" not in msg
    with pytest.raises(FileNotFoundError, match="mine.pth"):
        cv.find_model("mine.pth", weights.DEPTH_FOLDER, tmp_path)
    assert cv.vda_config_from_file(path).name == "tiny"


# ----------------------------------------------------------------------------- CLI
def _decode(path):
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


@pytest.mark.parametrize("ctype", ["depth", "pose", "composite"])  # canny: tests/test_api.py
def test_cli_control_types(tmp_path, capsys, models_dir, depth_net, pose_backend, ctype):
    src = _write_mp4(tmp_path / "ref.mp4", clip_u8(9, 64, 96))
    out = tmp_path / f"{ctype}.mp4"
    rc = cli.main(["control", "--input-video", str(src), "--output", str(out), "--num-frames", "9",
                   "--frames-per-second", "12", "--resolution", "square", "--control-type", ctype,
                   "--models-dir", str(models_dir), "--depth-model", TINY_DEPTH, "--depth-input-size", "140",
                   "--composite-mode", "depth+pose", "--quiet"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.strip() == str(out)
    got = _decode(out)
    assert got.shape == (9, 512, 512, 3)
    # the same control computed here from the same uint8 decode (the MP4 is lossy: compare loosely)
    scale = max(544 / 64, 512 / 96, 512 / 64)  # Reference planning's decode size (the CLI's too)
    frames, _ = media.decode_video(src, fps_out=12, num_frames=9, size=(round(96 * scale), round(64 * scale)),
                                   dtype=torch.uint8)
    ref = cv.control_frames(frames, ctype, 512, 512, depth_model=depth_net, depth_input_size=140,
                            pose_backend=pose_backend, composite_mode="depth+pose").numpy()
    assert ref.std() > 2 and ref.max() == 255
    assert np.abs(got.astype(int) - ref).mean() < 0.25 * np.abs(ref.astype(int) - ref.mean()).mean()


def test_cli_control_missing_files_and_usage(tmp_path, capsys):
    src = _write_mp4(tmp_path / "ref.mp4", clip_u8(3, 64, 96))
    base = ["control", "--input-video", str(src), "--output", str(tmp_path / "o.mp4"), "--num-frames", "9"]
    rc = cli.main(base + ["--control-type", "composite", "--models-dir", str(tmp_path / "models")])
    err = capsys.readouterr().err
    assert rc == 1
    for w in (weights.DEPTH_FILES["vits"], weights.POSE_DETECTOR, weights.POSE_ESTIMATOR):  # all named at once
        assert w.filename in err and f"models/{w.folder}/" in err and w.url in err
    assert "--download-missing" in err and not (tmp_path / "o.mp4").exists()
    rc = cli.main(base + ["--control-type", "pose"])
    assert rc == 2 and "--models-dir" in capsys.readouterr().err
    rc = cli.main(base + ["--control-type", "pose", "--models-dir", str(tmp_path), "--bbox-detector", "yolo_nas.onnx"])
    assert rc == 2 and "onnxruntime" in capsys.readouterr().err
