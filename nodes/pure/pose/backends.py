"""DWPose TorchScript backends and the frames -> pose pipeline.

Pure module (torch/numpy). Reference: DWPose as comfyui_controlnet_aux runs it (github.com/Fannovel16/comfyui_controlnet_aux, src/custom_controlnet_aux/dwpose).

Files: ``yolox_l.torchscript.pt`` (detector, (B, 3, 640, 640) raw 0-255 ->
(B, 8400, 85)) and ``dw-ll_ucoco_384_bs5.torchscript.pt`` (pose,
(5, 3, 384, 288) normalised -> (simcc_x (5, 133, 576), simcc_y (5, 133, 768))).

Trust model: TorchScript archives hold serialised code and constants; they are
not arbitrary pickle but not a sandbox either -- load only files from the
models folder.  ``torch.jit.load(map_location="cpu")`` then ``.to(device)``.
At load the contract is validated and the accepted batch sizes are probed
(detector: batch 2 vs batch 1; pose: batch 1 vs row 0 of batch 5); when a
trace is not batch-flexible the pipeline falls back to per-frame detector
calls / zero-padded slices of 5 for the pose model.
"""
from __future__ import annotations

import warnings
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import pixels, weights
from .detect import DET_SIZE, decode_yolox, letterbox, select_persons
from .keypoints import format_people, insert_neck_and_remap, pose_keypoint_frame
from .render import draw_people
from .topdown import (POSE_H, POSE_W, box_to_center_scale, crop_affine, decode_simcc,
                      normalize_u8, to_image)

__all__ = ["DET_FILE", "POSE_FILE", "N_KPT", "load_torchscript", "DWPoseBackend",
           "frames_to_uint8", "estimate_poses", "resolve_model_name"]

DET_FILE = weights.POSE_DETECTOR.filename  # yolox_l.torchscript.pt
POSE_FILE = weights.POSE_ESTIMATOR.filename  # dw-ll_ucoco_384_bs5.torchscript.pt
resolve_model_name = weights.resolve_model_name  # the choice -> file rule lives with the manifest
N_KPT = 133
POSE_FIXED_BATCH = 5

