"""CI must run the end-to-end suite: without ComfyUI an e2e module skips for a user and fails in CI.

Runs pytest on one e2e module in a child process with ComfyUI's variables removed, once as a user
(no ``CI``: skipped with the one-line reason) and once as CI (``CI=true``: a failure naming it).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests/e2e/test_core_smoke.py"
REASON = "e2e tests need COMFYUI_PATH and COMFY_PYTHON"


def _run(ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COMFYUI_PATH", "COMFY_PYTHON", "CI", "RV2V_E2E_FULL")}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", MODULE],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_user_without_comfyui_gets_a_skip_with_the_reason():
    proc = _run(None)
    out = proc.stdout + proc.stderr
    assert proc.returncode in (0, 5), out  # 5: the module-level skip left nothing collected
    assert "1 skipped" in out and REASON in out, out


@pytest.mark.parametrize("ci", ["true", "1"])
def test_ci_without_comfyui_is_a_failure_with_the_reason(ci):
    proc = _run(ci)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert f"CI=true but {REASON}" in out, out
    assert "skipped" not in out, out
