"""Shared glue: the SETTINGS socket type, progress/cancel hooks, media paths."""
from __future__ import annotations

import os

import comfy.model_management
import comfy.utils
import folder_paths
from comfy_api.latest import io

from ..pure import media, params, sources

CATEGORY = "LTX-2.3 Reference V2V"

SettingsSocket = io.Custom("RV2V_SETTINGS")  # carries a params.Settings


def media_cache_dir() -> str:
    return os.path.join(folder_paths.get_temp_directory(), "rv2v_media")


def fetch_policy() -> sources.FetchPolicy:
    """Operator settings for URL fetching (environment variables, read on every
    call): RV2V_ALLOW_PRIVATE_URLS, RV2V_ALLOWED_URL_NETWORKS, RV2V_MAX_DOWNLOAD_MB,
    RV2V_DOWNLOAD_TIMEOUT_S, RV2V_DOWNLOAD_READ_TIMEOUT_S, RV2V_MAX_REDIRECTS."""
    return sources.policy_from_env(os.environ)


def decode_limits() -> media.DecodeLimits:
    """Operator limits for decoding media (environment variables, read on every
    call): RV2V_MAX_VIDEO_SECONDS, RV2V_MAX_VIDEO_SIDE, RV2V_MAX_VIDEO_PIXELS,
    RV2V_MAX_VIDEO_FRAMES, RV2V_MAX_IMAGE_PIXELS. The media functions use the
    same values when given no limits."""
    return media.DecodeLimits.from_env(os.environ)


def _media_kind(field: str) -> str | None:
    """'video' or 'image' for a media parameter's name, else None."""
    p = params.BY_NAME.get(field)
    return p.media if p is not None and p.kind == "media" else None


def decode_check(field: str, kind: str | None, source: str | None = None):
    """A check for sources.resolve: decode-checks a fetched file (within the
    limits) before it enters the cache, so content is judged by decoding. Its
    MediaError names ``source`` (the URL) rather than the temp file."""
    if kind not in ("video", "image"):
        return None

    def check(path: str) -> None:
        try:
            if kind == "video":
                media.probe_video(path, label=field, limits=decode_limits())
            else:
                media.load_image(path, label=field, limits=decode_limits())
        except media.MediaError as exc:
            if source is None:
                raise
            raise media.MediaError(source, exc.reason, label=field) from None
    return check


def resolve_media(value: str, field: str) -> str:
    """A media field value (input-folder name, URL or data: URI) -> local path.
    Downloads and data: URIs are decode-checked before they are cached (a
    failure raises media.MediaError and leaves no file)."""
    path = sources.resolve(
        value, field,
        input_dir=folder_paths.get_input_directory(),
        cache_dir=media_cache_dir(),
        policy=fetch_policy(),
        check=decode_check(field, _media_kind(field),
                           "data: URI" if sources.kind_of(value or "") == "data" else (value or "").strip()),
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
