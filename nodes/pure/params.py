"""The preset's parameter table: the single source of truth.

Node inputs (Settings node), CLI flags, HTTP request fields, the JSON request
schema and validation are all generated from ``PARAMS``. Names are the hosted
preset's names ("LTX 2.3 Quality: Reference Video to Video"), see
``shared/reference/preset_parameters.md``.

Pure module: standard library only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

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
CONTROL_TYPES = ("canny", "depth", "pose", "composite")

MIN_FRAMES, MAX_FRAMES = 9, 481
MIN_FPS, MAX_FPS = 1.0, 60.0
SEED_MAX = 0xFFFFFFFFFFFFFFFF
MAX_PROMPT_CHARS = 20000


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
    return str(int(x)) if float(x).is_integer() else str(x)


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
          media="video", group="Inputs"),
    Param("skip_control_preprocess", "bool",
          "Skip the built-in control estimation and use control_video_url directly as the control signal. "
          "Ignored when control_video_url is not set.",
          default=False, group="Control"),
    Param("preserve_original_video", "bool",
          "True video-to-video: VAE-encode input_video and start sampling from it; strength sets how much "
          "changes. Requires skip_control_preprocess and control_video_url.",
          default=False, group="Control"),
    Param("video_strength", "float",
          "Guide (control video) conditioning strength. Lower values give the model more freedom to change "
          "the reference motion and structure.",
          default=0.6, minimum=0.0, maximum=1.0, step=0.01, group="Control"),
    Param("strength", "float",
          "Sampler denoise strength for preserve_original_video: lower keeps more of the original video "
          "(0.5 keeps about half); 1.0 fully regenerates. Must be greater than 0.",
          default=1.0, minimum=0.0, maximum=1.0, exclusive_minimum=True, step=0.01, group="Control"),
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
          default="canny", choices=CONTROL_TYPES, group="Control", preset=False),
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
    if p.kind in ("text", "media"):
        if not isinstance(value, str):
            raise ParamError(name, f"must be {p.allowed()}, got {type(value).__name__}")
        if "\x00" in value:
            raise ParamError(name, "must not contain NUL characters")
        if p.kind == "text" and len(value) > MAX_PROMPT_CHARS:
            raise ParamError(name, f"is {len(value)} characters long; at most {MAX_PROMPT_CHARS} are allowed")
        return value.strip() if p.kind == "media" else value
    if p.kind == "bool":
        if isinstance(value, bool):
            return value
        if not strict and isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ParamError(name, f"must be {p.allowed()}, got {value!r}")
    if p.kind == "enum":
        if not isinstance(value, str) or value not in p.choices:
            raise ParamError(name, f"must be {p.allowed()}, got {value!r}")
        return value
    if p.kind in ("int", "float"):
        if not strict and isinstance(value, str):
            try:
                value = int(value) if p.kind == "int" else float(value)
            except ValueError:
                raise ParamError(name, f"must be {p.allowed()}, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(name, f"must be {p.allowed()}, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParamError(name, f"must be {p.allowed()}, got {value!r}")
        if p.kind == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise ParamError(name, f"must be {p.allowed()}, got {value!r}")
                value = int(value)
        else:
            value = float(value)
        lo, hi = p.minimum, p.maximum
        if lo is not None and (value <= lo if p.exclusive_minimum else value < lo):
            raise ParamError(name, f"must be {p.allowed()}, got {_fmt(value)}")
        if hi is not None and value > hi:
            raise ParamError(name, f"must be {p.allowed()}, got {_fmt(value)}")
        return value
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
        raise ParamError(unknown[0], "is not a parameter of this model; allowed: " + ", ".join(BY_NAME))

    values: dict[str, Any] = {}
    for p in PARAMS:
        value = raw.get(p.name)
        if p.kind == "media" and isinstance(value, str) and value.strip() == "":
            value = None
        if value is None:
            if p.required:
                raise ParamError(p.name, f"is required ({p.allowed()})")
            values[p.name] = p.default
            continue
        values[p.name] = coerce(p, value, strict=strict)

    if _is_empty(values["prompt"]):
        raise ParamError("prompt", "is required and must not be empty")

    notes: list[str] = []
    requested = values["num_frames"]
    used = snap_num_frames(requested)
    if used != requested:
        notes.append(f"num_frames: {requested} is not 8k+1; using {used} frames")
    values["num_frames"] = used

    if values["preserve_original_video"]:
        missing = [n for n in ("skip_control_preprocess", "control_video_url") if not values[n]]
        if missing:
            raise ParamError(
                "preserve_original_video",
                "requires skip_control_preprocess=true and a control_video_url "
                f"(missing: {', '.join(missing)})",
            )
    elif values["strength"] != 1.0:
        notes.append("strength: only used with preserve_original_video; the full schedule runs")
    if values["skip_control_preprocess"] and not values["control_video_url"]:
        notes.append("skip_control_preprocess: ignored because control_video_url is not set")
    if values["control_video_url"] and not values["skip_control_preprocess"]:
        notes.append("control_video_url: ignored because skip_control_preprocess is false")

    return Settings(**values, requested_num_frames=requested, notes=notes)


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