def load_torchscript(path, device="cpu") -> torch.jit.ScriptModule:
    """``torch.jit.load(map_location="cpu")`` (archives may hold CUDA tensors), eval, ``.to(device)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 deprecates jit.load
        m = torch.jit.load(str(path), map_location="cpu")
    m.eval()
    return m.to(device)


def _param_dtype(model, default=torch.float32):
    try:
        return next(model.parameters()).dtype
    except (StopIteration, AttributeError, RuntimeError):
        return default


def _unwrap(y):
    """Some exports return a 1-tuple/list around the detector tensor."""
    if isinstance(y, (tuple, list)) and len(y) == 1:
        return y[0]
    return y


def frames_to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """ComfyUI IMAGE float [0, 1] -> uint8 by truncation (x * 255); uint8 passes through."""
    return frames if frames.dtype == torch.uint8 else pixels.float_to_uint8_trunc(frames.float())


class DWPoseBackend:
    """A loaded detector + pose model pair with probed batch behaviour.

    ``det_batch_ok``: the detector accepts batch > 1 (else per-frame calls).
    ``pose_batch``: None when the pose model accepts any batch, else the fixed batch (5).
    """

    def __init__(self, det_model, pose_model, device="cpu", dtype: Optional[torch.dtype] = None,
                 max_pose_batch: int = 64):
        self.device = torch.device(device)
        self.det = det_model.to(self.device)
        self.pose = pose_model.to(self.device)
        self.det_dtype = dtype or _param_dtype(det_model)
        self.pose_dtype = dtype or _param_dtype(pose_model)
        if dtype is not None:
            self.det.to(dtype)
            self.pose.to(dtype)
        self.max_pose_batch = max_pose_batch
        self.det_batch_ok = self._probe_detector()
        self.pose_batch = self._probe_pose()

    @classmethod
    def from_files(cls, det_path, pose_path, device="cpu", dtype=None, **kw) -> "DWPoseBackend":
        try:
            det = load_torchscript(det_path, device)
            pose = load_torchscript(pose_path, device)
        except Exception as e:  # noqa: BLE001 - re-raised with context
            raise RuntimeError(f"could not load DWPose TorchScript files ({det_path}, {pose_path}); "
                               f"expected {DET_FILE} and {POSE_FILE}: {e}") from e
        return cls(det, pose, device, dtype, **kw)

    def to(self, device) -> "DWPoseBackend":
        """Move both models (e.g. offload to CPU after use); probes are not re-run."""
        self.device = torch.device(device)
        self.det.to(self.device)
        self.pose.to(self.device)
        return self

    # -- probes ---------------------------------------------------------
    @torch.no_grad()
    def _probe_detector(self) -> bool:
        x = torch.zeros(1, 3, DET_SIZE, DET_SIZE, dtype=self.det_dtype, device=self.device)
        try:
            y1 = _unwrap(self.det(x))
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"detector ({DET_FILE}) failed on a (1, 3, 640, 640) input: {e}") from e
        if not torch.is_tensor(y1) or y1.dim() != 3 or y1.shape[0] != 1 or y1.shape[1] != 8400 \
                or y1.shape[2] < 6:
            raise RuntimeError(f"detector ({DET_FILE}) must return a (1, 8400, 85) tensor, got "
                               f"{getattr(y1, 'shape', type(y1))}")
        try:
            y2 = _unwrap(self.det(x.expand(2, -1, -1, -1).contiguous()))
            return (torch.is_tensor(y2) and tuple(y2.shape) == (2,) + tuple(y1.shape[1:])
                    and torch.allclose(y2[0].float(), y1[0].float(), rtol=1e-3, atol=1e-3)
                    and torch.allclose(y2[1].float(), y1[0].float(), rtol=1e-3, atol=1e-3))
        except Exception:  # noqa: BLE001 - fixed-batch trace
            return False

    def _check_pose_out(self, out, n):
        ok = (isinstance(out, (tuple, list)) and len(out) == 2
              and tuple(out[0].shape) == (n, N_KPT, 2 * POSE_W)
              and tuple(out[1].shape) == (n, N_KPT, 2 * POSE_H))
        return ok

    @torch.no_grad()
    def _probe_pose(self) -> Optional[int]:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(POSE_FIXED_BATCH, 3, POSE_H, POSE_W, generator=g).to(self.device, self.pose_dtype)
        try:
            y5 = self.pose(x)
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"pose model ({POSE_FILE}) failed on a (5, 3, 384, 288) input: {e}") from e
        if not self._check_pose_out(y5, POSE_FIXED_BATCH):
            raise RuntimeError(f"pose model ({POSE_FILE}) must return (simcc_x (5, 133, 576), "
                               f"simcc_y (5, 133, 768))")
        try:
            y1 = self.pose(x[:1].contiguous())
            if self._check_pose_out(y1, 1) and all(
                    torch.allclose(a[0].float(), b[0].float(), rtol=1e-3, atol=1e-3)
                    for a, b in zip(y1, y5)):
                return None
        except Exception:  # noqa: BLE001 - fixed-batch trace
            pass
        return POSE_FIXED_BATCH

    # -- stages ---------------------------------------------------------
    @torch.no_grad()
    def detect(self, frames_u8: torch.Tensor) -> List[torch.Tensor]:
        """(B, H, W, 3) uint8 -> per frame person boxes (K, 4) float32 (CPU)."""
        x, r = letterbox(frames_u8.to(self.device), DET_SIZE, dtype=self.det_dtype)
        if self.det_batch_ok:
            out = _unwrap(self.det(x))
        else:
            out = torch.cat([_unwrap(self.det(x[i:i + 1])) for i in range(x.shape[0])], 0)
        boxes, scores = decode_yolox(out, r)
        return [b.cpu() for b in select_persons(boxes, scores)]

    @torch.no_grad()
    def run_pose(self, crops: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Normalised crops (N, 3, 384, 288) -> (simcc_x, simcc_y) float32."""
        n = crops.shape[0]
        step = self.max_pose_batch if self.pose_batch is None else self.pose_batch
        xs, ys = [], []
        for i in range(0, n, step):
            c = crops[i:i + step]
            m = c.shape[0]
            if self.pose_batch is not None and m < self.pose_batch:
                c = torch.cat([c, c.new_zeros((self.pose_batch - m,) + tuple(c.shape[1:]))], 0)
            sx, sy = self.pose(c.to(self.pose_dtype).contiguous())
            xs.append(sx[:m].float())
            ys.append(sy[:m].float())
        return torch.cat(xs), torch.cat(ys)

    @torch.no_grad()
    def estimate(self, frames_u8: torch.Tensor, boxes: Sequence[torch.Tensor]):
        """Per frame ``(kpts (K, 133, 2) CPU float64, scores (K, 133) CPU float32)`` in image
        pixels. Centre/scale and the crop -> image map are float64 (host), like the reference."""
        frames = frames_u8.to(self.device)
        crops, centers, scales, counts = [], [], [], []
        for i, b in enumerate(boxes):
            counts.append(int(b.shape[0]))
            if b.shape[0] == 0:
                continue
            c, s = box_to_center_scale(b)
            crops.append(crop_affine(frames[i].permute(2, 0, 1), c, s))
            centers.append(c)
            scales.append(s)
        if not crops:
            return [(torch.zeros(0, N_KPT, 2, dtype=torch.float64), torch.zeros(0, N_KPT)) for _ in boxes]
        crops = normalize_u8(torch.cat(crops), self.pose_dtype)
        centers, scales = torch.cat(centers), torch.cat(scales)
        sx, sy = self.run_pose(crops)
        locs, sc = decode_simcc(sx, sy)
        kp = to_image(locs, centers, scales)
        sc = sc.cpu()
        out, k = [], 0
        for n in counts:
            out.append((kp[k:k + n], sc[k:k + n]))
            k += n
        return out


