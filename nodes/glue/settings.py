"""The Settings node: the preset's 15 parameters (from ``params.PARAMS``), validated at queue time."""
from __future__ import annotations

from comfy_api.latest import io, ui

from ..pure import control_options, media, params, sources
from .common import CATEGORY, SettingsSocket, list_input_files, resolve_media

AVAILABLE_CONTROL_TYPES = control_options.CONTROL_TYPES  # all of them (composite: experimental)


def _widget(p: params.Param):
    """The V3 input for one row of the parameter table (with its combination rules for the JS)."""
    widget = _base_widget(p)
    rules = params.ui_rules(p)
    if rules:
        widget.extra_dict = {**widget.extra_dict, "rv2v_rules": rules}
    return widget


def _base_widget(p: params.Param):
    tip = p.description
    if p.kind == "text":
        return io.String.Input(p.name, default=p.default or "", multiline=p.multiline, tooltip=tip)
    if p.kind == "media":
        options = list_input_files(p.media)
        if not p.required:
            options = [""] + options
        upload = io.UploadType.video if p.media == "video" else io.UploadType.image
        tip += " Pick or upload a file from ComfyUI's input folder; an http(s) URL also works in API prompts."
        return io.Combo.Input(p.name, options=options, upload=upload, tooltip=tip,
                              default="" if not p.required else None)
    if p.kind == "bool":
        return io.Boolean.Input(p.name, default=p.default, tooltip=tip)
    if p.kind == "enum":
        return io.Combo.Input(p.name, options=list(p.choices), default=p.default, tooltip=tip)
    if p.kind == "float":
        lo = p.minimum + (p.step or 0.01) if p.exclusive_minimum else p.minimum
        return io.Float.Input(p.name, default=p.default, min=lo, max=p.maximum, step=p.step or 0.01,
                              round=0.0001, tooltip=tip)
    if p.kind == "int":
        if p.name == "seed":
            return io.Int.Input(p.name, default=0, min=0, max=params.SEED_MAX, control_after_generate=True,
                                tooltip=tip)
        return io.Int.Input(p.name, default=p.default, min=int(p.minimum), max=int(p.maximum), step=1, tooltip=tip)
    raise AssertionError(p.kind)


def check_request(values: dict) -> params.Settings:
    """Everything that can be checked without downloading: types, ranges, combinations,
    control type, local media files (existence and readability)."""
    settings = params.validate(values)
    if settings.control_type not in AVAILABLE_CONTROL_TYPES and not settings.use_control_video:
        raise params.ParamError(
            "control_type",
            f"{settings.control_type!r} is not available in this version; use 'canny' or give a precomputed "
            "control video with skip_control_preprocess",
        )
    return settings


def probe_field(field: str, path: str, kind: str):
    """Decode-check one media file; raises media.MediaError naming the field.
    Returns the VideoInfo of a video (None for an image)."""
    if kind == "video":
        info = media.probe_video(path, label=field)
        if info.width <= 0 or info.height <= 0:
            raise media.MediaError(path, "has no valid frame size", label=field)
        return info
    media.load_image(path, label=field)
    return None


def _local_media(settings: params.Settings):
    """Media fields that name local files (URLs are fetched when the node runs)."""
    for p in params.PARAMS:
        if p.kind == "media":
            value = getattr(settings, p.name)
            if not value:
                continue
            kind = sources.kind_of(value)
            if kind == "bad-scheme":
                raise sources.bad_scheme(p.name, value)
            if kind == "file":
                yield p, value


class ReferenceSettings(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RV2V_Settings",
            display_name="LTX-2.3 Ref V2V Settings",
            category=CATEGORY,
            description="All parameters of the 'LTX 2.3 Quality: Reference Video to Video' preset, validated "
                        "together before any model work. Feed its outputs to the rest of the graph.",
            search_aliases=["ltx reference video", "rv2v", "union control", "ic-lora settings"],
            inputs=[_widget(p) for p in params.WIDGET_ORDER],
            outputs=[
                SettingsSocket.Output("settings", tooltip="The validated parameters for the pack's other nodes."),
                io.String.Output("prompt", tooltip="The prompt, for CLIPTextEncode."),
                io.String.Output("negative_prompt", tooltip="The negative prompt, for CLIPTextEncode."),
                io.Int.Output("seed", tooltip="The seed, for RandomNoise."),
                io.String.Output("report", tooltip="Adjustments made to the request (e.g. frame count)."),
            ],
        )

    @classmethod
    def validate_inputs(cls, **kwargs):
        try:
            settings = check_request(kwargs)
            for p, value in _local_media(settings):
                probe_field(p.name, resolve_media(value, p.name), p.media)
        except (params.ParamError, sources.SourceError, media.MediaError) as exc:
            return str(exc)
        return True

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        # Local files can change under the same name: include their mtimes.
        import os

        stamp = []
        for p in params.PARAMS:
            value = kwargs.get(p.name)
            if p.kind == "media" and isinstance(value, str) and value and sources.kind_of(value) == "file":
                try:
                    stamp.append(os.path.getmtime(resolve_media(value, p.name)))
                except Exception:  # noqa: BLE001 - validation reports it
                    stamp.append(None)
        return tuple(stamp)

    @classmethod
    def execute(cls, **kwargs) -> io.NodeOutput:
        settings = check_request(kwargs)
        for p in params.PARAMS:
            value = getattr(settings, p.name)
            if p.kind == "media" and value:
                path = resolve_media(value, p.name)
                info = probe_field(p.name, path, p.media)
                settings.resolved[p.name] = path
                if info is not None:
                    settings.media_info[p.name] = info
        seed, source = params.choose_seed(settings)
        if source == "random":
            settings.seed = seed
            settings.notes.append(params.random_seed_note(seed))
        report = "\n".join(settings.notes) or "ok"
        return io.NodeOutput(settings, settings.prompt, settings.negative_prompt, int(settings.seed), report,
                             ui=ui.PreviewText(report))
