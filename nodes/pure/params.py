"""The preset's parameter table: the single source of truth.

Node inputs (Settings node), CLI flags, HTTP request fields, the JSON request
schema and validation are all generated from ``PARAMS``. Names are the hosted
preset's names ("LTX 2.3 Quality: Reference Video to Video"), listed in the README's
*Parameters* section.

Pure module: standard library only.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .control_options import CONTROL_TYPES

MODEL_ID = "ltx-2-3-quality-reference-video-to-video"

DEFAULT_NEGATIVE_PROMPT = (
    "color distortion, overexposure, static, blurry details, subtitles, style, artwork, painting, "
    "frame, still, dim overall tone, worst quality, low quality, JPEG compression artifacts, ugly, "
    "mutilated, extra fingers, poorly drawn hands, poorly drawn face, deformed, disfigured, "
    "malformed limbs, fused fingers, motionless frame, cluttered background, three legs, "
    "crowded background, walking backwards"
)

RESOLUTIONS = (
    "auto",
    "square_hd",
    "square",
    "portrait_4_3",
    "portrait_16_9",
    "landscape_4_3",
    "landscape_16_9",
)
VIDEO_QUALITIES = ("low", "medium", "high", "maximum")

MIN_FRAMES, MAX_FRAMES = 9, 481
MIN_FPS, MAX_FPS = 1.0, 60.0
SEED_MAX = 0xFFFFFFFFFFFFFFFF
MAX_PROMPT_CHARS = 20000


@dataclass(frozen=True)
class Cond:
    """A condition on another field, used by the combination rules below.

    test: "true" / "false" (a boolean field), "set" / "unset" (a media field, non-empty or empty).
    The rules are data so that the backend (``validate``) and the frontend (the pack's
    JS reads them from the node definition, see ``ui_rules``) apply the same ones.
    """

    field: str
    test: str

    def holds(self, values: Mapping[str, Any]) -> bool:
        value = values.get(self.field)
        if self.test in ("set", "unset"):
            return _is_empty(value) is (self.test == "unset")
        return bool(value) is (self.test == "true")

    def text(self) -> str:
        if self.test in ("set", "unset"):
            return f"{'a' if self.test == 'set' else 'no'} {self.field}"
        return f"{self.field}={self.test}"


@dataclass(frozen=True)
class Param:
    """One request field.

    kind: "text" | "media" | "bool" | "float" | "int" | "enum".
    media: for kind "media", the media type ("video" or "image").
    """

    name: str
    kind: str
    description: str
    default: Any = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    media: str | None = None
    multiline: bool = False
    step: float | None = None
    group: str = "Generation"
    preset: bool = True  # one of the hosted preset's 15 fields (False = pack extra)
    # Combination rules (shared with the frontend through the node definition):
    requires: tuple[Cond, ...] = ()  # a true value is an error unless all of these hold
    inactive_when: tuple[Cond, ...] = ()  # when all of these hold the field has no effect
    inactive_reason: str = ""  # why, for notes and the UI ("ignored because ...")
    hide_inactive: bool = False  # the UI hides (rather than greys out) the widget when inactive
    grey_inactive: bool = True  # the UI greys out the widget when inactive (False: it stays editable)

    def requirement_error(self, values: Mapping[str, Any]) -> str | None:
        """The message when a true value lacks its requirements, else None."""
        if not self.requires or not values.get(self.name):
            return None
        missing = [c for c in self.requires if not c.holds(values)]
        if not missing:
            return None
        return (f"requires {' and '.join(c.text() for c in self.requires)} "
                f"(missing: {', '.join(c.field for c in missing)})")

    def required_message(self) -> str:
        """What a missing or empty required field is told (backend and browser alike)."""
        return "is required and must not be empty" if self.kind == "text" else f"is required ({self.allowed()})"

    def inactive(self, values: Mapping[str, Any]) -> bool:
        return bool(self.inactive_when) and all(c.holds(values) for c in self.inactive_when)

    def allowed(self) -> str:
        """Human text of what is allowed, used in error messages."""
        if self.kind == "enum":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind in ("int", "float"):
            noun = "an integer" if self.kind == "int" else "a number"
            lo = "" if self.minimum is None else (
                f" greater than {_fmt(self.minimum)}" if self.exclusive_minimum else f" from {_fmt(self.minimum)}"
            )
            hi = "" if self.maximum is None else f" {'up ' if self.exclusive_minimum else ''}to {_fmt(self.maximum)}"
            return f"{noun}{lo}{hi}"
        if self.kind == "media":
            return (f"an http(s) URL, a data: URI, or the name of a {self.media} file in ComfyUI's input folder")
        return "a string"


def _fmt(x: float) -> str:
    """A number for messages; never fails and never prints hundreds of digits."""
    if isinstance(x, int) and not isinstance(x, bool):
        if abs(x) < 10 ** 30:
            return str(x)
        return f"{'-' if x < 0 else ''}a number with about {int(x.bit_length() * 0.30103) + 1} digits"
    if isinstance(x, float) and math.isfinite(x) and x.is_integer() and abs(x) < 1e18:
        return str(int(x))
    return repr(x)


def show_value(value: Any, limit: int = 60) -> str:
    """``repr`` of a client's value for messages, shortened (a 100 kB string is not echoed back)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _fmt(value)
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return text[:limit] + "..." + size


