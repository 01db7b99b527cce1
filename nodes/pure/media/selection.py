"""Which source frame each output frame shows: exact index math and the streaming selectors.

Rates are exact fractions (:func:`_as_fraction`) and halves round up, so the same
inputs give the same frames on every machine. :func:`source_indices_for_fps` and
:func:`uniform_indices` are the closed forms (constant-rate source, known count); the
selectors apply the same rules while decoding (see :mod:`.decode` for the modes):

* :class:`_TimeSelector` (``"time"``): output ``i`` shows the frame whose timestamp is
  nearest to ``i / fps_out`` (ties: the later frame); past the end, the last frame.
* :class:`_IndexSelector` (``"uniform"``, ``"native"`` with a count): wanted indices.
* :class:`_AllSelector` (``"native"`` without a count): every frame.

Each selector's ``feed`` returns ``(frame, output positions)`` pairs; ``finish`` adds
the padded positions (the last frame held) and their count.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Dict, List, Optional, Sequence, Tuple


def _as_fraction(value, what: str = "fps") -> Fraction:
    """Exact rate: Fractions/ints as is, floats to the simplest close fraction
    (``29.97002997`` -> ``30000/1001``, ``23.976`` -> ``2997/125``)."""
    if isinstance(value, Fraction):
        frac = value
    elif isinstance(value, int):
        frac = Fraction(value)
    else:
        as_float = float(value)
        if not math.isfinite(as_float):
            raise ValueError(f"{what} must be a finite number, got {value!r}")
        frac = Fraction(as_float).limit_denominator(1_000_000)
    if frac <= 0:
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    return frac


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def source_indices_for_fps(n_src: int, fps_src, fps_out, n_out: int) -> Tuple[List[int], int]:
    """Time-based resampling of a constant-rate source: ``(indices, padded)``.

    ``src = round(i * fps_src / fps_out)`` for ``i`` in ``range(n_out)``,
    computed exactly (rates as fractions, halves rounded up). Indices at or
    past ``n_src`` hold the last frame (``n_src - 1``); ``padded`` counts them.
    """
    if n_src < 1:
        raise ValueError(f"n_src must be >= 1, got {n_src}")
    if n_out < 0:
        raise ValueError(f"n_out must be >= 0, got {n_out}")
    ratio = _as_fraction(fps_src, "fps_src") / _as_fraction(fps_out, "fps_out")
    indices, padded = [], 0
    for i in range(n_out):
        idx = _round_half_up(i * ratio)
        if idx >= n_src:
            idx, padded = n_src - 1, padded + 1
        indices.append(idx)
    return indices, padded


def uniform_indices(n_src: int, n_out: int) -> List[int]:
    """``round(linspace(0, n_src - 1, n_out))`` (exact, halves rounded up):
    the first and last source frames are always used."""
    if n_src < 1:
        raise ValueError(f"n_src must be >= 1, got {n_src}")
    if n_out < 0:
        raise ValueError(f"n_out must be >= 0, got {n_out}")
    if n_out == 1:
        return [0]
    return [_round_half_up(Fraction(i * (n_src - 1), n_out - 1)) for i in range(n_out)]


class _TimeSelector:
    """Nearest-timestamp selection for output times ``i / fps_out``."""

    def __init__(self, fps_out: Fraction, n_out: Optional[int]):
        self.step = 1 / fps_out
        self.n_out = n_out
        self.next_out = 0
        self.indices: List[int] = []
        self.prev: Optional[Tuple[int, Fraction, object]] = None  # (index, time, frame)

    @property
    def complete(self) -> bool:
        return self.n_out is not None and self.next_out >= self.n_out

    def _take_until(self, limit: Fraction, src_index: int) -> List[int]:
        """Outputs whose time is strictly before ``limit``."""
        taken = []
        while not self.complete and self.next_out * self.step < limit:
            taken.append(self.next_out)
            self.indices.append(src_index)
            self.next_out += 1
        return taken

    def feed(self, index: int, t: Fraction, frame) -> List[Tuple[object, List[int]]]:
        emitted = []
        if self.prev is not None:
            p_index, p_time, p_frame = self.prev
            emitted.append((p_frame, self._take_until((p_time + t) / 2, p_index)))
        self.prev = (index, t, frame)
        return emitted

    def finish(self, last_duration: Fraction) -> Tuple[List[Tuple[object, List[int]]], int]:
        """Outputs up to the end of the last frame, then the padded rest."""
        if self.prev is None:
            return [], 0
        p_index, p_time, p_frame = self.prev
        emitted = [(p_frame, self._take_until(p_time + last_duration / 2, p_index))]
        padded = self._take_until(Fraction(10 ** 18), p_index) if self.n_out is not None else []
        emitted.append((p_frame, padded))
        return emitted, len(padded)


class _AllSelector:
    """Every frame, in decode order (``native`` mode without ``num_frames``)."""

    complete = False

    def __init__(self):
        self.indices: List[int] = []

    def feed(self, index: int, t: Fraction, frame) -> List[Tuple[object, List[int]]]:
        self.indices.append(index)
        return [(frame, [index])]

    def finish(self, last_duration: Fraction) -> Tuple[List[Tuple[object, List[int]]], int]:
        return [], 0


class _IndexSelector:
    """Selection by source frame index (``uniform`` and ``native`` modes)."""

    def __init__(self, indices: Sequence[int]):
        self.wanted: Dict[int, List[int]] = {}
        for pos, idx in enumerate(indices):
            self.wanted.setdefault(idx, []).append(pos)
        self.indices = list(indices)
        self.last_needed = max(indices) if indices else -1
        self.seen = -1
        self.last_frame = None

    @property
    def complete(self) -> bool:
        return self.seen >= self.last_needed

    def feed(self, index: int, t: Fraction, frame) -> List[Tuple[object, List[int]]]:
        self.seen, self.last_frame = index, frame
        return [(frame, self.wanted.get(index, []))]

    def finish(self, last_duration: Fraction) -> Tuple[List[Tuple[object, List[int]]], int]:
        missing = sorted(pos for idx, ps in self.wanted.items() if idx > self.seen for pos in ps)
        for pos in missing:
            self.indices[pos] = self.seen
        if self.last_frame is None:
            return [], 0
        return [(self.last_frame, missing)], len(missing)
