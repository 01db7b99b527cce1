"""Operator settings: every RV2V_* variable is read and parsed in nodes/pure/config.py only."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from rv2v.nodes.pure import config, sources

ROOT = Path(__file__).resolve().parents[1]
#: RV2V_ names in upper case that are socket types, not variables.
SOCKET_TYPES = {"RV2V_SETTINGS", "RV2V_ICLORA"}


def test_every_variable_named_in_the_pack_is_in_the_table():
    named = set()
    for path in (ROOT / "nodes").rglob("*.py"):
        named |= set(re.findall(r"\bRV2V_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    assert named - SOCKET_TYPES - set(config.BY_NAME) == set()


def test_only_config_reads_the_process_environment_for_the_pack():
    readers = []
    for path in (ROOT / "nodes").rglob("*.py"):
        if path.name == "config.py" or "cli" in path.relative_to(ROOT).parts:
            continue
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"(os\.environ\.get|os\.getenv|environ\.get|env\.get)\(\s*([^)]*)", text):
            readers.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert readers == []


def test_defaults_when_unset():
    assert config.fetch_settings({}) == {"allow_private": False, "allow_networks": (), "max_bytes": 2 * 1024 ** 3,
                                         "total_timeout": 600.0, "timeout": 30.0, "max_redirects": 5}
    assert config.decode_limits({}) == {"max_seconds": 600.0, "max_side": 4096, "max_pixels": 4096 * 2304,
                                        "max_frames": 36_000, "max_image_pixels": 100_000_000}
    assert config.api_key({}) is None
    assert sources.policy_from_env({}) == sources.FetchPolicy()


@pytest.mark.parametrize("raw, value", [("1", True), ("yes", True), ("ON", True), ("0", False), ("nope", False)])
def test_flags(raw, value):
    assert config.read("RV2V_ALLOW_PRIVATE_URLS", {"RV2V_ALLOW_PRIVATE_URLS": raw}) is value


def test_numbers_limits_and_text():
    env = {"RV2V_MAX_DOWNLOAD_MB": "1.5", "RV2V_MAX_REDIRECTS": "2", "RV2V_MAX_VIDEO_SECONDS": "0",
           "RV2V_MAX_VIDEO_FRAMES": "none", "RV2V_MAX_VIDEO_SIDE": "0.5", "RV2V_API_KEY": "  k  "}
    assert config.fetch_settings(env)["max_bytes"] == int(1.5 * 1024 ** 2)
    assert config.fetch_settings(env)["max_redirects"] == 2
    limits = config.decode_limits(env)
    assert limits["max_seconds"] is None and limits["max_frames"] is None
    assert limits["max_side"] == 1  # a positive integer limit never rounds down to "no limit"
    assert config.api_key(env) == "k"


@pytest.mark.parametrize("name, raw", [("RV2V_MAX_DOWNLOAD_MB", "lots"), ("RV2V_DOWNLOAD_TIMEOUT_S", "-1"),
                                       ("RV2V_MAX_VIDEO_PIXELS", "nan"), ("RV2V_MAX_REDIRECTS", "inf")])
def test_invalid_values_log_the_variable_and_use_the_default(name, raw, caplog):
    with caplog.at_level(logging.WARNING, logger="rv2v"):
        assert config.read(name, {name: raw}) == config.BY_NAME[name].default
    assert name in caplog.text


def test_networks_skip_invalid_items(caplog):
    with caplog.at_level(logging.WARNING, logger="rv2v"):
        got = config.read("RV2V_ALLOWED_URL_NETWORKS", {"RV2V_ALLOWED_URL_NETWORKS": "10.1.0.0/16, bogus,192.168.1.5"})
    assert got == ("10.1.0.0/16", "192.168.1.5/32") and "bogus" in caplog.text