class TooLongNumber:
    """A JSON number with more digits than Python converts (``parse_int`` of the API's JSON
    decoder returns this), so validation can refuse it naming the field."""

    def __init__(self, digits: int):
        self.digits = int(digits)

    def __repr__(self) -> str:
        return f"a number with {self.digits} digits"


def _text_problem(value: str) -> str | None:
    """Why a string is not usable text (NUL, unpaired surrogates), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"is not valid Unicode text: it contains an unpaired surrogate (\\u{ord(value[exc.start]):04x}) "
                f"at character {exc.start}")
    return None


PARAMS: tuple[Param, ...] = (
    Param("prompt", "text", "The prompt to guide generation.", default="", required=True,
          multiline=True, group="Prompt"),
    Param("input_video", "media", "The reference video that supplies motion and structure.",
          required=True, media="video", group="Inputs"),
    Param("input_image", "media",
          "Optional reference image: conditions the first frame of the generated video "
          "(style/character anchoring). Leave empty for none.",
          media="image", group="Inputs"),
    Param("control_video_url", "media",
          "Optional pre-computed control video (depth / edge / pose). Used with skip_control_preprocess: "
          "fed directly into the Union Control guide, resampled to the output size and frame count.",
          media="video", group="Inputs",
          inactive_when=(Cond("skip_control_preprocess", "false"),),
          inactive_reason="skip_control_preprocess is false", hide_inactive=True),
    Param("skip_control_preprocess", "bool",
          "Skip the built-in control estimation and use control_video_url directly as the control signal. "
          "Ignored when control_video_url is not set.",
          default=False, group="Control",
          inactive_when=(Cond("control_video_url", "unset"),),
          inactive_reason="control_video_url is not set", grey_inactive=False),
    Param("preserve_original_video", "bool",
          "True video-to-video: VAE-encode input_video and start sampling from it; strength sets how much "
          "changes. Requires skip_control_preprocess and control_video_url.",
          default=False, group="Control",
          requires=(Cond("skip_control_preprocess", "true"), Cond("control_video_url", "set"))),
    Param("video_strength", "float",
          "Guide (control video) conditioning strength. Lower values give the model more freedom to change "
          "the reference motion and structure.",
          default=0.6, minimum=0.0, maximum=1.0, step=0.01, group="Control"),
    Param("strength", "float",
          "Sampler denoise strength for preserve_original_video: lower keeps more of the original video "
          "(0.5 keeps about half); 1.0 fully regenerates. Must be greater than 0.",
          default=1.0, minimum=0.0, maximum=1.0, exclusive_minimum=True, step=0.01, group="Control",
          inactive_when=(Cond("preserve_original_video", "false"),),
          inactive_reason="it is only used with preserve_original_video; the full schedule runs"),
    Param("num_frames", "int",
          "Number of frames to generate (9-481). The model needs 8k+1 frames: other values are rounded "
          "to the nearest valid count, which is reported.",
          default=121, minimum=MIN_FRAMES, maximum=MAX_FRAMES, step=1, group="Output"),
    Param("resolution", "enum",
          "Output size. auto keeps the official Union Control workflow's control size (shorter side 512); "
          "presets are capped at a 704 px shorter side, preserving the aspect ratio.",
          default="auto", choices=RESOLUTIONS, group="Output"),
    Param("frames_per_second", "float",
          "Frame rate of the generated video (1-60). The reference video is resampled to it.",
          default=24.0, minimum=MIN_FPS, maximum=MAX_FPS, step=0.01, group="Output"),
    Param("generate_audio", "bool",
          "Include the generated audio in the MP4. When false the MP4 has no audio track.",
          default=True, group="Output"),
    Param("video_quality", "enum",
          "Quality of the encoded MP4 (H.264 CRF): low 28, medium 23, high 18, maximum 12.",
          default="high", choices=VIDEO_QUALITIES, group="Output"),
    Param("negative_prompt", "text", "What to steer away from.", default=DEFAULT_NEGATIVE_PROMPT,
          multiline=True, group="Prompt"),
    Param("seed", "int",
          "Random seed for reproducibility. Absent (API) or randomized (UI) means a random seed, "
          "which is reported.",
          default=None, minimum=0, maximum=SEED_MAX, step=1, group="Generation"),
    Param("control_type", "enum",
          "Control signal computed from input_video: canny (the official workflow's wiring), depth, pose, "
          "or an experimental layered composite. Not used with skip_control_preprocess.",
          default="canny", choices=CONTROL_TYPES, group="Control", preset=False,
          inactive_when=(Cond("skip_control_preprocess", "true"), Cond("control_video_url", "set")),
          inactive_reason="the given control video is used"),
)

BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
GROUPS = ("Prompt", "Inputs", "Control", "Output", "Generation")
# Widget order of the Settings node: grouped (prompt, media, control, output, seed), contract order inside.
WIDGET_ORDER: tuple[Param, ...] = tuple(p for g in GROUPS for p in PARAMS if p.group == g)
PRESET_FIELDS: tuple[str, ...] = tuple(p.name for p in PARAMS if p.preset)


class ParamError(ValueError):
    """A request field is invalid. ``field`` names it; the message says what is allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


