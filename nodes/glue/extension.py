"""Registration with ComfyUI (V3 extension)."""
from __future__ import annotations

from comfy_api.latest import ComfyExtension, io
from typing_extensions import override

from .control import Control
from .reference_plan import ReferencePlan
from .preprocessors import NODES as PREPROCESSOR_NODES, register_folders
from .sampling import ICLoRAFile, ICLoRAGuide, ICLoRALoader, ReferenceImage, Schedule, VideoInit
from .save import SaveMP4
from .settings import ReferenceSettings

NODES: list[type[io.ComfyNode]] = [
    ReferenceSettings,
    ReferencePlan,
    Control,
    ICLoRAFile,
    ICLoRALoader,
    ICLoRAGuide,
    ReferenceImage,
    VideoInit,
    Schedule,
    SaveMP4,
    *PREPROCESSOR_NODES,
]


class RV2VExtension(ComfyExtension):
    @override
    async def on_load(self) -> None:
        from .routes import register  # the hosted-compatible HTTP API (nodes/glue/routes.py)
        from .ui_routes import register as register_ui  # what the pack's JS asks (missing models)

        register_folders()  # models/rv2v_depth, models/rv2v_pose: before any schema lists their files
        register()
        register_ui()

    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODES


async def comfy_entrypoint() -> RV2VExtension:
    return RV2VExtension()
