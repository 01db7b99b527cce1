"""``generate --comfyui PATH``: start that ComfyUI on a free loopback port, stop it afterwards."""
from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .errors import EXIT_USAGE, CliError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_comfy_python(comfyui: Path) -> str:
    env = os.environ.get("COMFY_PYTHON")
    if env:
        return env
    for rel in ("venv/bin/python", ".venv/bin/python", "venv/Scripts/python.exe", ".venv/Scripts/python.exe",
                "../python_embeded/python.exe", "python_embeded/python.exe"):
        cand = comfyui / rel
        if cand.is_file():
            return str(cand)
    return sys.executable


class LocalComfy:
    """``main.py`` of a ComfyUI checkout on a free loopback port, stopped by :meth:`stop`."""

    def __init__(self, path: str, python: str | None = None, extra_args=(), startup_timeout: float = 600,
                 say=print):
        self.path = Path(path).expanduser().resolve()
        if not (self.path / "main.py").is_file():
            raise CliError(f"--comfyui {path}: no main.py there (give the ComfyUI folder)", EXIT_USAGE)
        self.python = python or default_comfy_python(self.path)
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="rv2v-comfyui-", suffix=".log", delete=False)
        self.say = say
        self.keep_log = True  # cleared after a successful run: close() then removes the log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return Path(self.log.name).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self) -> "LocalComfy":
        self.port = free_port()
        cmd = [self.python, "main.py", "--listen", "127.0.0.1", "--port", str(self.port),
               "--disable-auto-launch", *self.extra_args]
        self.say(f"starting ComfyUI: {' '.join(shlex.quote(c) for c in cmd)} (in {self.path}; log {self.log.name})")
        kwargs = {"start_new_session": True} if os.name == "posix" else {}
        self.proc = subprocess.Popen(cmd, cwd=str(self.path), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, **kwargs)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CliError(f"ComfyUI exited with {self.proc.returncode} during startup:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/system_stats", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise CliError(f"ComfyUI did not answer within {self.startup_timeout:.0f}s:\n{self.log_tail()}")

    def remove_log(self) -> None:
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass

    def stop(self, timeout: float = 20) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.terminate()
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait(timeout=timeout)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        """Stop it; keep its log (and say where it is) unless :attr:`keep_log` was cleared."""
        self.stop()
        if self.keep_log:
            self.say(f"stopped ComfyUI (its log: {self.log.name})")
        else:
            self.remove_log()
            self.say("stopped ComfyUI")
