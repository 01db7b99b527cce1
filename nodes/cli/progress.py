"""The progress bar of ``generate`` and ``control`` (stderr)."""
from __future__ import annotations

import sys


class ProgressBar:
    """``[#######-------]  42% label`` on a terminal (redrawn), or a line per 10% otherwise."""

    def __init__(self, stream=None, width: int = 30, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_step = -1
        self.last_label = None
        self.shown = False

    def render(self, fraction: float, label: str = "") -> str:
        fraction = min(1.0, max(0.0, fraction))
        fill = int(round(fraction * self.width))
        return f"[{'#' * fill}{'-' * (self.width - fill)}] {fraction * 100:5.1f}% {label}".rstrip()

    def update(self, fraction: float, label: str = "") -> None:
        if not self.enabled:
            return
        line = self.render(fraction, label)
        if self.tty:
            self.stream.write("\r" + line[:200].ljust(100))
            self.stream.flush()
            self.shown = True
            return
        step = int(fraction * 10)
        if step != self.last_step or label != self.last_label:
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last_step, self.last_label = step, label

    def close(self) -> None:
        if self.enabled and self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()