@dataclass
class Settings:
    """A validated request. ``notes`` lists adjustments the user should see."""

    prompt: str
    input_video: str
    input_image: str | None = None
    control_video_url: str | None = None
    skip_control_preprocess: bool = False
    preserve_original_video: bool = False
    video_strength: float = 0.6
    strength: float = 1.0
    num_frames: int = 121
    resolution: str = "auto"
    frames_per_second: float = 24.0
    generate_audio: bool = True
    video_quality: str = "high"
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    seed: int | None = None
    control_type: str = "canny"
    requested_num_frames: int = 121
    notes: list[str] = field(default_factory=list)
    resolved: dict[str, str] = field(default_factory=dict)  # media field -> local path
    media_info: dict[str, Any] = field(default_factory=dict)  # media field -> probe result (videos)

    @property
    def use_control_video(self) -> bool:
        """True when the given control video replaces the built-in estimation."""
        return bool(self.skip_control_preprocess and self.control_video_url)

    def to_request(self) -> dict[str, Any]:
        """The request body fields (preset names), omitting empty optional media."""
        out: dict[str, Any] = {}
        for p in PARAMS:
            value = getattr(self, p.name)
            if value is None or (p.kind == "media" and not value):
                continue
            out[p.name] = value
        out["num_frames"] = self.num_frames
        return out


