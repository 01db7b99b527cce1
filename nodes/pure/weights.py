"""Preprocessor model files: manifest, clear missing-file errors, verified download.

Pure module (stdlib only). The pack ships no weights. The files live in ComfyUI model
folders that the glue registers (``rv2v_depth`` -> ``models/rv2v_depth``, ``rv2v_pose`` ->
``models/rv2v_pose``). :func:`download` is only ever called on an explicit request
(the Control / preprocessor nodes' ``download_missing`` option, default off), never at import.

Names, repositories and licences: the model cards on Hugging Face (depth-anything/Video-Depth-Anything-*,
hr16/yolox-onnx, hr16/DWPose-TorchScript-BatchSize5).
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from .log import log

DEPTH_FOLDER = "rv2v_depth"
POSE_FOLDER = "rv2v_pose"
# Other packs' folders searched too (same files, no second download): Video Depth Anything
# nodes auto-download to models/videodepthanything.
EXTRA_FOLDERS = {DEPTH_FOLDER: ("videodepthanything",), POSE_FOLDER: ()}
EXTENSIONS = {
    DEPTH_FOLDER: (".pth", ".pt", ".safetensors"),
    POSE_FOLDER: (".pt",),
}

_HF = "https://huggingface.co/{repo}/resolve/main/{file}"


@dataclass(frozen=True)
class WeightFile:
    filename: str
    folder: str            # ComfyUI model folder name (models/<folder>)
    repo: str              # Hugging Face repository
    licence: str
    description: str
    sha256: Optional[str] = None   # verified only when known
    size: Optional[int] = None     # bytes; verified only when known

    @property
    def url(self) -> str:
        return _HF.format(repo=self.repo, file=self.filename)

    @property
    def non_commercial(self) -> bool:
        return "NC" in self.licence


_VDA_REPOS = {"vits": "Small", "vitb": "Base", "vitl": "Large"}
_VDA_LICENCES = {"vits": "Apache-2.0", "vitb": "CC-BY-NC-4.0", "vitl": "CC-BY-NC-4.0"}

DEPTH_FILES = {
    k: WeightFile(
        filename=f"video_depth_anything_{k}.pth", folder=DEPTH_FOLDER,
        repo=f"depth-anything/Video-Depth-Anything-{size}", licence=_VDA_LICENCES[k],
        description=f"Video Depth Anything {size} ({k})",
    )
    for k, size in _VDA_REPOS.items()
}
DEPTH_DEFAULT = DEPTH_FILES["vits"].filename

POSE_DETECTOR = WeightFile(
    filename="yolox_l.torchscript.pt", folder=POSE_FOLDER, repo="hr16/yolox-onnx",
    licence="Apache-2.0 (YOLOX)", description="DWPose person detector (YOLOX-L, TorchScript)",
)
POSE_ESTIMATOR = WeightFile(
    filename="dw-ll_ucoco_384_bs5.torchscript.pt", folder=POSE_FOLDER,
    repo="hr16/DWPose-TorchScript-BatchSize5", licence="Apache-2.0 (DWPose)",
    description="DWPose whole-body pose estimator (RTMPose-l 384x288, TorchScript)",
)

#: controlnet_aux's bbox_detector / pose_estimator choices -> the TorchScript file the pack runs
#: (no onnxruntime needed).
POSE_CHOICE_FILES = {
    "yolox_l.onnx": POSE_DETECTOR.filename,
    POSE_DETECTOR.filename: POSE_DETECTOR.filename,
    "dw-ll_ucoco_384.onnx": POSE_ESTIMATOR.filename,
    "dw-ll_ucoco.onnx": POSE_ESTIMATOR.filename,
    POSE_ESTIMATOR.filename: POSE_ESTIMATOR.filename,
}


def resolve_model_name(name: str) -> str:
    """Map a controlnet_aux ``bbox_detector``/``pose_estimator`` choice to the
    TorchScript file this pack runs (``yolox_l.onnx`` -> ``yolox_l.torchscript.pt``,
    the ONNX pose models -> ``dw-ll_ucoco_384_bs5.torchscript.pt``).
    Other choices (e.g. YOLO-NAS ONNX) need onnxruntime: ``ValueError``."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    if base not in POSE_CHOICE_FILES:
        raise ValueError(f"unsupported DWPose model {name!r}: only {POSE_DETECTOR.filename} and "
                         f"{POSE_ESTIMATOR.filename} (TorchScript) can run without onnxruntime")
    return POSE_CHOICE_FILES[base]


MANIFEST: dict[str, WeightFile] = {
    w.filename: w for w in (*DEPTH_FILES.values(), POSE_DETECTOR, POSE_ESTIMATOR)
}


def entry(filename: str) -> Optional[WeightFile]:
    """The manifest entry of a file name (base name compared), or None for a user file."""
    return MANIFEST.get(os.path.basename(str(filename).replace("\\", "/")))


def licence_note(filename: str) -> str:
    w = entry(filename)
    if w is None:
        return ""
    if w.non_commercial:
        return (f"{w.filename} is licensed {w.licence} (non-commercial use only); "
                f"{DEPTH_FILES['vits'].filename} (Apache-2.0) is the commercial-friendly choice")
    return f"{w.filename}: {w.licence}"


DOWNLOAD_HINT_NODE = "enable download_missing on the node"


