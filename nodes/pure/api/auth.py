"""The optional API key (pure; standard library only).

The operator sets ``RV2V_API_KEY`` or writes ``{"api_key": "..."}`` to
``<ComfyUI user dir>/rv2v_api.json`` (the path is chosen by ``nodes/glue/routes.py``);
clients then send ``Authorization: Bearer <key>`` (RFC 6750, section 2.1).
"""
from __future__ import annotations

import hmac
import json
import os
from typing import Mapping

from .. import config
from .errors import ApiError

API_KEY_ENV = "RV2V_API_KEY"  # read by config.api_key
API_KEY_FILE = "rv2v_api.json"


class AuthConfigError(ValueError):
    """The key file exists but cannot be used (the server then refuses every request)."""


def load_api_key(environ: Mapping[str, str], config_path: str | os.PathLike | None) -> str | None:
    """The operator's API key: ``RV2V_API_KEY``, else ``{"api_key": "..."}`` in the config file.

    None means no key is configured (Authorization is accepted but not required).
    """
    key = config.api_key(environ)
    if key:
        return key
    if not config_path:
        return None
    try:
        with open(config_path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise AuthConfigError(f"{config_path}: cannot read the API key file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("api_key"), str):
        raise AuthConfigError(f"{config_path}: expected {{\"api_key\": \"...\"}}")
    return data["api_key"].strip() or None


def check_authorization(header: str | None, key: str | None) -> None:
    """401 unless ``Authorization: Bearer <key>`` matches (only when a key is configured)."""
    if key is None:
        return
    if not header:
        raise ApiError(401, "authorization: this server requires 'Authorization: Bearer <key>'", "authorization")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "authorization: expected 'Authorization: Bearer <key>'", "authorization")
    if not hmac.compare_digest(token.strip().encode("utf-8"), key.encode("utf-8")):
        raise ApiError(401, "authorization: the API key is not valid", "authorization")
