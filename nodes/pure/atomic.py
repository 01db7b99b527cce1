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
    if fsync_dir:
        _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; best effort: the rename already happened, and
    some file systems refuse fsync on a folder)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def write_bytes(dest: str | os.PathLike, data: bytes, *, fsync: bool = False, suffix: str = ".part",
                mode: int = 0o644) -> None:
    """Atomically replace ``dest`` with ``data``. ``fsync``: the data is flushed to disk before the
    rename and the folder after it, so a crash leaves the old or the new content, never half."""
    with atomic_path(dest, suffix=suffix, mode=mode, fsync_dir=fsync) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
