"""Atomic file writes (pure; standard library only): write to a hidden temp name in the
destination folder, then rename into place; on any failure the temp file is removed and
an existing destination is left untouched."""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str = ".part", mode: int = 0o644,
                fsync_dir: bool = False) -> Iterator[str]:
    """Yield a temp path next to ``dest``; rename it to ``dest`` when the block succeeds."""
    dest = os.path.abspath(os.fspath(dest))
    folder = os.path.dirname(dest)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(dest) + ".", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        _unlink(tmp)
        raise
    if fsync_dir and hasattr(os, "O_DIRECTORY"):
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_bytes(dest: str | os.PathLike, data: bytes, *, fsync: bool = False) -> None:
    """Atomically replace ``dest`` with ``data``."""
    with atomic_path(dest, fsync_dir=fsync) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
