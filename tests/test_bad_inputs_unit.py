"""The bad-input corpus at the pure level (no ComfyUI): every case gets its own message naming the field.

The corpus is shared with ``tests/e2e/test_bad_inputs.py`` (which loads this file by path), where
the same cases go through a real server's HTTP API, the Settings node's validation (``POST /prompt``)
and the CLI. Here they go through:

* ``api.parse_json_body`` + ``api.parse_request`` (what the HTTP API runs first): status, field, message;
* ``params.validate`` (what the Settings node's ``validate_inputs`` runs) for the field-level cases;
* ``cli.main(["generate", "--request", ...])`` in-process: exit 2 before contacting any server;
* ``sources.resolve`` + ``media.probe_video`` / ``media.load_image`` for the media cases
  (files written by :func:`write_bad_media`: audio-only, zero-frame, damaged, truncated,
  text renamed .mp4, empty, symlinks out of the input folder, ...), and the cache holds
  no partial or empty file afterwards.

Decisions recorded here: a JSON body that gives a field twice is refused (400 naming the field);
``NaN``/``Infinity`` literals are accepted by the decoder and refused by validation naming the
field; integers longer than ``api.MAX_INT_DIGITS`` digits are refused naming the field; prompts
longer than ``params.MAX_PROMPT_CHARS`` (20000) characters are refused naming the limit (so a
100 kB prompt is refused); unpaired surrogates and NUL characters in strings are refused; JSON
``null`` means "absent" (the default applies).
"""
from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pytest

from rv2v.nodes.pure import api, params

MODEL = params.MODEL_ID
PROMPT = "A yellow square and a blue disc glide across a soft gradient."
DROP = object()  #: marks a field to remove from the base request

#: The 100 kB prompt of the brief: longer than params.MAX_PROMPT_CHARS, so refused naming the limit.
BIG_PROMPT = "a slow pan over a meadow, " * 4000  # 104,000 characters
assert len(BIG_PROMPT) > params.MAX_PROMPT_CHARS


class Case(NamedTuple):
    """One bad input.

    body: overrides of the base request (``DROP`` removes a field), or a callable
      ``base -> bytes`` for a raw body;
    field / fragment: the field the message must name and a distinctive part of the message;
    status: the HTTP API's answer;
    node: what the Settings node does with it inside ComfyUI (``POST /prompt``): "same" (its
      validate_inputs refuses it with field and fragment), ("core", text) (ComfyUI's own input
      conversion refuses it first: the message names the field and holds text), ("run", text)
      (validation accepts it, the Settings node fails when it runs: URLs and data: URIs are
      fetched then), or None (not applicable: ComfyUI's own body parsing, or core turns the
      value into a valid one, e.g. "9" -> 9);
    where: "client" (the CLI refuses it itself, exit 2) or "server" (it needs the server's
      files or network: exit 1 with the server's message);
    cli: False when the case means something else to the CLI (a local absolute path is a file
      the CLI uploads).
    """

    name: str
    body: Any
    field: str
    fragment: str
    status: int = 400
    node: Any = "same"
    where: str = "client"
    cli: bool = True


def _raw(text_of: Callable[[dict], str]) -> Callable[[dict], bytes]:
    return lambda base: text_of(base).encode("utf-8")


def _members(base: dict) -> str:
    """The base request's members as JSON text, without braces."""
    return json.dumps(base)[1:-1]


def _dup(field: str, first: Any) -> Callable[[dict], bytes]:
    """A body naming ``field`` twice (the first value ``first``, then the base's valid one)."""
    return _raw(lambda base: "{" + json.dumps(field) + ": " + json.dumps(first) + ", " + _members(base) + "}")


