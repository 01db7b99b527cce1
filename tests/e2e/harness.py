"""End-to-end test harness: a real ComfyUI server with tiny models, driven over HTTP.

Importable from pytest under the pack's own test venv: standard library plus PyAV
and numpy only, **no ComfyUI imports**. ComfyUI itself always runs as a subprocess
under ``COMFY_PYTHON``.

Environment (both required; tests skip with a one-line reason without them):

* ``COMFYUI_PATH``: a ComfyUI checkout (never modified: every writable path is
  redirected with ``--base-directory`` and ``--database-url``; bytecode is off);
* ``COMFY_PYTHON``: the Python that runs it.

Main pieces:

* :func:`comfy_env` / :func:`comfy_env_reason` / :func:`require_comfy_env`;
* :func:`make_clip` (H.264 + AAC synthetic clip with moving shapes) and
  :func:`make_image` (PNG);
* :func:`ensure_tiny_models` / :func:`shared_models_dir` (runs ``tiny_models.py`` once
  per models directory; by default one hash-keyed cache in the temp dir);
* :class:`ComfyServer` (context manager: base dir, models, whitelisted custom nodes,
  ``main.py --cpu``, readiness, ``/prompt`` / ``/history`` / ``/view`` / upload);
* :func:`probe_media` (streams, codecs, frame counts, fps, size, audio);
* :func:`read_probe` (tensors written by the test-only ``RV2VTest_SaveTensors`` node,
  read with numpy only).

Typical use::

    env = require_comfy_env()
    with ComfyServer(tmp / "base", env=env, packs=("te_adjust", "probe")) as srv:
        pid = srv.post_prompt(prompt)
        entry = srv.wait(pid)
        files = srv.download_outputs(entry, tmp / "out")
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
#: Folder name the pack gets under ``custom_nodes`` (the repository folder's name).
PACK_DIR_NAME = REPO_ROOT.name
TINY_MODELS_SCRIPT = E2E_DIR / "tiny_models.py"

TE_ADJUST = "te_adjust"
PROBE = "probe"
#: Test-only custom node packs shipped under tests/e2e (never part of the pack).
TEST_PACKS = {TE_ADJUST: E2E_DIR / TE_ADJUST, PROBE: E2E_DIR / PROBE}
#: Default whitelist: both test-only packs plus the pack under test.
ALL_PACKS = (TE_ADJUST, PROBE, PACK_DIR_NAME)

#: The generated files, relative to the models directory (mirrors tiny_models.FILES).
CHECKPOINT = "checkpoints/ltx-2.3-22b-dev.safetensors"
DISTILLED_LORA = "loras/ltx-2.3-22b-distilled-lora-384-1.1.safetensors"
IC_LORA = "loras/ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors"
TEXT_ENCODER = "text_encoders/gemma_3_12B_it.safetensors"
TINY_MODEL_FILES = (CHECKPOINT, DISTILLED_LORA, IC_LORA, TEXT_ENCODER)


# ----------------------------------------------------------------------------------------
# Environment
# ----------------------------------------------------------------------------------------

class ComfyEnv(NamedTuple):
    """Where ComfyUI lives and which Python runs it."""

    comfyui_path: Path
    comfy_python: str


def comfy_env_reason() -> str | None:
    """Why the ComfyUI environment is unusable (one line), or None when it is usable."""
    root = os.environ.get("COMFYUI_PATH")
    python = os.environ.get("COMFY_PYTHON")
    if not root or not python:
        missing = [n for n, v in (("COMFYUI_PATH", root), ("COMFY_PYTHON", python)) if not v]
        return f"e2e tests need {' and '.join(missing)} (a ComfyUI checkout and the Python that runs it)"
    if not (Path(root) / "main.py").is_file():
        return f"COMFYUI_PATH={root} has no main.py"
    resolved = shutil.which(python)
    if resolved is None:
        return f"COMFY_PYTHON={python} is not an executable"
    return None


def comfy_env() -> ComfyEnv | None:
    """``(comfyui_path, comfy_python)`` from the environment, or None (see :func:`comfy_env_reason`)."""
    if comfy_env_reason() is not None:
        return None
    return ComfyEnv(Path(os.environ["COMFYUI_PATH"]).resolve(), shutil.which(os.environ["COMFY_PYTHON"]))


#: True on a CI run (``CI=true``): a missing test environment is a failure there, never a skip.
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
#: ``RV2V_E2E_FULL=1`` runs the full lane (every repetition); CI's lane is the default under ``CI=true``.
FULL_LANE = os.environ.get("RV2V_E2E_FULL", "").strip() == "1" or not IN_CI


def unavailable(reason: str):
    """The test environment lacks something (ComfyUI, Chromium, Playwright, a server binary).

    For a user: ``pytest.skip`` with the one-line reason (works at module level too). With
    ``CI=true``: ``pytest.fail`` with the same line, since CI must run every end-to-end test (at
    module level that is a collection error naming the module, so the run cannot pass).
    """
    import pytest

    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_comfy_env() -> ComfyEnv:
    """:func:`comfy_env`, or :func:`unavailable` with the one-line reason (skip; a failure in CI)."""
    env = comfy_env()
    if env is None:
        unavailable(comfy_env_reason())
    return env


def subprocess_env(extra: dict | None = None) -> dict:
    """Environment for ComfyUI subprocesses: 2 threads, no bytecode, unbuffered output."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)  # never leak the test venv's paths into ComfyUI
    if extra:
        env.update(extra)
    return env


