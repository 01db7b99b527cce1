"""Pure logic: no ComfyUI imports allowed here (tests/test_layering.py checks)."""
