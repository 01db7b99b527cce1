"""``control``: the control video computed locally by the pack's own code (no ComfyUI).

Needs torch, numpy and av, imported only when the command runs (``generate`` and ``models``
need only the standard library).
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..pure import control_options, params
from .errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CliError
from .progress import ProgressBar

DOWNLOAD_HINT = "pass " + control_options.by_name("download_missing").cli_flag
_D = control_options.defaults()
_TYPES = {"int": int, "float": float}


def add_control_flags(parser) -> None:
    """One flag per CLI option of ``control_options.OPTIONS`` (name, default, help from the table).

    A bool defaulting to True gets a flag that turns it off (``--no-body``); one defaulting to
    False a flag that turns it on. File choices (depth/pose models) take any name or path."""
    for o in control_options.OPTIONS:
        if not o.cli:
            continue
        used = ", ".join(t for t in control_options.CONTROL_TYPES if t in o.used_by)
        help_ = f"{o.tooltip} [{used}]".replace("%", "%%")
        if o.kind == "bool":
            parser.add_argument(o.cli_flag, dest=o.name, action="store_false" if o.default else "store_true",
                                help=f"turn {o.name} off ({help_})" if o.default else help_)
        elif o.kind == "combo":
            parser.add_argument(o.cli_flag, dest=o.name, default=o.default,
                                choices=None if o.cli_any else o.choices,
                                help=help_ + (" (a file name in the models folder, or a path; default: %(default)s)"
                                              if o.cli_any else " (default: %(default)s)"))
        else:
            parser.add_argument(o.cli_flag, dest=o.name, type=_TYPES[o.kind], default=o.default,
                                help=help_ + " (default: %(default)s)")


def control_models(control_type: str, *, models_dir=None, depth_model: str = _D["depth_model"],
                   bbox_detector: str = _D["bbox_detector"], pose_estimator: str = _D["pose_estimator"],
                   composite_mode: str = _D["composite_mode"], download_missing: bool = _D["download_missing"],
                   progress=None) -> dict:
    """Paths of the model files a control type needs ({"depth": path, "pose": (det, est)}), resolved like
    the nodes do (models/rv2v_depth + models/videodepthanything, models/rv2v_pose; ONNX choices map to the
    TorchScript files); a missing file names the file, the folders searched and the download URL."""
    from ..pure import control_video as cv, weights
    from ..pure.pose import backends

    try:
        use_depth, _canny, use_pose = control_options.layers(control_type, composite_mode)
        names = []
        if use_depth:
            names.append(("depth", weights.DEPTH_FOLDER, depth_model))
        if use_pose:
            names += [("detector", weights.POSE_FOLDER, backends.resolve_model_name(bbox_detector)),
                      ("estimator", weights.POSE_FOLDER, backends.resolve_model_name(pose_estimator))]
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if names and models_dir is None and not all(Path(n).expanduser().is_file() for _, _, n in names):
        raise CliError(f"control_type {control_type!r} needs model files: give --models-dir DIR (ComfyUI's models "
                       "folder) or --comfyui PATH", EXIT_USAGE)
    found, missing = {}, []
    for key, folder, name in names:  # every missing file is reported before any work
        try:
            found[key] = cv.find_model(name, folder, models_dir, download_missing=download_missing,
                                       download_hint=DOWNLOAD_HINT,
                                       progress=(lambda d, t, n=name: progress(d / max(1, t), f"download {n}"))
                                       if progress else None)
        except FileNotFoundError as exc:
            missing.append(str(exc))
        except (OSError, RuntimeError) as exc:  # weights.DownloadError
            raise CliError(str(exc)) from None
    if missing:
        raise CliError("\n".join(missing))
    return found


def make_control(input_video: str, output: str, *, num_frames: int = 121, frames_per_second: float = 24.0,
                 resolution: str = "auto", control_type: str = "canny", video_quality: str = "high",
                 canny_low: int = _D["canny_low"], canny_high: int = _D["canny_high"],
                 canny_resolution: int = _D["canny_resolution"], downscale_factor: int = 2, progress=None,
                 models_dir=None, depth_model: str = _D["depth_model"], depth_input_size: int = _D["depth_input_size"],
                 bbox_detector: str = _D["bbox_detector"], pose_estimator: str = _D["pose_estimator"],
                 detect_body: bool = _D["detect_body"], detect_hand: bool = _D["detect_hand"],
                 detect_face: bool = _D["detect_face"], composite_mode: str = _D["composite_mode"],
                 depth_weight: float = _D["depth_weight"], edge_weight: float = _D["edge_weight"],
                 pose_weight: float = _D["pose_weight"], download_missing: bool = _D["download_missing"],
                 device: str = "cpu") -> dict:
    """The control video the workflow would compute (Reference planning + Control nodes), as an MP4.

    Canny, depth, pose or the experimental composite, computed by the pack's own code
    (``pure/control_video.py``): the frames are decoded as uint8 and every stage writes chunk by chunk
    into that buffer, so host memory stays near the uint8 clip (no float32 copy of the clip)."""
    settings = params.validate({"prompt": "control", "input_video": input_video, "num_frames": num_frames,
                                "frames_per_second": frames_per_second, "resolution": resolution,
                                "control_type": control_type, "video_quality": video_quality}, strict=False)
    ctype = settings.control_type
    files = control_models(ctype, models_dir=models_dir, depth_model=depth_model, bbox_detector=bbox_detector,
                           pose_estimator=pose_estimator, composite_mode=composite_mode,
                           download_missing=download_missing, progress=progress)
    import torch

    from ..pure import control_video as cv, media, planning, weights

    notes = list(settings.notes)
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    depth_net = pose_backend = None
    if "depth" in files:
        note = weights.licence_note(files["depth"])
        if note and weights.entry(files["depth"]).non_commercial:
            notes.append(note)
        try:
            depth_net = cv.load_depth(files["depth"], device=dev)
        except (ValueError, RuntimeError) as exc:
            raise CliError(f"depth model {files['depth']}: {exc}") from None
    if "detector" in files:
        try:
            pose_backend = cv.load_pose(files["detector"], files["estimator"], device=dev)
        except RuntimeError as exc:
            raise CliError(str(exc)) from None
    path = str(Path(input_video).expanduser())
    info = media.probe_video(path, label="input_video")
    width, height = planning.output_size(settings.resolution, info.width, info.height, downscale_factor)
    wk, hk = planning.working_size(info.width, info.height, width, height)
    n, fps = int(settings.num_frames), float(settings.frames_per_second)
    step = (lambda done, total, what: progress(done / max(1, total), what)) if progress else None
    frames, report = media.decode_video(path, fps_out=fps, num_frames=n, mode="time", size=(wk, hk),
                                        label="input_video", dtype=torch.uint8,
                                        progress=(lambda d, t: step(d, t, "decode")) if step else None)
    control = cv.control_frames(
        frames[:n], ctype, width, height, canny_low=canny_low, canny_high=canny_high,
        canny_resolution=canny_resolution, depth_model=depth_net, depth_input_size=depth_input_size,
        pose_backend=pose_backend, body=detect_body, hands=detect_hand, face=detect_face,
        composite_mode=composite_mode, depth_weight=depth_weight, edge_weight=edge_weight, pose_weight=pose_weight,
        device=dev, in_place=True, progress=step)
    del frames
    control = cv.pad_to(control, n)
    media.encode_mp4(output, control, fps=fps, audio=None, crf=media.crf_for_quality(settings.video_quality),
                     progress=(lambda d, t: step(d, t, "encode")) if step else None)
    return {"output": str(output), "width": width, "height": height, "frames": n, "fps": fps,
            "control_type": ctype, "files": files, "notes": notes,
            "padded": int(getattr(report, "padded", 0) or 0)}


def cmd_control(args) -> int:
    bar = ProgressBar(enabled=not args.quiet)
    output = args.output or str(Path(args.input_video).with_suffix("")) + "_control.mp4"
    models_dir = args.models_dir or (str(Path(args.comfyui).expanduser() / "models") if args.comfyui else None)
    try:
        info = make_control(args.input_video, output, num_frames=args.num_frames,
                            frames_per_second=args.frames_per_second, resolution=args.resolution,
                            control_type=args.control_type, video_quality=args.video_quality,
                            downscale_factor=args.downscale_factor, progress=bar.update, models_dir=models_dir,
                            device=args.device,
                            **{o.name: getattr(args, o.name) for o in control_options.OPTIONS if o.cli})
    except params.ParamError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except InterruptedError as exc:
        raise CliError(str(exc), EXIT_INTERRUPTED) from None
    except ValueError as exc:  # media errors name the field
        raise CliError(str(exc)) from None
    finally:
        bar.close()
    if not args.quiet:
        for note in info["notes"]:
            print(f"note: {note}", file=sys.stderr)
        for key, path in info["files"].items():
            print(f"{key} model: {path}", file=sys.stderr)
        print(f"{info['control_type']} control video: {info['width']}x{info['height']}, {info['frames']} frames "
              f"@ {info['fps']:g} fps", file=sys.stderr)
    print(info["output"])
    return EXIT_OK