# ----------------------------------------------------------------------------------------
# Synthetic inputs
# ----------------------------------------------------------------------------------------

def _frame(width: int, height: int, index: int, frames: int):
    """RGB uint8 frame: a gradient background with a moving square and a moving disc."""
    import numpy as np

    t = index / max(1, frames - 1)
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[..., 0] = (40 + 80 * x / max(1, width - 1)).astype(np.uint8)
    img[..., 1] = (40 + 80 * y / max(1, height - 1)).astype(np.uint8)
    img[..., 2] = 60
    side = max(4, min(width, height) // 4)
    sx = int(t * (width - side))
    sy = (height - side) // 3
    img[sy:sy + side, sx:sx + side] = (240, 230, 40)
    r = max(3, min(width, height) // 6)
    cx = int(width - r - t * (width - 2 * r))
    cy = int(height * 2 / 3)
    disc = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    img[disc] = (30, 200, 250)
    return img


def make_clip(path, width: int = 192, height: int = 128, frames: int = 17, fps: float = 25,
              audio: bool = True, seconds: float | None = None) -> Path:
    """Write an H.264 (yuv420p) MP4 with moving shapes (edges for Canny) and optional AAC.

    ``seconds`` is the audio duration (default: the video's, ``frames / fps``), so a test
    can make the audio track shorter or longer than the video. Returns the path.
    """
    import av
    import numpy as np

    if width % 2 or height % 2:
        raise ValueError("H.264 yuv420p needs even width and height")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = _fraction(fps)
    with av.open(str(path), mode="w") as container:
        vstream = container.add_stream("libx264", rate=rate)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.options = {"crf": "18", "preset": "veryfast"}
        astream = None
        if audio:
            sample_rate = 48000
            astream = container.add_stream("aac", rate=sample_rate)
            astream.layout = "stereo"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(_frame(width, height, i, frames), format="rgb24")
            for packet in vstream.encode(frame):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            duration = frames / float(fps) if seconds is None else float(seconds)
            total = int(round(duration * sample_rate))
            t = np.arange(total, dtype=np.float32) / sample_rate
            left = 0.3 * np.sin(2 * np.pi * 440.0 * t)
            right = 0.3 * np.sin(2 * np.pi * 660.0 * t)
            samples = np.stack([left, right]).astype(np.float32)
            chunk = astream.codec_context.frame_size or 1024
            for start in range(0, total, chunk):
                block = np.ascontiguousarray(samples[:, start:start + chunk])
                aframe = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
                aframe.sample_rate = sample_rate
                aframe.pts = start
                for packet in astream.encode(aframe):
                    container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)
    return path


def _fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


def make_image(path, width: int = 192, height: int = 128, index: int = 0) -> Path:
    """Write an RGB PNG (the clip's frame ``index`` of 17) with only zlib; returns the path."""
    img = _frame(width, height, index, 17)
    raw = b"".join(b"\x00" + img[row].tobytes() for row in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6))
    png += chunk(b"IEND", b"")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


