"""Shared glue: the SETTINGS socket type, progress/cancel hooks, media paths."""
from __future__ import annotations

import os

import comfy.model_management
import comfy.utils
import folder_paths
from comfy_api.latest import io

from ..pure import sources

CATEGORY = "LTX-2.3 Reference V2V"

Settings = io.Custom("RV2V_SETTINGS")


def media_cache_dir() -> str:
    return os.path.join(folder_paths.get_temp_directory(), "rv2v_media")


def fetch_policy() -> sources.FetchPolicy:
    """Operator settings for URL fetching (environment variables)."""
    allow = os.environ.get("RV2V_ALLOW_PRIVATE_URLS", "").strip().lower() in ("1", "true", "yes")
    max_mb = os.environ.get("RV2V_MAX_DOWNLOAD_MB", "").strip()
    max_bytes = int(float(max_mb) * 1024 * 1024) if max_mb else sources.DEFAULT_MAX_BYTES
    return sources.FetchPolicy(max_bytes=max_bytes, allow_private=allow)


def resolve_media(value: str, field: str) -> str:
    """A media field value (input-folder name, URL or data: URI) -> local path."""
    path = sources.resolve(
        value, field,
        input_dir=folder_paths.get_input_directory(),
        cache_dir=media_cache_dir(),
        policy=fetch_policy(),
    )
    return str(path)


def list_input_files(content_type: str) -> list[str]:
    """Files of one content type ('video' or 'image') in ComfyUI's input folder."""
    input_dir = folder_paths.get_input_directory()
    try:
        files = [f for f in os.listdir(input_dir) if os.path.isfile(os.path.join(input_dir, f))]
    except FileNotFoundError:
        files = []
    return sorted(folder_paths.filter_files_content_types(files, [content_type]))


class Progress:
    """ComfyUI progress bar + cancellation for pure loops (progress(done, total))."""

    def __init__(self, total: int = 100):
        self.bar = comfy.utils.ProgressBar(max(1, int(total)))

    def __call__(self, done: int, total: int) -> None:
        self.bar.update_absolute(int(done), max(1, int(total)))

    @staticmethod
    def should_stop() -> bool:
        comfy.model_management.throw_exception_if_processing_interrupted()
        return False
