"""Errors of the media package and the types its functions share.

:class:`MediaError` is a ``ValueError`` whose message names the parameter and the
file, e.g. ``"input_video: 'foo.mp4' has no video stream"``, so the glue can show it
as is (a user-fixable input, never a server error); :class:`MediaCancelled` ends a
decode or encode when its ``should_stop()`` callback says so.
"""
from __future__ import annotations

import os
from typing import Callable, Optional, Union

ProgressFn = Callable[[int, int], None]
StopFn = Callable[[], bool]
PathLike = Union[str, "os.PathLike[str]"]


class MediaError(ValueError):
    """A media file that cannot be used, with a message naming file and problem.

    ``str(err)`` reads e.g. ``"input_video: 'foo.mp4' has no video stream"``.
    Attributes: ``path`` (as given), ``label`` (parameter name or None) and
    ``reason`` (the part after the file name).
    """

    def __init__(self, path: Optional[PathLike], reason: str, *, label: Optional[str] = None):
        self.path = None if path is None else os.fspath(path)
        self.label = label
        self.reason = reason
        super().__init__(_describe(self.path, label) + " " + reason)

    def __reduce__(self):  # keep path/label/reason when pickled (e.g. across processes)
        return (_rebuild_media_error, (self.path, self.reason, self.label))


def _rebuild_media_error(path, reason, label):
    return MediaError(path, reason, label=label)


class MediaCancelled(RuntimeError):
    """Raised when a ``should_stop`` callback asks a decode/encode to stop."""


def _describe(path: Optional[str], label: Optional[str]) -> str:
    name = repr(os.path.basename(path) or path) if path else "<no file>"
    return f"{label}: {name}" if label else name
