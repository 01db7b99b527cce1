"""Hosted-API request bodies: decoding, validation, storage summaries (pure; standard library only).

:func:`parse_request` checks the model id, then applies the parameter table's own
:func:`params.validate` (field names, types, ranges, combinations, see
``nodes/pure/params.py``), then the pack's availability rule for ``control_type``.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from .. import params
from .errors import ApiError

#: Integers longer than this are not converted (Python refuses above 4300 digits); validation
#: then refuses them naming the field (see params.TooLongNumber).
MAX_INT_DIGITS = 1000


def parse_json_body(raw: bytes | str) -> Any:
    """Decode a JSON request body; 400 naming ``request`` when it is not JSON."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "request: the body is not UTF-8 text", "request") from None
    if not raw.strip():
        raise ApiError(400, "request: the body is empty; send a JSON object with the model's parameters",
                       "request")
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicate_keys, parse_int=_parse_int)
    except _DuplicateKey as dup:
        raise ApiError(400, f"{dup.key}: is given more than once in the request body; give each field once",
                       dup.key) from None
    except RecursionError:
        raise ApiError(400, "request: the body nests too deeply to be a request", "request") from None
    except ValueError as exc:
        raise ApiError(400, f"request: the body is not valid JSON ({exc})", "request") from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key if len(key) <= 100 else key[:100] + "..."


def _no_duplicate_keys(pairs: list) -> dict:
    """JSON objects with a key given twice are refused (json.loads would keep the last silently)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _parse_int(text: str):
    digits = len(text.lstrip("-"))
    return int(text) if digits <= MAX_INT_DIGITS else params.TooLongNumber(digits)


def check_model(model: Any) -> None:
    """The ``model`` field: absent means this pack's model; another id is a 404."""
    if model is None:
        return
    if not isinstance(model, str):
        raise ApiError(400, f"model: must be a string (the model id {params.MODEL_ID!r}), "
                            f"got {type(model).__name__}", "model")
    if model != params.MODEL_ID:
        raise ApiError(404, f"model: unknown model id {model!r}; this server provides {params.MODEL_ID!r}",
                       "model")


def parse_request(body: Any, *, available_control_types: Iterable[str] | None = None) -> params.Settings:
    """Validate a hosted-API request body -> ``params.Settings``.

    Raises :class:`ApiError`: 404 for an unknown model id, 400 naming the field for
    unknown fields, wrong types, out-of-range values, missing required fields and
    invalid combinations.
    """
    if not isinstance(body, Mapping):
        raise ApiError(400, f"request: must be a JSON object, got {type(body).__name__}", "request")
    check_model(body.get("model"))
    try:
        settings = params.validate(body, strict=True, allow_unknown=("model",))
    except params.ParamError as exc:
        raise ApiError(400, str(exc), exc.field) from None
    if available_control_types is not None:
        available = tuple(available_control_types)
        if settings.control_type not in available and not settings.use_control_video:
            raise ApiError(400, f"control_type: {settings.control_type!r} is not available in this version; use "
                                + " or ".join(repr(c) for c in available)
                                + " or give a precomputed control video with skip_control_preprocess",
                           "control_type")
    return settings


def media_fields() -> tuple[params.Param, ...]:
    return tuple(p for p in params.PARAMS if p.kind == "media")


def summarize_value(value: Any, limit: int = 200) -> Any:
    """Long strings (data: URIs above all) shortened for storage in records."""
    if isinstance(value, str):
        if value[:5].lower() == "data:":
            header = value.split(",", 1)[0]
            return f"{header},<{max(0, len(value) - len(header) - 1)} base64 characters>"
        if len(value) > 4 * limit and not value.startswith(("http://", "https://")):
            return value[: 4 * limit] + f"...<{len(value) - 4 * limit} more characters>"
    return value


def summarize_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request as stored in a record: media data: URIs replaced by their size."""
    return {k: (summarize_value(v) if k in params.BY_NAME and params.BY_NAME[k].kind == "media" else v)
            for k, v in body.items()}