#: Request-level cases: everything the parameter table and the JSON decoder decide.
REQUEST_CASES: list[Case] = [
    # -- the body itself ----------------------------------------------------------------------
    Case("not json", lambda base: b"{nope", "request", "not valid JSON", node=None),
    Case("empty body", lambda base: b"", "request", "body is empty", node=None),
    Case("whitespace body", lambda base: b"  \n\t ", "request", "body is empty", node=None),
    Case("not utf-8", lambda base: b'{"prompt": "\xff\xfe"}', "request", "not UTF-8", node=None),
    Case("json array", lambda base: b"[1, 2]", "request", "must be a JSON object", node=None),
    Case("json string", lambda base: b'"a fox"', "request", "must be a JSON object", node=None),
    Case("json null", lambda base: b"null", "request", "must be a JSON object", node=None),
    Case("trailing garbage", _raw(lambda base: json.dumps(base) + " x"), "request", "not valid JSON", node=None),
    Case("deeply nested", lambda base: b"[" * 100000 + b"]" * 100000, "request", "nests too deeply", node=None),
    Case("duplicate prompt", _dup("prompt", "first"), "prompt", "more than once", node=None),
    Case("duplicate input_video", _dup("input_video", "other.mp4"), "input_video", "more than once", node=None),
    Case("duplicate num_frames", _dup("num_frames", 17), "num_frames", "more than once", node=None),
    Case("5000-digit seed", _raw(lambda base: "{" + _members(base) + ', "seed": 1' + "0" * 5000 + "}"),
         "seed", "5001 digits", node=None),
    # -- model ----------------------------------------------------------------------------------
    Case("wrong model id", {"model": "ltx-2-fast"}, "model", "unknown model id", 404, node=None),
    Case("empty model id", {"model": ""}, "model", "unknown model id", 404, node=None),
    Case("model not a string", {"model": 3}, "model", "must be a string", node=None),
    # -- unknown fields -------------------------------------------------------------------------
    Case("unknown field", {"motion_bucket": 3}, "motion_bucket", "is not a parameter", node=None),
    Case("misspelt field", {"input-video": "a.mp4"}, "input-video", "did you mean 'input_video'", node=None),
    Case("wrong case field", {"Prompt": "x"}, "Prompt", "did you mean 'prompt'", node=None),
    # -- missing and empty required fields -------------------------------------------------------
    Case("prompt missing", {"prompt": DROP}, "prompt", "is required", node=("core", "Required input is missing")),
    Case("prompt null", {"prompt": None}, "prompt", "is required", node=None),  # core: str(None) == "None"
    Case("prompt empty", {"prompt": ""}, "prompt", "must not be empty"),
    Case("prompt whitespace", {"prompt": " \n\t "}, "prompt", "must not be empty"),
    Case("input_video missing", {"input_video": DROP}, "input_video", "is required",
         node=("core", "Required input is missing")),
    Case("input_video empty", {"input_video": ""}, "input_video", "is required"),
    # -- wrong JSON types -----------------------------------------------------------------------
    Case("prompt number", {"prompt": 123}, "prompt", "got int", node=None),  # core: str(123)
    Case("prompt list", {"prompt": ["a fox"]}, "prompt", "got list", node=("core", "Bad linked input")),
    Case("prompt object", {"prompt": {"text": "a fox"}}, "prompt", "got dict", node=None),
    Case("num_frames string", {"num_frames": "9"}, "num_frames", "got str", node=None),  # core: int("9")
    Case("num_frames word", {"num_frames": "nine"}, "num_frames", "got str",
         node=("core", "Failed to convert an input value to a INT value")),
    Case("num_frames bool", {"num_frames": True}, "num_frames", "got bool", node=("same", "from 9 to 481")),
    Case("num_frames fraction", {"num_frames": 9.5}, "num_frames", "got 9.5", node=None),  # core: int(9.5)
    Case("video_strength string", {"video_strength": "0.5"}, "video_strength", "got str", node=None),
    Case("generate_audio string", {"generate_audio": "false"}, "generate_audio", "true or false", node=None),
    Case("generate_audio number", {"generate_audio": 1}, "generate_audio", "true or false", node=None),
    Case("skip_control_preprocess word", {"skip_control_preprocess": "yes"}, "skip_control_preprocess",
         "true or false", node=None),
    Case("seed fraction", {"seed": 1.5}, "seed", "got 1.5", node=None),
    Case("seed string", {"seed": "42"}, "seed", "got str", node=None),
    Case("input_video number", {"input_video": 42}, "input_video", "got int"),
    Case("input_video list", {"input_video": ["a.mp4"]}, "input_video", "got list",
         node=("core", "Bad linked input")),
    Case("input_image object", {"input_image": {"url": "x.png"}}, "input_image", "got dict", node=None),
    Case("resolution number", {"resolution": 1}, "resolution", "one of 'auto'"),
    Case("video_quality list", {"video_quality": ["high"]}, "video_quality", "one of 'low'",
         node=("core", "Bad linked input")),
    # -- NaN, infinities, huge numbers ------------------------------------------------------------
    Case("fps NaN", {"frames_per_second": float("nan")}, "frames_per_second", "got nan"),
    Case("video_strength Infinity", {"video_strength": float("inf")}, "video_strength", "got inf"),
    Case("strength -Infinity", {"strength": float("-inf")}, "strength", "got -inf"),
    Case("fps 1e999", _raw(lambda base: "{" + _members(base).replace('"frames_per_second": 8',
                                                                     '"frames_per_second": 1e999') + "}"),
         "frames_per_second", "got inf", node=None),
    Case("seed 2**64", {"seed": 2 ** 64}, "seed", "to 18446744073709551615"),
    Case("seed negative", {"seed": -1}, "seed", "from 0"),
    Case("num_frames 10**30", {"num_frames": 10 ** 30}, "num_frames", "from 9 to 481"),
    Case("num_frames 1e308", {"num_frames": 1e308}, "num_frames", "got 1e+308",
         node=("same", "from 9 to 481")),  # core: int(1e308) first
    Case("video_strength 10**400", {"video_strength": 10 ** 400}, "video_strength", "401 digits",
         node=("core", "Failed to convert an input value to a FLOAT value")),
    # -- out of range -----------------------------------------------------------------------------
    Case("num_frames 8", {"num_frames": 8}, "num_frames", "from 9 to 481, got 8"),
    Case("num_frames 482", {"num_frames": 482}, "num_frames", "from 9 to 481, got 482"),
    Case("num_frames 0", {"num_frames": 0}, "num_frames", "got 0"),
    Case("num_frames negative", {"num_frames": -9}, "num_frames", "got -9"),
    Case("fps 0", {"frames_per_second": 0}, "frames_per_second", "from 1 to 60, got 0"),
    Case("fps 60.5", {"frames_per_second": 60.5}, "frames_per_second", "got 60.5"),
    Case("strength 0", {"strength": 0}, "strength", "greater than 0"),
    Case("strength 1.01", {"strength": 1.01}, "strength", "got 1.01"),
    Case("video_strength negative", {"video_strength": -0.1}, "video_strength", "got -0.1"),
    # -- invalid enum values ----------------------------------------------------------------------
    Case("resolution 1080p", {"resolution": "1080p"}, "resolution", "got '1080p'"),
    Case("resolution wrong case", {"resolution": "AUTO"}, "resolution", "got 'AUTO'"),
    Case("video_quality ultra", {"video_quality": "ultra"}, "video_quality", "got 'ultra'"),
    Case("control_type edges", {"control_type": "edges"}, "control_type", "got 'edges'"),
    # -- text: length, NUL, unicode ---------------------------------------------------------------
    Case("100 kB prompt", {"prompt": BIG_PROMPT}, "prompt", f"at most {params.MAX_PROMPT_CHARS}"),
    Case("100 kB negative_prompt", {"negative_prompt": BIG_PROMPT}, "negative_prompt",
         f"at most {params.MAX_PROMPT_CHARS}"),
    Case("prompt NUL", {"prompt": "a fox\x00"}, "prompt", "NUL"),
    Case("prompt lone surrogate", {"prompt": "a fox \ud800"}, "prompt", "unpaired surrogate"),
    Case("negative_prompt lone surrogate", {"negative_prompt": "\udfff"}, "negative_prompt", "unpaired surrogate"),
    Case("input_video NUL", {"input_video": "clip\x00.mp4"}, "input_video", "NUL"),
    Case("100 kB enum value", {"resolution": "x" * 100000}, "resolution", "(100000 characters)"),
    # -- combinations -----------------------------------------------------------------------------
    Case("preserve without control video", {"preserve_original_video": True}, "preserve_original_video",
         "requires"),
]

