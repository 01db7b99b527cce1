"""Operator settings: every ``RV2V_*`` environment variable the pack reads, parsed here and only here.

Pure module (standard library). Each variable is one row of :data:`VARIABLES` (name, what it sets,
default, how it is parsed); the readers below turn an environment mapping into plain values, and the
modules that use them (``sources`` for URL fetching, ``media`` for decoding limits, ``api.auth`` for
the API key) build their own objects from those values. Values are read when a request is handled,
never cached at import, so a test or an operator can change them without restarting.

An invalid value is logged (logger ``rv2v``) and the default used: a typo must not take the server
down, and the log line names the variable.
"""
from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass
from typing import Mapping, Optional

from .log import log

__all__ = ["Variable", "VARIABLES", "BY_NAME", "fetch_settings", "decode_limits", "api_key", "environ"]


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str       # "flag" | "networks" | "number" | "limit" (a number, 0/none = no limit) | "text"
    default: object
    doc: str
    minimum: float = 0.0
    integer: bool = False


VARIABLES: tuple[Variable, ...] = (
    # URL fetching (nodes/pure/sources.py)
    Variable("RV2V_ALLOW_PRIVATE_URLS", "flag", False, "allow URLs to any address (trusted networks only)"),
    Variable("RV2V_ALLOWED_URL_NETWORKS", "networks", (), "comma-separated networks/addresses URLs may reach"),
    Variable("RV2V_MAX_DOWNLOAD_MB", "number", 2048.0, "largest URL download, MiB", minimum=0.001),
    Variable("RV2V_DOWNLOAD_TIMEOUT_S", "number", 600.0, "whole-download deadline, seconds", minimum=0.1),
    Variable("RV2V_DOWNLOAD_READ_TIMEOUT_S", "number", 30.0, "connect / each read timeout, seconds", minimum=0.1),
    Variable("RV2V_MAX_REDIRECTS", "number", 5, "redirects followed", integer=True),
    # decoding limits (nodes/pure/media.py); 0 or "none" = no limit
    Variable("RV2V_MAX_VIDEO_SECONDS", "limit", 600.0, "longest video, seconds"),
    Variable("RV2V_MAX_VIDEO_SIDE", "limit", 4096, "longest video side, pixels", integer=True),
    Variable("RV2V_MAX_VIDEO_PIXELS", "limit", 4096 * 2304, "largest video frame, pixels", integer=True),
    Variable("RV2V_MAX_VIDEO_FRAMES", "limit", 36_000, "most video frames", integer=True),
    Variable("RV2V_MAX_IMAGE_PIXELS", "limit", 100_000_000, "largest image, pixels", integer=True),
    # the hosted API (nodes/pure/api/auth.py)
    Variable("RV2V_API_KEY", "text", None, "Bearer key the pack's HTTP routes require"),
)
BY_NAME = {v.name: v for v in VARIABLES}

_TRUE = ("1", "true", "yes", "on")
_NO_LIMIT = ("0", "none", "off", "unlimited")


def environ(env: Optional[Mapping[str, str]] = None) -> Mapping[str, str]:
    """``env`` or the process environment."""
    return os.environ if env is None else env


def _raw(env: Mapping[str, str], name: str) -> str:
    return str(env.get(name, "") or "").strip()


def read(name: str, env: Optional[Mapping[str, str]] = None):
    """The parsed value of one variable (its default when unset or invalid)."""
    var, env = BY_NAME[name], environ(env)
    raw = _raw(env, name)
    if var.kind == "flag":
        return raw.lower() in _TRUE if raw else var.default
    if var.kind == "text":
        return raw or var.default
    if var.kind == "networks":
        networks = []
        for item in filter(None, (i.strip() for i in raw.split(","))):
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                log.warning("%s: %r is not an IP network; ignored", name, item)
        return tuple(networks)
    if not raw:
        return var.default
    if var.kind == "limit" and raw.lower() in _NO_LIMIT:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < var.minimum:
        log.warning("%s=%r is not a number >= %s; using the default %s", name, raw, var.minimum, var.default)
        return var.default
    if var.kind == "limit" and value == 0:
        return None
    if var.integer:
        return max(1, int(value)) if var.kind == "limit" else int(value)
    return value


def fetch_settings(env: Optional[Mapping[str, str]] = None) -> dict:
    """URL fetching: ``allow_private, allow_networks, max_bytes, total_timeout, timeout, max_redirects``."""
    return {
        "allow_private": read("RV2V_ALLOW_PRIVATE_URLS", env),
        "allow_networks": read("RV2V_ALLOWED_URL_NETWORKS", env),
        "max_bytes": int(read("RV2V_MAX_DOWNLOAD_MB", env) * 1024 ** 2),
        "total_timeout": read("RV2V_DOWNLOAD_TIMEOUT_S", env),
        "timeout": read("RV2V_DOWNLOAD_READ_TIMEOUT_S", env),
        "max_redirects": read("RV2V_MAX_REDIRECTS", env),
    }


def decode_limits(env: Optional[Mapping[str, str]] = None) -> dict:
    """Decoding limits (None = no limit): ``max_seconds, max_side, max_pixels, max_frames, max_image_pixels``."""
    return {
        "max_seconds": read("RV2V_MAX_VIDEO_SECONDS", env),
        "max_side": read("RV2V_MAX_VIDEO_SIDE", env),
        "max_pixels": read("RV2V_MAX_VIDEO_PIXELS", env),
        "max_frames": read("RV2V_MAX_VIDEO_FRAMES", env),
        "max_image_pixels": read("RV2V_MAX_IMAGE_PIXELS", env),
    }


def api_key(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The API key from ``RV2V_API_KEY`` (None when unset)."""
    return read("RV2V_API_KEY", env)