# ----------------------------------------------------------------------------------------
# Media inspection
# ----------------------------------------------------------------------------------------

def probe_media(path) -> dict:
    """Inspect a media file with PyAV by decoding every frame.

    Returns ``{"format", "streams": [codec names], "video": {...} | None,
    "audio": {...} | None, "has_audio": bool}`` where video holds ``codec, width,
    height, frames, fps, duration`` and audio holds ``codec, sample_rate, channels,
    samples, duration``.
    """
    import av

    out = {"format": None, "streams": [], "video": None, "audio": None, "has_audio": False}
    with av.open(str(path)) as container:
        out["format"] = container.format.name
        out["streams"] = [s.codec_context.name for s in container.streams]
        if container.streams.video:
            vs = container.streams.video[0]
            frames = sum(1 for _ in container.decode(vs))
            rate = vs.average_rate or vs.guessed_rate
            out["video"] = {
                "codec": vs.codec_context.name,
                "width": vs.codec_context.width,
                "height": vs.codec_context.height,
                "frames": frames,
                "fps": float(rate) if rate else None,
                "duration": float(vs.duration * vs.time_base) if vs.duration is not None else None,
            }
    with av.open(str(path)) as container:
        if container.streams.audio:
            aus = container.streams.audio[0]
            samples = sum(f.samples for f in container.decode(aus))
            out["audio"] = {
                "codec": aus.codec_context.name,
                "sample_rate": aus.codec_context.sample_rate,
                "channels": aus.codec_context.channels,
                "samples": samples,
                "duration": float(aus.duration * aus.time_base) if aus.duration is not None else None,
            }
            out["has_audio"] = True
    return out


def video_frame_count(path) -> int:
    """Number of decoded video frames."""
    info = probe_media(path)["video"]
    return 0 if info is None else info["frames"]


def has_audio(path) -> bool:
    return probe_media(path)["has_audio"]


# ----------------------------------------------------------------------------------------
# Tiny models
# ----------------------------------------------------------------------------------------

def shared_models_dir(env: ComfyEnv | None = None) -> Path:
    """A models cache shared by every test (and session) on this machine.

    Keyed by the content of ``tiny_models.py`` and ComfyUI's version file, so editing
    the generator or switching ComfyUI regenerates. Override with ``RV2V_TINY_MODELS_DIR``.
    """
    override = os.environ.get("RV2V_TINY_MODELS_DIR")
    if override:
        return Path(override).resolve()
    env = env or comfy_env()
    h = hashlib.sha256(TINY_MODELS_SCRIPT.read_bytes())
    if env is not None:
        version = env.comfyui_path / "comfyui_version.py"
        h.update(str(env.comfyui_path).encode())
        h.update(version.read_bytes() if version.is_file() else b"")
    return Path(tempfile.gettempdir()) / f"rv2v-tiny-models-{h.hexdigest()[:16]}"


def tiny_models_present(models_dir) -> bool:
    return all((Path(models_dir) / rel).is_file() for rel in TINY_MODEL_FILES)


