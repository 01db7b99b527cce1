"""Write tiny random preprocessor models for the e2e tests (run with ComfyUI's Python).

    python tiny_preprocessors.py --repo <pack root> --models <base>/models

* ``rv2v_depth/rv2v_tiny_vda.safetensors``: a Video Depth Anything with a tiny config
  (ViT dim 32, 4 blocks; DPT features 32), every parameter random; the config travels in
  the safetensors metadata ``rv2v_vda_config`` (the loader's explicit-config path).
* ``rv2v_pose/yolox_l.torchscript.pt`` + ``dw-ll_ucoco_384_bs5.torchscript.pt``: fake
  TorchScript DWPose models with the real I/O contract: the detector always reports one
  person box (center 320, 213; 200 x 300 in the 640 letterbox), the pose model fixed
  SimCC peaks. Scripted with the server's torch so the archive version matches.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

TINY_VDA = dict(name="tiny", vit=[32, 4, 2], layers=[0, 1, 2, 3], features=32,
                out_channels=[32, 32, 32, 32], max_frames=32, metric=False)


class FakeDet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        raw = torch.zeros(8400, 85)
        gx, gy = 10, 6  # stride-32 level (20 x 20), after 80^2 + 40^2 anchors
        i = 6400 + 1600 + gy * 20 + gx
        raw[i, 0], raw[i, 1] = 0.0, 213.0 / 32 - gy
        raw[i, 2], raw[i, 3] = math.log(200 / 32), math.log(300 / 32)
        raw[i, 4], raw[i, 5] = 0.95, 0.95
        self.raw = torch.nn.Parameter(raw, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.raw.unsqueeze(0).expand(x.shape[0], -1, -1) + 0.0 * x.mean()


class FakePose(torch.nn.Module):
    def __init__(self):
        super().__init__()
        k = torch.arange(133)
        px = torch.zeros(133, 576)
        py = torch.zeros(133, 768)
        px[k, (200 + 2 * k) % 576] = 0.9
        py[k, (150 + 3 * k) % 768] = 0.9
        self.px = torch.nn.Parameter(px, requires_grad=False)
        self.py = torch.nn.Parameter(py, requires_grad=False)

    def forward(self, x: torch.Tensor):
        z = 0.0 * x.mean()
        n = x.shape[0]
        return self.px.unsqueeze(0).expand(n, -1, -1) + z, self.py.unsqueeze(0).expand(n, -1, -1) + z


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--models", required=True)
    args = ap.parse_args()
    sys.path.insert(0, args.repo)
    from safetensors.torch import save_file

    from nodes.pure.depth import VDAConfig, build_random
    from nodes.pure.depth.dinov2 import ViTConfig

    models = Path(args.models)
    (models / "rv2v_depth").mkdir(parents=True, exist_ok=True)
    (models / "rv2v_pose").mkdir(parents=True, exist_ok=True)
    c = TINY_VDA
    cfg = VDAConfig(c["name"], ViTConfig(*c["vit"]), tuple(c["layers"]), c["features"],
                    tuple(c["out_channels"]), c["max_frames"], c["metric"])
    sd = {k: v.contiguous() for k, v in build_random(cfg, seed=3).state_dict().items()}
    save_file(sd, str(models / "rv2v_depth" / "rv2v_tiny_vda.safetensors"),
              metadata={"rv2v_vda_config": json.dumps(c)})
    torch.jit.script(FakeDet()).save(str(models / "rv2v_pose" / "yolox_l.torchscript.pt"))
    torch.jit.script(FakePose()).save(str(models / "rv2v_pose" / "dw-ll_ucoco_384_bs5.torchscript.pt"))


if __name__ == "__main__":
    main()
