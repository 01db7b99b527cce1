"""The pack's Python code.

``nodes.pure`` imports only the standard library, torch, numpy, einops,
safetensors and av; it is tested without ComfyUI. ``nodes.glue`` holds the thin
ComfyUI V3 node classes that call into it.
"""