def estimate_poses(backend: DWPoseBackend, frames: torch.Tensor, chunk: int = 8,
                   body: bool = True, hands: bool = True, face: bool = True,
                   xinsr: bool = False,
                   progress: Optional[Callable[[int, int], None]] = None,
                   should_stop: Optional[Callable[[], bool]] = None,
                   out: Optional[torch.Tensor] = None):
    """Frames (T, H, W, 3) (uint8 or float [0, 1]) -> ``(rendered uint8 (T, H, W, 3) CPU,
    POSE_KEYPOINT list of T dicts)``. Processed in chunks of ``chunk`` frames into a
    pre-allocated output (``out``: a CPU uint8 (T, H, W, 3) tensor to fill, e.g. the
    uint8 input itself: a chunk is fully read before it is drawn over); ``progress(done,
    total)`` after each chunk; ``should_stop()`` returning True raises ``InterruptedError``
    between chunks. A frame without detections renders black and has no people."""
    T, H, W, _ = frames.shape
    if out is None:
        out_t = torch.zeros((T, H, W, 3), dtype=torch.uint8)
    elif tuple(out.shape) != (T, H, W, 3) or out.dtype != torch.uint8 or out.device.type != "cpu":
        raise ValueError(f"out must be a CPU uint8 tensor {(T, H, W, 3)}, got {out.dtype} {tuple(out.shape)} "
                         f"on {out.device}")
    else:
        out_t = out
    meta = []
    for s in range(0, T, max(1, int(chunk))):
        if should_stop is not None and should_stop():
            raise InterruptedError("pose estimation interrupted")
        f = frames_to_uint8(frames[s:s + chunk])
        boxes = backend.detect(f)
        res = backend.estimate(f, boxes)
        del f  # may be a view of ``out`` (in-place use): everything below only writes
        for j, (kp, sc) in enumerate(res):
            if kp.shape[0]:
                k2, s2 = insert_neck_and_remap(kp, sc)
                people = format_people(k2, s2)
            else:
                people = []
            if out is None:
                canvas = out_t[s + j].numpy()
            else:
                canvas = np.zeros((H, W, 3), dtype=np.uint8)
            draw_people(people, H, W, body, hands, face, xinsr, canvas=canvas)
            if out is not None:
                out_t[s + j] = torch.from_numpy(canvas)
            meta.append(pose_keypoint_frame(people, H, W, body, hands, face))
        if progress is not None:
            progress(min(s + chunk, T), T)
    return out_t, meta
