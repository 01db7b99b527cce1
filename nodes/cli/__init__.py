"""Command line for the pack: ``generate``, ``models`` and ``control``.

Run it from the pack folder (no install, no ComfyUI needed on the client side)::

    python -m nodes.cli generate --prompt "a paper-cut dancer" --input-video clip.mp4 --output out.mp4
    python -m nodes.cli generate --request body.json --server http://127.0.0.1:8188 --output out.mp4
    python -m nodes.cli generate --request body.json --comfyui ~/ComfyUI --output out.mp4
    python -m nodes.cli models --comfyui ~/ComfyUI
    python -m nodes.cli control --input-video clip.mp4 --output control.mp4
    python -m nodes.cli control --input-video clip.mp4 --control-type depth --comfyui ~/ComfyUI

``python nodes/cli.py ...`` (the script next to this package, from any folder) is the same.

``generate`` uses ComfyUI's native API: it uploads local media files
(``/upload/image``), queues the shipped API workflow with the parameters applied
(``/prompt``), shows a progress bar from ComfyUI's websocket (``/ws``, a minimal
standard-library client; it falls back to polling ``/history``), and downloads the
MP4 (``/view``). With ``--comfyui PATH`` it starts that ComfyUI on a free loopback
port first and stops it afterwards. It exits 0 on success, 1 with the server's
message when the generation fails or the server refuses it, 2 for invalid arguments.

``generate`` and ``models`` need only the standard library; ``control`` needs torch,
numpy and av (it computes the control video locally with the pack's own code). The CLI
runs in its own process and never imports ComfyUI.

Modules: ``main`` (arguments, dispatch), one per command (``generate``, ``models``,
``control``), and their parts: ``client`` (HTTP), ``websocket`` (RFC 6455 client),
``progress`` (progress bar), ``local_comfy`` (``--comfyui``), ``errors`` (exit statuses).
"""