def missing_file_error(w: WeightFile, searched: tuple = (), download_hint: str = DOWNLOAD_HINT_NODE) -> str:
    """The message for a model file that is not installed: file, folder, where to get it.

    ``download_hint`` says how to have it downloaded instead (the CLI names its flag)."""
    where = f" (searched: {', '.join(str(s) for s in searched)})" if searched else ""
    return (f"model file {w.filename!r} ({w.description}) was not found in ComfyUI's models/{w.folder}/ "
            f"folder{where}. Download it from {w.url} (Hugging Face {w.repo}, licence {w.licence}) "
            f"into models/{w.folder}/, or {download_hint} to fetch it.")


def locate(name: str, folder: str, searched: Sequence[str], *, found: Optional[str] = None,
           download_missing: bool = False, download_hint: str = DOWNLOAD_HINT_NODE,
           progress: Optional[Callable[[int, int], None]] = None,
           should_stop: Optional[Callable[[], bool]] = None) -> str:
    """The one model-file resolver (the nodes and the CLI): the full path of ``name`` in ``folder``.

    ``found`` is a path the caller's own lookup already found (ComfyUI's ``folder_paths``); else
    the base name is looked for in each of ``searched``. A missing file raises ``FileNotFoundError``
    with the file, folder, folders searched and (for a manifest file) where to get it, whose
    download advice is ``download_hint``; with ``download_missing`` a manifest file is downloaded
    (verified, resumable) into the first searched folder instead.
    """
    if found:
        return found
    base = os.path.basename(str(name).replace("\\", "/"))
    for d in searched:
        path = os.path.join(d, base)
        if os.path.isfile(path):
            return path
    w = entry(base)
    if w is None or w.folder != folder:
        where = f" (searched: {', '.join(map(str, searched))})" if searched else " (no models folder given)"
        raise FileNotFoundError(f"model file {base!r} was not found in ComfyUI's models/{folder}/ folder{where}")
    if download_missing and searched:
        log.info("downloading %s from %s into %s", w.filename, w.url, searched[0])
        return download_entry(w, searched[0], progress=progress, should_stop=should_stop)
    raise FileNotFoundError(missing_file_error(w, tuple(searched), download_hint))


class DownloadError(RuntimeError):
    pass


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


def download(url: str, dest_dir, filename: str, *, sha256: Optional[str] = None,
             size: Optional[int] = None, timeout: float = 60.0, chunk: int = 1 << 20,
             progress: Optional[Callable[[int, int], None]] = None,
             should_stop: Optional[Callable[[], bool]] = None) -> str:
    """Download ``url`` to ``dest_dir/filename``, verified; returns the final path.

    Streams into ``<filename>.part`` in ``dest_dir`` (same file system, so the final
    rename is atomic). A ``.part`` left by an interrupted attempt is resumed with an HTTP
    Range request when the server answers 206; a 200 answer restarts from zero. The size
    and SHA-256 are checked when known; on a mismatch or an HTTP error the ``.part`` is
    removed and ``DownloadError`` raised. A connection drop keeps the ``.part`` (the next
    explicit request resumes it). An existing final file is returned as is.
    """
    dest_dir = os.fspath(dest_dir)
    os.makedirs(dest_dir, exist_ok=True)
    final = os.path.join(dest_dir, filename)
    if os.path.isfile(final):
        return final
    part = final + ".part"
    have = os.path.getsize(part) if os.path.isfile(part) else 0
    if size is not None and have > size:
        os.remove(part)
        have = 0
    req = urllib.request.Request(url, headers={"User-Agent": "comfyui-ltx23-reference-v2v"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - http(s) manifest URLs
    except urllib.error.HTTPError as e:
        if e.code == 416 and have and (size is None or have == size):
            resp = None  # the .part is already complete
        else:
            _remove(part)
            raise DownloadError(f"download of {filename} failed: HTTP {e.code} {e.reason} ({url})") from e
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"download of {filename} failed: {e} ({url})") from e
    if resp is not None:
        with resp:
            status = getattr(resp, "status", 200)
            mode = "ab" if (have and status == 206) else "wb"
            if mode == "wb":
                have = 0
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else (size or 0)
            try:
                with open(part, mode) as f:
                    while True:
                        if should_stop is not None and should_stop():
                            raise InterruptedError(f"download of {filename} interrupted")
                        b = resp.read(chunk)
                        if not b:
                            break
                        f.write(b)
                        have += len(b)
                        if progress is not None:
                            progress(have, max(total, have))
            except InterruptedError:  # (an OSError subclass) keep the .part: resumable
                raise
            except (OSError, urllib.error.URLError) as e:  # keep the .part: resumable
                raise DownloadError(f"download of {filename} interrupted after {have} bytes: {e}") from e
    got = os.path.getsize(part)
    if size is not None and got != size:
        _remove(part)
        raise DownloadError(f"download of {filename}: size {got} bytes, expected {size}; file removed")
    if sha256 is not None:
        digest = sha256_file(part)
        if digest.lower() != sha256.lower():
            _remove(part)
            raise DownloadError(f"download of {filename}: SHA-256 {digest} does not match the expected "
                                f"{sha256}; file removed")
    os.replace(part, final)
    return final


def download_entry(w: WeightFile, dest_dir, **kw) -> str:
    return download(w.url, dest_dir, w.filename, sha256=w.sha256, size=w.size, **kw)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
