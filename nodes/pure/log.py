"""The pack's one logger, ``rv2v`` (ComfyUI's log handlers show it like core's own lines).

Pure module (standard library). Every module logs through :data:`log`; messages name what they are
about (a file, a field, a variable), so no per-module logger names are needed to find the source.
"""
import logging

log = logging.getLogger("rv2v")
