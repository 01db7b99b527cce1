"""Argument parsing and dispatch of ``generate``, ``models`` and ``control``."""
from __future__ import annotations

import argparse
import os
import sys

from ..pure import api, params
from .client import DEFAULT_SERVER
from .control import add_control_flags, cmd_control
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, CliError
from .generate import add_param_flags, cmd_generate
from .models import cmd_models


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python nodes/cli.py",
        description=f"{api.MODEL_NAME} ({params.MODEL_ID}) from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="run the preset on a ComfyUI server and download the MP4",
                       description="Queue the shipped workflow with these parameters on ComfyUI, show progress, "
                                   "download the MP4. Local media files are uploaded; URLs, data: URIs and names "
                                   "of files in ComfyUI's input folder are passed through.")
    g.add_argument("--request", metavar="BODY.json",
                   help="a hosted-API JSON request body ({\"model\": ..., \"prompt\": ..., ...}); '-' reads stdin")
    g.add_argument("--server", help=f"ComfyUI address (default {DEFAULT_SERVER})")
    g.add_argument("--comfyui", metavar="PATH", help="start the ComfyUI in PATH on a free loopback port, stop it after")
    g.add_argument("--comfy-python", metavar="PYTHON",
                   help="Python for --comfyui (default: $COMFY_PYTHON, a venv inside PATH, or this Python)")
    g.add_argument("--comfyui-args", metavar="ARGS", default="",
                   help="more main.py arguments for --comfyui, one string (e.g. \"--cpu --base-directory D\")")
    g.add_argument("--startup-timeout", type=float, default=600, help="seconds to wait for --comfyui to start")
    g.add_argument("--output", "-o", metavar="PATH", help="MP4 file or folder (default: the current folder)")
    g.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (default: never)")
    g.add_argument("--api-key", help="sent as 'Authorization: Bearer <key>' (for servers behind a proxy that wants one)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress output; print only the MP4 path")
    add_param_flags(g)
    g.set_defaults(func=cmd_generate)

    m = sub.add_parser("models", help="list the model files the workflow needs and which are missing")
    m.add_argument("--comfyui", metavar="PATH", help="check PATH/models")
    m.add_argument("--models-dir", metavar="DIR", help="check this models folder")
    m.add_argument("--server", help="check what a running ComfyUI lists (GET /models/<folder>)")
    m.add_argument("--json", action="store_true", help="machine-readable output")
    m.set_defaults(func=cmd_models)

    c = sub.add_parser("control", help="make the control video from a reference video locally (no ComfyUI)")
    c.add_argument("--input-video", "--input_video", required=True, metavar="FILE")
    c.add_argument("--output", "-o", metavar="FILE", help="default: <input>_control.mp4")
    c.add_argument("--num-frames", "--num_frames", type=int, default=121)
    c.add_argument("--frames-per-second", "--frames_per_second", type=float, default=24.0)
    c.add_argument("--resolution", default="auto", choices=params.RESOLUTIONS)
    c.add_argument("--control-type", "--control_type", default="canny", choices=params.CONTROL_TYPES)
    c.add_argument("--video-quality", "--video_quality", default="high", choices=params.VIDEO_QUALITIES)
    c.add_argument("--downscale-factor", type=int, default=2,
                   help="the IC-LoRA's reference downscale factor (the Union Control LoRA: 2)")
    c.add_argument("--models-dir", metavar="DIR",
                   help="ComfyUI's models folder: depth weights in DIR/rv2v_depth/ (or DIR/videodepthanything/), "
                        "DWPose files in DIR/rv2v_pose/ (needed for depth, pose and composite)")
    c.add_argument("--comfyui", metavar="PATH", help="use PATH/models as --models-dir")
    add_control_flags(c)
    c.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    c.add_argument("--quiet", "-q", action="store_true")
    c.set_defaults(func=cmd_control)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. piped into head
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_FAILED