def ensure_tiny_models(models_dir, env: ComfyEnv | None = None, timeout: float = 600) -> float:
    """Generate the tiny model files into ``models_dir`` unless all already exist.

    Runs ``COMFY_PYTHON tests/e2e/tiny_models.py``. Returns the seconds spent (0.0 when
    cached). Raises RuntimeError with the generator's output on failure.
    """
    models_dir = Path(models_dir)
    if tiny_models_present(models_dir):
        return 0.0
    env = env or comfy_env()
    if env is None:
        raise RuntimeError(comfy_env_reason())
    t0 = time.perf_counter()
    proc = subprocess.run(
        [env.comfy_python, str(TINY_MODELS_SCRIPT), "--comfyui", str(env.comfyui_path), "--out", str(models_dir)],
        cwd=str(REPO_ROOT),
        env=subprocess_env(), capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode != 0 or not tiny_models_present(models_dir):
        raise RuntimeError(f"tiny model generation failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------------------
# Server
# ----------------------------------------------------------------------------------------

class ServerError(RuntimeError):
    """The server failed to start, died, or reported a startup problem."""


class PromptRejected(RuntimeError):
    """``POST /prompt`` answered 400; ``.body`` holds ``{error, node_errors}``."""

    def __init__(self, body: dict):
        self.body = body
        self.error = body.get("error")
        self.node_errors = body.get("node_errors", {})
        super().__init__(f"prompt rejected: {json.dumps(self.error)}; node_errors: {json.dumps(self.node_errors)}")


class PromptFailed(RuntimeError):
    """The prompt ran and failed; ``.entry`` is the history entry, ``.error`` the execution_error."""

    def __init__(self, entry: dict, error: dict | None):
        self.entry = entry
        self.error = error or {}
        msg = self.error.get("exception_message") or json.dumps(entry.get("status"))
        where = f"{self.error.get('node_type')} (node {self.error.get('node_id')})" if self.error else "?"
        tb = "".join(self.error.get("traceback") or [])
        super().__init__(f"prompt failed in {where}: {msg}\n{tb}")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    """A real ``main.py --cpu`` server on a free loopback port, isolated in ``base_dir``.

    ``base_dir`` becomes ComfyUI's ``--base-directory`` (models, custom_nodes, input,
    output, temp, user) and also holds ``comfyui.db`` and ``server.log``.

    Parameters:
        base_dir: test base directory (created).
        env: :class:`ComfyEnv` (default: from the environment; ServerError if missing).
        packs: custom node folders to symlink and whitelist. Known names: ``"te_adjust"``,
            ``"probe"`` (tests/e2e) and :data:`PACK_DIR_NAME` (this repository). Default:
            all three. Use ``("te_adjust", "probe")`` to run core-only graphs while the
            pack itself may not import yet.
        models_dir: where the tiny models are (generated there if missing); default
            :func:`shared_models_dir` (generated once, reused by every server). Unless it
            is ``<base_dir>/models`` itself, each tiny file is symlinked into
            ``<base_dir>/models/<folder>/`` (real folders, so a test may add files).
        extra_args: more ``main.py`` arguments.
        startup_timeout: seconds to wait for readiness.
        check_import_failures: raise if the log reports "IMPORT FAILED" for a whitelisted pack.
        extra_env: extra environment variables for the ComfyUI process.
    """

    def __init__(self, base_dir, env: ComfyEnv | None = None, packs: Sequence[str] = ALL_PACKS,
                 models_dir=None, extra_args: Iterable[str] = (), startup_timeout: float = 240,
                 check_import_failures: bool = True, extra_env: dict | None = None):
        self.base_dir = Path(base_dir).resolve()
        self.env = env or comfy_env()
        if self.env is None:
            raise ServerError(comfy_env_reason())
        self.packs = tuple(packs)
        unknown = [p for p in self.packs if p not in TEST_PACKS and p != PACK_DIR_NAME]
        if unknown:
            raise ValueError(f"unknown packs {unknown}; known: {sorted(TEST_PACKS) + [PACK_DIR_NAME]}")
        self.models_dir = Path(models_dir).resolve() if models_dir else shared_models_dir(self.env)
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.check_import_failures = check_import_failures
        self.extra_env = dict(extra_env or {})
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.log_path = self.base_dir / "server.log"
        self.client_id = uuid.uuid4().hex
        self.timings: dict[str, float] = {}

    # -- paths ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def input_dir(self) -> Path:
        return self.base_dir / "input"

    @property
    def output_dir(self) -> Path:
        return self.base_dir / "output"

    @property
    def log(self) -> str:
        """The server's combined stdout/stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> "ComfyServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def prepare(self) -> None:
        """Create the base directory layout, the tiny models and the custom node links."""
        for sub in ("custom_nodes", "input", "output", "temp", "user", "models"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        self.timings["generate_models"] = ensure_tiny_models(self.models_dir, self.env)
        self.timings["prepare_models_wall"] = time.perf_counter() - t0
        if self.models_dir != self.base_dir / "models":
            for rel in TINY_MODEL_FILES:  # per-file links: tests may add files of their own
                _symlink(self.models_dir / rel, self.base_dir / "models" / rel)
        for name in self.packs:
            target = TEST_PACKS.get(name, REPO_ROOT)
            _symlink(target, self.base_dir / "custom_nodes" / name)

    def command(self) -> list[str]:
        return [
            self.env.comfy_python, "main.py",
            "--cpu",
            "--listen", "127.0.0.1",
            "--port", str(self.port),
            "--base-directory", str(self.base_dir),
            "--database-url", f"sqlite:///{self.base_dir / 'comfyui.db'}",
            "--disable-auto-launch",
            "--disable-api-nodes",
            "--disable-all-custom-nodes",
            "--whitelist-custom-nodes", *self.packs,
            *self.extra_args,
        ]

    def start(self) -> "ComfyServer":
        """prepare(), launch on a free port (3 tries if the port got taken), wait, check imports."""
        self.prepare()
        try:
            last_error = None
            for _attempt in range(3):
                self.port = free_port()
                try:
                    self._launch()
                    break
                except ServerError as e:
                    last_error = e
                    if "address already in use" not in self.log.lower():
                        raise
            else:
                raise last_error
            if self.check_import_failures:
                self.check_imports()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self) -> None:
        t0 = time.perf_counter()
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.command(), cwd=str(self.env.comfyui_path), env=subprocess_env(self.extra_env),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"ComfyUI exited with {self.proc.returncode} during startup:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/system_stats", timeout=2) as r:
                    if r.status == 200:
                        self.timings["startup"] = time.perf_counter() - t0
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise ServerError(f"ComfyUI not ready after {self.startup_timeout}s:\n{self.log_tail()}")

    def import_failures(self) -> list[str]:
        """Log lines reporting a failed import of one of the whitelisted packs."""
        bad = []
        for line in _ANSI.sub("", self.log).splitlines():
            if "IMPORT FAILED" in line and any(line.rstrip().endswith(os.sep + name) for name in self.packs):
                bad.append(line.strip())
        return bad

    def check_imports(self) -> None:
        bad = self.import_failures()
        if bad:
            raise ServerError("custom node import failed:\n" + "\n".join(bad) + "\n" + self.log_tail())

    def stop(self, timeout: float = 15) -> None:
        """Terminate the server (SIGTERM to its process group), kill after ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=timeout)

    def log_tail(self, chars: int = 6000) -> str:
        return self.log[-chars:]

    def _check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise ServerError(f"ComfyUI is not running (exit code {code}):\n{self.log_tail()}")

    # -- HTTP ----------------------------------------------------------------------------
    def _request(self, path: str, data: bytes | None = None, headers: dict | None = None,
                 timeout: float = 60):
        req = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        return urllib.request.urlopen(req, timeout=timeout)

    def get_json(self, path: str, timeout: float = 60):
        """GET ``path`` (e.g. ``/object_info/LoadVideo``) and decode the JSON body."""
        with self._request(path, timeout=timeout) as r:
            return json.loads(r.read())

    def get_bytes(self, path: str, timeout: float = 60) -> bytes:
        with self._request(path, timeout=timeout) as r:
            return r.read()

    def post_json(self, path: str, payload, timeout: float = 60):
        body = json.dumps(payload).encode()
        with self._request(path, body, {"Content-Type": "application/json"}, timeout) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def post_prompt(self, prompt: dict, extra_data: dict | None = None) -> str:
        """Queue an API-format prompt; returns the prompt id.

        Raises :class:`PromptRejected` (with ``node_errors``) when validation fails.
        """
        self._check_alive()
        payload = {"prompt": prompt, "client_id": self.client_id}
        if extra_data:
            payload["extra_data"] = extra_data
        try:
            body = self.post_json("/prompt", payload)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = {"error": raw.decode(errors="replace")}
            raise PromptRejected(parsed) from None
        if body.get("node_errors"):
            raise PromptRejected(body)
        return body["prompt_id"]

    def history(self, prompt_id: str) -> dict | None:
        return self.get_json(f"/history/{prompt_id}").get(prompt_id)

    def wait(self, prompt_id: str, timeout: float = 300, poll: float = 0.1) -> dict:
        """Poll ``/history/<id>`` until the prompt finished; returns the history entry.

        Raises :class:`PromptFailed` with the execution error (message, node, traceback)
        when the prompt failed, :class:`ServerError` if the server died, TimeoutError.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            entry = self.history(prompt_id)
            if entry is not None:  # history entries appear once a prompt has finished
                status = entry.get("status") or {}
                if status.get("status_str") == "error" or not status.get("completed", True):
                    raise PromptFailed(entry, _execution_error(status))
                return entry
            time.sleep(poll)
        raise TimeoutError(f"prompt {prompt_id} not finished after {timeout}s:\n{self.log_tail()}")

    def run(self, prompt: dict, timeout: float = 300) -> dict:
        """post_prompt + wait."""
        return self.wait(self.post_prompt(prompt), timeout=timeout)

    def download(self, filename: str, subfolder: str = "", type: str = "output") -> bytes:
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": type})
        return self.get_bytes(f"/view?{query}")

    def download_outputs(self, entry: dict, dest_dir, node_id: str | None = None) -> list[Path]:
        """Download every file listed in a history entry's outputs (optionally one node's)."""
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        paths = []
        for item in output_files(entry, node_id):
            target = dest / item["filename"]
            target.write_bytes(self.download(item["filename"], item.get("subfolder", ""), item.get("type", "output")))
            paths.append(target)
        return paths

    def upload_file(self, local_path, subfolder: str = "", type: str = "input", overwrite: bool = True) -> str:
        """``POST /upload/image`` (any file type); returns the name to use in a prompt."""
        local_path = Path(local_path)
        boundary = uuid.uuid4().hex
        fields = {"type": type, "subfolder": subfolder, "overwrite": "true" if overwrite else "false"}
        parts = []
        for key, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{local_path.name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + local_path.read_bytes() + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        with self._request("/upload/image", b"".join(parts),
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"}) as r:
            body = json.loads(r.read())
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else body["name"]

    def object_info(self, node_class: str | None = None) -> dict:
        return self.get_json("/object_info" + (f"/{node_class}" if node_class else ""))


def output_files(entry: dict, node_id: str | None = None) -> list[dict]:
    """``{filename, subfolder, type}`` items of a history entry's outputs (all ui lists)."""
    items = []
    for nid, outputs in (entry.get("outputs") or {}).items():
        if node_id is not None and str(nid) != str(node_id):
            continue
        for value in outputs.values():
            if isinstance(value, list):
                items.extend(v for v in value if isinstance(v, dict) and "filename" in v)
    return items


