"""Inspect an encoded MP4 for the tests (decodes it fully): codec, size, frame count,
colour tags, the CRF from x264's settings string and the top-level box order.

Test-only helper (the pack itself never inspects its output); used by tests/test_media.py
and tests/e2e/test_preset_e2e.py. The file is opened through the pack's own safe opener
(``nodes/pure/media/probe.py``). MP4 boxes: a 4-byte big-endian size (1 = a 64-bit size
follows the type, 0 = to the end of the file) then a 4-byte type (ISO/IEC 14496-12);
x264 writes its options as a text SEI ("x264 - core ... crf=...").
"""
from __future__ import annotations

import os
import re
from typing import List, Optional

from rv2v.nodes.pure.media.probe import _open_input, _stream_duration, _stream_rate, _video_stream


def _top_level_boxes(path: str, limit: int = 64) -> List[str]:
    """Names of the top-level MP4 boxes in file order."""
    names = []
    with open(path, "rb") as fh:
        size_total = os.fstat(fh.fileno()).st_size
        pos = 0
        while pos + 8 <= size_total and len(names) < limit:
            fh.seek(pos)
            head = fh.read(16)
            size = int.from_bytes(head[:4], "big")
            names.append(head[4:8].decode("latin-1"))
            if size == 1:
                size = int.from_bytes(head[8:16], "big")
            elif size == 0:
                break
            if size < 8:
                break
            pos += size
    return names


def _x264_crf(path: str) -> Optional[float]:
    """The CRF recorded in x264's SEI settings string, if present."""
    with open(path, "rb") as fh:
        data = fh.read(4 * 1024 * 1024)
    match = re.search(rb"x264 - core.*?crf=([0-9.]+)", data, re.S)
    return float(match.group(1)) if match else None


def inspect_mp4(path) -> dict:
    """Describe an encoded file (decodes it fully; meant for tests/diagnostics).

    Keys: ``video_codec``, ``pix_fmt``, ``width``, ``height``, ``frames``
    (decoded count), ``fps``, ``duration``, ``color_primaries``,
    ``color_trc``, ``colorspace``, ``color_range`` (ints, 1 = BT.709 /
    limited), ``crf`` (from x264's settings), ``faststart`` (moov before
    mdat), ``boxes`` and ``audio`` (None, or a dict with ``codec``,
    ``sample_rate``, ``channels``, ``duration``).
    """
    p = os.fspath(path)
    with _open_input(p, None) as container:
        vs = _video_stream(container, p, None)
        cc = vs.codec_context
        rate, _ = _stream_rate(vs)
        first = None
        count = 0
        for frame in container.decode(vs):
            first = first or frame
            count += 1
        info = {
            "format": container.format.name,
            "video_codec": cc.name,
            "pix_fmt": cc.pix_fmt,
            "width": cc.width,
            "height": cc.height,
            "frames": count,
            "fps": float(rate) if rate else None,
            "rate": rate,
            "duration": _stream_duration(vs, container),
            "color_primaries": getattr(first, "color_primaries", None),
            "color_trc": getattr(first, "color_trc", None),
            "colorspace": getattr(first, "colorspace", None),
            "color_range": getattr(first, "color_range", None),
            "audio": None,
        }
        if container.streams.audio:
            a = container.streams.audio[0]
            info["audio"] = {
                "codec": a.codec_context.name,
                "sample_rate": int(a.rate),
                "channels": int(a.channels),
                "duration": float(a.duration * a.time_base) if a.duration else None,
            }
    boxes = _top_level_boxes(p)
    info["boxes"] = boxes
    info["faststart"] = "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")
    info["crf"] = _x264_crf(p)
    return info