#: Names of the bad media files :func:`write_bad_media` writes into an input folder.
BAD_MEDIA = ("audio_only.mp4", "zero_frames.mp4", "damaged.mp4", "truncated.mp4", "head_only.mp4",
             "random.mp4", "text.mp4", "empty.mp4", "corrupt.png", "empty.png", "text.png",
             "link_out.mp4", "link_out_clip.mp4")

#: Media cases: files in the input folder, path escapes, URL schemes, data: URIs.
MEDIA_CASES: list[Case] = [
    Case("missing file", {"input_video": "not_uploaded.mp4"}, "input_video", "not found", where="server"),
    Case("audio-only mp4", {"input_video": "audio_only.mp4"}, "input_video", "no video stream", where="server"),
    Case("zero-frame video", {"input_video": "zero_frames.mp4"}, "input_video", "no decodable frames",
         where="server"),
    Case("damaged payload", {"input_video": "damaged.mp4"}, "input_video", "damaged.mp4", where="server"),
    Case("truncated mp4", {"input_video": "truncated.mp4"}, "input_video", "truncated", where="server"),
    Case("header-only mp4", {"input_video": "head_only.mp4"}, "input_video", "truncated", where="server"),
    Case("random bytes .mp4", {"input_video": "random.mp4"}, "input_video", "not a readable media file",
         where="server"),
    Case("text renamed .mp4", {"input_video": "text.mp4"}, "input_video", "not a readable media file",
         where="server"),
    Case("empty file", {"input_video": "empty.mp4"}, "input_video", "empty", where="server"),
    Case("image: corrupt png", {"input_image": "corrupt.png"}, "input_image", "corrupt.png", where="server"),
    Case("image: empty png", {"input_image": "empty.png"}, "input_image", "empty", where="server"),
    Case("image: text renamed .png", {"input_image": "text.png"}, "input_image", "text.png", where="server"),
    Case("image: audio-only file", {"input_image": "audio_only.mp4"}, "input_image", "not an image",
         where="server"),
    Case("control video: text", {"control_video_url": "text.mp4", "skip_control_preprocess": True},
         "control_video_url", "not a readable media file", where="server"),
    Case("path escape ../", {"input_video": "../x.mp4"}, "input_video", "'..'", where="server"),
    Case("path escape sub/../..", {"input_video": "sub/../../x.mp4"}, "input_video", "'..'", where="server"),
    Case("path escape backslash", {"input_video": "..\\x.mp4"}, "input_video", "'..'", where="server"),
    Case("image path escape", {"input_image": "../../etc/x.png"}, "input_image", "'..'", where="server"),
    Case("absolute path", {"input_video": "/etc/passwd"}, "input_video", "absolute path", where="server",
         cli=False),
    Case("protocol-relative path", {"input_video": "//evil.example/x.mp4"}, "input_video", "absolute path",
         where="server"),
    Case("windows drive path", {"input_video": "C:\\x.mp4"}, "input_video", "absolute path", where="server"),
    Case("symlink out of the input folder", {"input_video": "link_out.mp4"}, "input_video",
         "outside ComfyUI's input folder", where="server"),
    Case("symlink to a video outside", {"input_video": "link_out_clip.mp4"}, "input_video",
         "outside ComfyUI's input folder", where="server"),
    Case("output folder annotation", {"input_video": "x.mp4 [output]"}, "input_video", "[output]",
         where="server"),
    Case("file name too long", {"input_video": "a" * 300 + ".mp4"}, "input_video", "too long", where="server"),
    Case("ftp scheme", {"input_video": "ftp://example.com/a.mp4"}, "input_video", "'ftp'"),
    Case("file scheme", {"input_video": "file:///etc/passwd"}, "input_video", "'file'"),
    Case("gopher scheme", {"control_video_url": "gopher://example.com/x", "skip_control_preprocess": True},
         "control_video_url", "'gopher'"),
    Case("image ssh scheme", {"input_image": "ssh://host/x.png"}, "input_image", "'ssh'"),
    Case("loopback URL", {"input_video": "http://127.0.0.1:9/x.mp4"}, "input_video", "non-public address",
         node=("run", "non-public address"), where="server"),
    Case("metadata-service URL", {"input_video": "http://169.254.169.254/latest/meta-data"}, "input_video",
         "non-public address", node=("run", "non-public address"), where="server"),
    Case("IPv6 loopback URL", {"input_image": "http://[::1]:9/x.png"}, "input_image", "non-public address",
         node=("run", "non-public address"), where="server"),
    Case("URL without host", {"input_video": "http:///x.mp4"}, "input_video", "http(s) URL",
         node=("run", "http(s) URL"), where="server"),
    Case("data URI bad base64", {"input_video": "data:video/mp4;base64,@@@"}, "input_video", "base64",
         node=("run", "base64"), where="server"),
    Case("data URI not base64", {"input_video": "data:video/mp4,abc"}, "input_video", "base64",
         node=("run", "base64"), where="server"),
    Case("data URI of text", {"input_video": "data:video/mp4;base64," + base64.b64encode(b"not a video" * 9).decode()},
         "input_video", "not a readable media file", node=("run", "not a readable media file"), where="server"),
    Case("empty data URI", {"input_video": "data:video/mp4;base64,"}, "input_video", "empty",
         node=("run", "empty"), where="server"),
]