#: Seeds drawn when a request gives none lie in [0, RANDOM_SEED_LIMIT): integers below 2**53
#: are exact as JSON numbers in JavaScript clients (ECMA-262, Number.MAX_SAFE_INTEGER).
RANDOM_SEED_LIMIT = 2 ** 53


def choose_seed(settings: Settings, rng=None) -> tuple[int, str]:
    """(seed, source): the request's seed (source ``"request"``), or a random one below
    :data:`RANDOM_SEED_LIMIT` (source ``"random"``; ``rng`` defaults to ``random.SystemRandom``).

    The one seed rule of the pack: the HTTP API (``nodes/glue/routes.py``), the CLI and
    the Settings node (``nodes/glue/settings.py``) all call it."""
    if settings.seed is not None:
        return int(settings.seed), "request"
    import random

    rng = rng or random.SystemRandom()
    return int(rng.randrange(0, RANDOM_SEED_LIMIT)), "random"


def random_seed_note(seed: int) -> str:
    """The note that tells the user which seed was drawn for a request without one."""
    return f"seed: none given; using {seed}"


def snap_num_frames(n: int) -> int:
    """Nearest 8k+1 frame count (halves round up), clamped to [9, 481]."""
    k = math.floor((n - 1) / 8 + 0.5)
    return int(min(max(8 * k + 1, MIN_FRAMES), MAX_FRAMES))


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def coerce(p: Param, value: Any, *, strict: bool = True) -> Any:
    """Check one value's type and range; return the normalised value.

    strict=True (HTTP/JSON) refuses strings for numbers and numbers for booleans.
    strict=False (CLI flags) parses strings.
    """
    name = p.name
    if isinstance(value, TooLongNumber):
        raise ParamError(name, f"must be {p.allowed()}, got {value!r}")
    if p.kind in ("text", "media"):
        if not isinstance(value, str):
            raise ParamError(name, f"must be {p.allowed()}, got {type(value).__name__}")
        problem = _text_problem(value)
        if problem:
            raise ParamError(name, problem)
        if p.kind == "text" and len(value) > MAX_PROMPT_CHARS:
            raise ParamError(name, f"is {len(value)} characters long; at most {MAX_PROMPT_CHARS} are allowed")
        return value.strip() if p.kind == "media" else value
    if p.kind == "bool":
        if isinstance(value, bool):
            return value
        if not strict and isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ParamError(name, f"must be {p.allowed()}, got {show_value(value)}")
    if p.kind == "enum":
        if not isinstance(value, str) or value not in p.choices:
            raise ParamError(name, f"must be {p.allowed()}, got {show_value(value)}")
        return value
    if p.kind in ("int", "float"):
        if not strict and isinstance(value, str):
            try:
                value = int(value) if p.kind == "int" else float(value)
            except ValueError:
                raise ParamError(name, f"must be {p.allowed()}, got {show_value(value)}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(name, f"must be {p.allowed()}, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParamError(name, f"must be {p.allowed()}, got {value!r}")
        if p.kind == "int" and isinstance(value, float) and not value.is_integer():
            raise ParamError(name, f"must be {p.allowed()}, got {value!r}")
        # Range first, on the value as given (int/float comparisons are exact and never overflow,
        # float(10**400) would), then convert.
        lo, hi = p.minimum, p.maximum
        if lo is not None and (value <= lo if p.exclusive_minimum else value < lo):
            raise ParamError(name, f"must be {p.allowed()}, got {_fmt(value)}")
        if hi is not None and value > hi:
            raise ParamError(name, f"must be {p.allowed()}, got {_fmt(value)}")
        return int(value) if p.kind == "int" else float(value)
    raise AssertionError(p.kind)


def validate(raw: Mapping[str, Any], *, strict: bool = True, allow_unknown: Iterable[str] = ()) -> Settings:
    """Validate a request (preset field names) and return ``Settings``.

    Raises ``ParamError`` naming the first offending field. Unknown fields are an
    error unless listed in ``allow_unknown`` (e.g. "model" for the HTTP API).
    Optional media given as empty strings count as absent.
    """
    if not isinstance(raw, Mapping):
        raise ParamError("request", f"must be a JSON object, got {type(raw).__name__}")
    allowed_extra = set(allow_unknown)
    unknown = sorted(k for k in raw if k not in BY_NAME and k not in allowed_extra)
    if unknown:
        name = str(unknown[0])
        shown = name if len(name) <= 100 else name[:100] + "..."
        close = difflib.get_close_matches(name.lower().replace("-", "_")[:200], list(BY_NAME), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ParamError(shown, f"is not a parameter of this model; {hint}allowed: " + ", ".join(BY_NAME))

    values: dict[str, Any] = {}
    for p in PARAMS:
        value = raw.get(p.name)
        if p.kind == "media" and isinstance(value, str) and value.strip() == "":
            value = None
        if value is None:
            if p.required:
                raise ParamError(p.name, p.required_message())
            values[p.name] = p.default
            continue
        values[p.name] = coerce(p, value, strict=strict)

    for p in PARAMS:
        if p.required and _is_empty(values[p.name]):
            raise ParamError(p.name, p.required_message())

    notes: list[str] = []
    requested = values["num_frames"]
    used = snap_num_frames(requested)
    if used != requested:
        notes.append(f"num_frames: {requested} is not 8k+1; using {used} frames")
    values["num_frames"] = used

    for p in PARAMS:
        error = p.requirement_error(values)
        if error:
            raise ParamError(p.name, error)
    for p in PARAMS:
        if p.inactive(values) and not _is_empty(values[p.name]) and values[p.name] != p.default:
            notes.append(f"{p.name}: ignored because {p.inactive_reason}")

    return Settings(**values, requested_num_frames=requested, notes=notes)


def ui_rules(p: Param) -> dict[str, Any]:
    """The combination rules of one field as JSON, for the node definition (the pack's JS applies them)."""
    rules: dict[str, Any] = {}
    if p.required:
        rules["required"] = True
        rules["required_message"] = p.required_message()
    if p.requires:
        rules["requires"] = [{"field": c.field, "test": c.test, "text": c.text()} for c in p.requires]
    if p.inactive_when:
        rules["inactive_when"] = [{"field": c.field, "test": c.test} for c in p.inactive_when]
        rules["inactive_reason"] = p.inactive_reason
        rules["hide_inactive"] = p.hide_inactive
        rules["grey_inactive"] = p.grey_inactive
    return rules


def json_request_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the request body, generated from PARAMS."""
    props: dict[str, Any] = {
        "model": {"type": "string", "const": MODEL_ID, "description": "The model id."},
    }
    for p in PARAMS:
        s: dict[str, Any] = {"description": p.description}
        if p.kind == "text":
            s["type"] = "string"
            s["maxLength"] = MAX_PROMPT_CHARS
        elif p.kind == "media":
            s.update({"type": "string", "format": "uri-reference"})
        elif p.kind == "bool":
            s["type"] = "boolean"
        elif p.kind == "enum":
            s.update({"type": "string", "enum": list(p.choices)})
        else:
            s["type"] = "integer" if p.kind == "int" else "number"
            if p.minimum is not None:
                s["exclusiveMinimum" if p.exclusive_minimum else "minimum"] = p.minimum
            if p.maximum is not None:
                s["maximum"] = p.maximum
        if p.default is not None and not p.required:
            s["default"] = p.default
        if not p.preset:
            s["x-pack-extra"] = True
        props[p.name] = s
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "LTX 2.3 Quality: Reference Video to Video",
        "type": "object",
        "properties": props,
        "required": [p.name for p in PARAMS if p.required],
        "additionalProperties": False,
    }