def _execution_error(status: dict) -> dict | None:
    for message in status.get("messages") or []:
        if isinstance(message, list) and len(message) == 2 and message[0] == "execution_error":
            return message[1]
    return None


def _symlink(target: Path, link: Path) -> None:
    """Create (or refresh) ``link`` -> ``target``."""
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return
        link.unlink()
    elif link.exists():
        raise FileExistsError(f"{link} exists and is not a symlink")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=target.is_dir())


# ----------------------------------------------------------------------------------------
# Tensor files written by the probe node
# ----------------------------------------------------------------------------------------

def read_probe(path) -> tuple[dict, dict]:
    """Read a probe ``.safetensors`` without torch: ({name: numpy array}, probe metadata).

    bf16 tensors come back as float32 arrays.
    """
    import numpy as np

    data = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    meta = json.loads(header.pop("__metadata__", {}).get("probe", "{}"))
    base = 8 + header_len
    dtypes = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
              "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
    arrays = {}
    for name, spec in header.items():
        start, end = spec["data_offsets"]
        buf = data[base + start:base + end]
        if spec["dtype"] == "BF16":
            raw = np.frombuffer(buf, dtype=np.uint16).astype(np.uint32) << 16
            arr = raw.view(np.float32)
        else:
            arr = np.frombuffer(buf, dtype=dtypes[spec["dtype"]])
        arrays[name] = arr.reshape(spec["shape"]) if spec["shape"] else arr.reshape(())
    return arrays, meta


__all__ = [
    "ALL_PACKS", "CHECKPOINT", "ComfyEnv", "ComfyServer", "DISTILLED_LORA", "IC_LORA", "PACK_DIR_NAME",
    "PROBE", "PromptFailed", "PromptRejected", "ServerError", "TEXT_ENCODER", "TE_ADJUST",
    "TINY_MODEL_FILES", "comfy_env", "comfy_env_reason", "ensure_tiny_models", "free_port",
    "has_audio", "make_clip", "make_image", "output_files", "probe_media", "read_probe",
    "require_comfy_env", "shared_models_dir", "subprocess_env", "tiny_models_present", "video_frame_count",
]
