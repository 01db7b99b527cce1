"""The shipped UI workflow in a real browser: it loads in ComfyUI's frontend with every node known and
the Settings widgets holding the contract's defaults (widgets_values alignment), and the page raises no
JavaScript errors. Screenshots go to test-output/.

Needs COMFYUI_PATH/COMFY_PYTHON, Debian's chromium (/usr/bin/chromium) and the Python `playwright`
package (no browser download: the system chromium is used); skipped with a reason otherwise.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from . import harness

ENV = harness.comfy_env()
if ENV is None:
    pytest.skip(harness.comfy_env_reason(), allow_module_level=True)
CHROMIUM = os.environ.get("RV2V_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("browser tests need chromium (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need `pip install playwright`")

from rv2v.nodes.pure import params as P  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def wf_settings_values(wf):
    return next(n for n in wf["nodes"] if n["type"] == "RV2V_Settings")["widgets_values"]


def test_shipped_workflow_loads_with_all_nodes_and_defaults(tmp_path):
    wf = json.loads((ROOT / "workflows" / "ltx23_reference_video_to_video.json").read_text(encoding="utf-8"))
    OUT.mkdir(exist_ok=True)
    with harness.ComfyServer(tmp_path / "base", env=ENV) as srv:
        harness.make_clip(srv.input_dir / "reference.mp4", 192, 128, 17, 24)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1800, "height": 1100})
                page_errors: list[str] = []
                page.on("pageerror", lambda e: page_errors.append(str(e)))
                page.goto(srv.url, wait_until="networkidle")
                page.wait_for_function("window.app && window.app.graph", timeout=60000)
                page.evaluate("async (wf) => { await window.app.loadGraphData(wf); }", wf)
                time.sleep(1.5)
                info = page.evaluate("""() => {
                    const g = window.app.graph, reg = window.LiteGraph.registered_node_types;
                    const s = g._nodes.find(n => n.type === 'RV2V_Settings');
                    return {types: g._nodes.map(n => n.type),
                            unknown: g._nodes.filter(n => !reg[n.type]).map(n => n.type),
                            settings: s ? s.widgets.map(w => [w.name, w.value]) : null};
                }""")
                # The pack's JS adds a "use a URL" button per media field; clicking it sets the value,
                # and the API prompt the frontend builds carries it.
                page.once("dialog", lambda d: d.accept("https://example.com/clip.mp4"))
                prompt = page.evaluate("""async () => {
                    const s = window.app.graph._nodes.find(n => n.type === 'RV2V_Settings');
                    const b = s.widgets.find(w => w.name === 'control_video_url: use a URL…');
                    b.callback(b.value, window.app.canvas, s);
                    const p = await window.app.graphToPrompt();
                    return {buttons: s.widgets.filter(w => w.type === 'button').map(w => w.name),
                            inputs: p.output[String(s.id)].inputs, values: p.workflow.nodes.find(n => n.id === s.id).widgets_values};
                }""")
                page.keyboard.press("Escape")
                time.sleep(0.5)
                page.screenshot(path=str(OUT / "workflow_loaded.png"))
            finally:
                browser.close()
    assert info["unknown"] == [], f"node types the frontend does not know: {info['unknown']}"
    assert len(info["types"]) == len(wf["nodes"])
    values = dict(info["settings"])
    for p in P.PARAMS:
        if p.name in ("prompt", "input_video", "seed"):
            continue
        expected = "" if p.kind == "media" else p.default
        assert values[p.name] == expected, (p.name, values[p.name])
    assert values["input_video"] == "reference.mp4" and values["control_after_generate"] == "randomize"
    assert page_errors == [], page_errors
    assert [b for b in prompt["buttons"] if b.endswith("use a URL…")] == [
        "input_video: use a URL…", "input_image: use a URL…", "control_video_url: use a URL…"]
    assert prompt["inputs"]["control_video_url"] == "https://example.com/clip.mp4"
    assert prompt["inputs"]["input_video"] == "reference.mp4" and "use a URL" not in json.dumps(prompt["inputs"])
    # the buttons add nothing to the saved widget values (they would shift positional values)
    assert prompt["values"][: len(wf_settings_values(wf))] == [
        "https://example.com/clip.mp4" if v == "" and i == 4 else v for i, v in enumerate(wf_settings_values(wf))]
