"""ComfyUI glue: V3 node classes. Imported only inside ComfyUI."""