ALL_CASES = REQUEST_CASES + MEDIA_CASES


def base_request(input_video: str = "clip.mp4") -> dict:
    """The valid request every case starts from (the cheapest generation)."""
    return {"model": MODEL, "prompt": PROMPT, "input_video": input_video, "num_frames": 9,
            "frames_per_second": 8}


def apply(case: Case, base: dict) -> dict | bytes:
    """The case's request: a dict (JSON-encodable) or raw body bytes."""
    if callable(case.body):
        return case.body(base)
    out = dict(base)
    for key, value in case.body.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def encode(body: dict | bytes) -> bytes:
    """JSON bytes of a request (NaN/Infinity written as Python does: the literals)."""
    return body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")


# ----------------------------------------------------------------------------------------
# Bad media files
# ----------------------------------------------------------------------------------------

def _png(width: int = 8, height: int = 8) -> bytes:
    import zlib

    raw = b"".join(b"\x00" + bytes([40, 120, 200]) * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _good_clip(path: Path, frames: int = 9) -> bytes:
    """A small H.264 + AAC MP4 (moov at the end, as PyAV writes it)."""
    import av
    import numpy as np

    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=8)
        v.width = v.height = 64
        v.pix_fmt = "yuv420p"
        a = c.add_stream("aac", rate=48000)
        a.layout = "stereo"
        for i in range(frames):
            img = np.full((64, 64, 3), 30 * i % 255, np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        _audio(c, a, 5)
    return path.read_bytes()


def _audio(container, stream, chunks: int) -> None:
    import av
    import numpy as np

    tone = np.zeros((2, 1024), np.float32)
    for i in range(chunks):
        f = av.AudioFrame.from_ndarray(tone, format="fltp", layout="stereo")
        f.sample_rate, f.pts = 48000, i * 1024
        for p in stream.encode(f):
            container.mux(p)
    for p in stream.encode():
        container.mux(p)


def write_bad_media(input_dir: Path, outside_dir: Path) -> dict[str, Path]:
    """Write the :data:`BAD_MEDIA` files into ``input_dir`` (symlinks point into ``outside_dir``)."""
    import av

    input_dir, outside_dir = Path(input_dir), Path(outside_dir)
    input_dir.mkdir(parents=True, exist_ok=True)
    outside_dir.mkdir(parents=True, exist_ok=True)
    good = _good_clip(outside_dir / "outside_clip.mp4")
    out = {}

    def put(name: str, data: bytes) -> None:
        (input_dir / name).write_bytes(data)
        out[name] = input_dir / name

    with av.open(str(input_dir / "audio_only.mp4"), "w") as c:  # an MP4 with only an AAC track
        _audio(c, c.add_stream("aac", rate=48000), 10)
    out["audio_only.mp4"] = input_dir / "audio_only.mp4"
    # A video track with no frames at all (Matroska keeps an empty track; MP4 would drop it), named .mp4.
    with av.open(str(input_dir / "zero_frames.mp4"), "w", format="matroska") as c:
        v = c.add_stream("mpeg4", rate=8)
        v.width = v.height = 64
        v.pix_fmt = "yuv420p"
        _audio(c, c.add_stream("aac", rate=48000), 5)
        for p in v.encode():
            c.mux(p)
    out["zero_frames.mp4"] = input_dir / "zero_frames.mp4"
    damaged = bytearray(good)  # the container is intact, every coded sample is zeros
    i = damaged.index(b"mdat")
    size = struct.unpack(">I", damaged[i - 4:i])[0]
    damaged[i + 4:i - 4 + size] = bytes(size - 8)
    put("damaged.mp4", bytes(damaged))
    put("truncated.mp4", good[: len(good) // 2])
    put("head_only.mp4", good[:64])
    put("random.mp4", bytes((i * 7919 + 13) % 251 for i in range(4096)))
    put("text.mp4", b"this is a text file, not a video\n" * 20)
    put("empty.mp4", b"")
    put("corrupt.png", _png()[:40] + b"\x00" * 60)
    put("empty.png", b"")
    put("text.png", b"not a picture\n" * 10)
    secret = outside_dir / "secret.txt"
    secret.write_text("outside the input folder\n")
    for name, target in (("link_out.mp4", secret), ("link_out_clip.mp4", outside_dir / "outside_clip.mp4")):
        link = input_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        out[name] = link
    assert set(out) == set(BAD_MEDIA)
    return out


def partial_or_empty_files(root: Path) -> list[str]:
    """Files under root that look like leftovers of an interrupted write: temp-style names
    (``*.part``, ``*.tmp``, ``.tmp-*``, hidden dot-files) or zero bytes."""
    bad = []
    for path in Path(root).rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        name = path.name
        if (name.endswith((".part", ".tmp", ".partial", ".download")) or name.startswith((".tmp", "."))
                or "rv2v-tmp" in name or path.stat().st_size == 0):
            bad.append(str(path.relative_to(root)))
    return sorted(bad)


# ----------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------

def test_corpus_is_large_and_covers_the_classes():
    assert len(ALL_CASES) >= 50
    assert len({c.name for c in ALL_CASES}) == len(ALL_CASES)
    fields = {c.field for c in ALL_CASES}
    for p in params.PARAMS:  # every field of the table has at least one bad value
        assert p.name in fields, p.name


def _parse(case: Case, base: dict):
    body = apply(case, base)
    parsed = api.parse_json_body(body) if isinstance(body, bytes) else api.parse_json_body(encode(body))
    return api.parse_request(parsed)


@pytest.mark.parametrize("case", REQUEST_CASES, ids=[c.name for c in REQUEST_CASES])
def test_http_parsing_refuses_with_the_field_and_its_message(case):
    with pytest.raises(api.ApiError) as info:
        _parse(case, base_request())
    err = info.value
    assert err.status == case.status, err.detail
    assert err.field == case.field, err.detail
    assert err.detail.startswith(case.field + ":"), err.detail
    assert case.fragment in err.detail, err.detail
    assert len(err.detail) < 2000  # a 100 kB value is never echoed back


FIELD_CASES = [c for c in REQUEST_CASES if isinstance(c.body, dict) and "model" not in c.body]


@pytest.mark.parametrize("case", FIELD_CASES, ids=[c.name for c in FIELD_CASES])
def test_parameter_table_refuses_with_the_field(case):
    """params.validate is what the Settings node's validate_inputs runs (JSON types as given)."""
    body = apply(case, base_request())
    body.pop("model")
    with pytest.raises(params.ParamError) as info:
        params.validate(body)
    assert info.value.field == case.field and case.fragment in str(info.value), str(info.value)


def test_valid_unicode_and_the_prompt_limit_are_accepted():
    for text in ("ein Fuchs im Schnee 🦊", "狐狸在雪中", "ثعلب في الثلج", "e\u0301\u200d\u202e", "x" * params.MAX_PROMPT_CHARS):
        s = api.parse_request(api.parse_json_body(encode({**base_request(), "prompt": text})))
        assert s.prompt == text
    assert api.parse_request(api.parse_json_body(encode({**base_request(), "seed": None}))).seed is None


def test_number_messages_never_overflow_or_flood():
    for value in (10 ** 400, -(10 ** 400), 1e308, float("inf"), 2 ** 64):
        for name in ("seed", "num_frames", "frames_per_second", "strength"):
            with pytest.raises(params.ParamError) as info:
                params.validate({"prompt": "x", "input_video": "a.mp4", name: value})
            assert info.value.field == name and len(str(info.value)) < 300, str(info.value)


CLI_CASES = [c for c in ALL_CASES if c.where == "client"]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_cli_refuses_before_contacting_a_server(case, tmp_path, capsys):
    from rv2v.nodes.cli import main as cli
    from rv2v.nodes.cli.errors import EXIT_USAGE

    body = apply(case, base_request())
    req = tmp_path / "body.json"
    req.write_bytes(encode(body))
    # port 9 (discard) on loopback: nothing listens; a client-side refusal never gets there
    code = cli.main(["generate", "--request", str(req), "--server", "http://127.0.0.1:9", "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert err.startswith("error: ") and case.field in err and case.fragment in err, err
    assert "cannot reach" not in err


@pytest.mark.parametrize("argv,field,fragment", [
    (["--num-frames", "nine"], "num_frames", "got 'nine'"),
    (["--seed", "-5"], "seed", "from 0"),
    (["--frames-per-second", "nan"], "frames_per_second", "got nan"),
    (["--frames-per-second", "1e999"], "frames_per_second", "got inf"),
    (["--generate-audio", "maybe"], "generate_audio", "true or false"),
    (["--resolution", "1080p"], "resolution", "got '1080p'"),
    (["--seed", "9" * 5000], "seed", "(5000 characters)"),
    (["--prompt", ""], "prompt", "must not be empty"),
])
def test_cli_flags_refuse_with_the_field(argv, field, fragment, tmp_path, capsys):
    from rv2v.nodes.cli import main as cli
    from rv2v.nodes.cli.errors import EXIT_USAGE

    code = cli.main(["generate", "--server", "http://127.0.0.1:9", "--prompt", "x", "--input-video", "a.mp4",
                     *argv])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and field in err and fragment in err, err


def test_cli_never_uploads_an_empty_local_file(tmp_path, capsys):
    from rv2v.nodes.cli import main as cli
    from rv2v.nodes.cli.errors import EXIT_USAGE

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    code = cli.main(["generate", "--server", "http://127.0.0.1:9", "--prompt", "x", "--input-video", str(empty)])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "input_video" in err and "empty file" in err, err


# ----------------------------------------------------------------------------------------
# Media at the pure level
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def media_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_media")
    write_bad_media(root / "input", root / "outside")
    (root / "cache").mkdir()
    return root


def _resolve_and_probe(value: str, field: str, root: Path):
    from rv2v.nodes.pure import media, sources

    kind = params.BY_NAME[field].media
    path = sources.resolve(value, field, input_dir=str(root / "input"), cache_dir=str(root / "cache"),
                           policy=sources.FetchPolicy(timeout=5.0))
    if kind == "video":
        return media.probe_video(path, label=field)
    return media.load_image(path, label=field)


PURE_MEDIA = [c for c in MEDIA_CASES if c.name != "file name too long"]  # OSError there: the glue names it


@pytest.mark.parametrize("case", PURE_MEDIA, ids=[c.name for c in PURE_MEDIA])
def test_media_sources_and_decoding_refuse_with_the_field(case, media_dirs):
    from rv2v.nodes.pure import media, sources

    body = apply(case, base_request())
    settings = params.validate({k: v for k, v in body.items() if k != "model"})
    value = getattr(settings, case.field)
    with pytest.raises((sources.SourceError, media.MediaError)) as info:
        _resolve_and_probe(value, case.field, media_dirs)
    text = str(info.value)
    assert text.startswith(case.field + ":") and case.fragment in text, text


def test_media_failures_leave_no_partial_files(media_dirs):
    """After every media case ran: the cache holds no temp-named or empty file, and the input
    folder holds exactly the files the test wrote."""
    from rv2v.nodes.pure import media, sources

    for case in PURE_MEDIA:
        body = apply(case, base_request())
        settings = params.validate({k: v for k, v in body.items() if k != "model"})
        try:
            _resolve_and_probe(getattr(settings, case.field), case.field, media_dirs)
        except (sources.SourceError, media.MediaError):
            pass
    assert partial_or_empty_files(media_dirs / "cache") == []
    assert sorted(p.name for p in (media_dirs / "input").iterdir()) == sorted(BAD_MEDIA)
