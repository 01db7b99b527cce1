"""LTX-2.3 Reference Video-to-Video: a ComfyUI custom-node pack.

ComfyUI imports this folder as a package and calls ``comfy_entrypoint``. Outside
ComfyUI (unit tests, the CLI's local tools) nothing here needs ComfyUI: the
nodes are registered only when ``comfy_api`` can be found.
"""
import importlib.util

WEB_DIRECTORY = "./js"

if importlib.util.find_spec("comfy_api") is not None:
    from .nodes.glue.extension import comfy_entrypoint  # noqa: F401

    __all__ = ["comfy_entrypoint", "WEB_DIRECTORY"]
else:
    __all__ = ["WEB_DIRECTORY"]
