"""The shipped workflow in a real browser (ComfyUI's frontend + the pack's JS), against a real server with
the pack and the tiny models:

1. the workflow opens from the template browser (the pack's category, its thumbnail), with every node known,
   no missing-node dialog and no page errors; the pack's missing-models notice names the absent
   preprocessor files and their folders;
2. the Settings node shows the 15 parameters with the shipped values (contract defaults), the control video
   input only once skip_control_preprocess is switched on (a real click), and strength / preserve greyed out
   while they do not apply;
3. an invalid combination (a shared workflow with preserve_original_video on and no control video) is
   listed under the node before queueing, and the backend refuses the queued prompt with the same message;
   so is an empty prompt, typed by the user;
4. "Preview control video" runs only up to the Control node and its video plays in the node;
5. a full run (the Run button) finishes and the Save MP4 node's video element plays.

Screenshots go to test-output/. With RV2V_UPDATE_SCREENSHOTS=1 the test also writes the README screenshots
(workflows/screenshots/) and the template thumbnail (workflows/<name>.jpg): they come from here, never
from hand edits.

Needs COMFYUI_PATH/COMFY_PYTHON, Debian's chromium (/usr/bin/chromium) and the Python `playwright`
package (no browser download: the system chromium is used); skipped with a reason otherwise (a failure
with CI=true).
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from . import harness

ENV = harness.require_comfy_env()
CHROMIUM = os.environ.get("RV2V_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    harness.unavailable("browser tests need chromium (apt-get install chromium)")
try:
    from playwright import sync_api
except ImportError:
    harness.unavailable("browser tests need `pip install playwright`")

from rv2v.nodes.pure import params as P  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output"
WORKFLOW = ROOT / "workflows" / "ltx23_reference_video_to_video.json"
THUMBNAIL = WORKFLOW.with_suffix(".jpg")
SCREENSHOTS = ROOT / "workflows" / "screenshots"
UPDATE = os.environ.get("RV2V_UPDATE_SCREENSHOTS", "").strip() in ("1", "true", "yes")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"]
PACK = harness.PACK_DIR_NAME

SETTINGS_JS = "window.app.graph._nodes.find(n => n.type === 'RV2V_Settings')"
CONTROL_JS = "window.app.graph._nodes.find(n => n.type === 'RV2V_Control')"


def ours(url: str) -> bool:
    """Requests the pack is responsible for (its JS, routes, templates)."""
    return any(part in url for part in (f"/extensions/{PACK}/", "/rv2v/", f"/api/workflow_templates/{PACK}/",
                                        "/api/ai/"))


class Page:
    """A ComfyUI page with the event logs the test checks."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1800, "height": 1100})
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.failed: list[tuple[int, str]] = []
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("response", self._response)
        self.page.goto(url, wait_until="networkidle")
        self.page.wait_for_function("window.app && window.app.graph && window.app.extensionManager",
                                    timeout=90000)

    def _response(self, r) -> None:
        if r.status >= 400:
            self.failed.append((r.status, r.url))

    def js(self, script: str, arg=None):
        return self.page.evaluate(script, arg)

    def shot(self, name: str, readme: bool = False) -> Path:
        path = OUT / name
        self.page.mouse.move(1790, 1090)  # no tooltip in the picture
        time.sleep(0.3)
        self.page.screenshot(path=str(path))
        if readme and UPDATE:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, SCREENSHOTS / name)
        return path

    def focus(self, node_js: str, scale: float = 1.0, dx: float = 100, dy: float = 70) -> None:
        """Put a node at the top left of the canvas at the given zoom."""
        self.js(f"""(a) => {{ const c = window.app.canvas, n = {node_js};
            c.ds.scale = a[0]; c.ds.offset = [-n.pos[0] + a[1] / a[0], -n.pos[1] + a[2] / a[0]];
            c.setDirty(true, true); }}""", [scale, dx, dy])
        time.sleep(0.4)

    def widget_point(self, node_js: str, widget: str, x_from_right: float | None = None):
        """Screen coordinates of a widget row (from the canvas transform)."""
        return self.js(f"""(a) => {{ const c = window.app.canvas, n = {node_js};
            const w = n.widgets.find(w => w.name === a[0]);
            const r = c.canvas.getBoundingClientRect(), s = c.ds.scale, o = c.ds.offset;
            const gx = a[1] === null ? n.pos[0] + n.size[0] / 2 : n.pos[0] + n.size[0] - a[1];
            const gy = n.pos[1] + (w.last_y ?? w.y) + (w.computedHeight ?? 20) / 2;
            return {{x: (gx + o[0]) * s + r.left, y: (gy + o[1]) * s + r.top}}; }}""", [widget, x_from_right])

    def settings(self) -> dict:
        return self.js(f"""() => {{ const s = {SETTINGS_JS};
            return {{widgets: s.widgets.map(w => ({{name: w.name, value: w.value, hidden: !!w.hidden,
                                                    disabled: !!w.disabled}})),
                     issues: s.rv2vIssues ?? [], inactive: s.rv2vInactive ?? {{}}}}; }}""")

    def queue_with_run_button(self) -> tuple[int, dict]:
        """Click the frontend's Run button; the /api/prompt answer it got."""
        try:
            with self.page.expect_response(
                    lambda r: r.url.endswith("/api/prompt") and r.request.method == "POST", timeout=120000) as got:
                self.page.get_by_role("button", name="Run", exact=True).first.click()
        except Exception:
            self.shot("run_button_failed.png")
            raise
        response = got.value
        try:
            body = response.json()
        except Exception:  # noqa: BLE001
            body = {}
        return response.status, body

    def close_dialogs(self) -> None:
        for _ in range(3):
            self.page.keyboard.press("Escape")
            time.sleep(0.2)

    def wait_video(self, needle: str, timeout: float = 300) -> dict:
        """The first <video> whose source contains needle, once it has data."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.js("""(needle) => [...document.querySelectorAll('video')]
                .filter(v => (v.currentSrc || v.src || '').includes(needle))
                .map(v => ({src: v.currentSrc || v.src, ready: v.readyState, paused: v.paused,
                            t: v.currentTime, duration: v.duration, w: v.videoWidth, h: v.videoHeight}))""",
                            needle)
            if found and found[0]["ready"] >= 2:
                return found[0]
            time.sleep(0.5)
        raise AssertionError(f"no <video> with {needle!r} appeared; page errors: {self.page_errors}")

    def video_advances(self, needle: str, start: bool) -> dict:
        """Whether the video plays: its time moves forward (start=True presses play like a user would)."""
        if start:
            self.js("""(needle) => { for (const v of document.querySelectorAll('video'))
                if ((v.currentSrc || v.src || '').includes(needle)) { v.muted = true; v.play(); } }""", needle)
        t0 = self.wait_video(needle)["t"]
        time.sleep(1.2)
        now = self.wait_video(needle)
        return {**now, "t0": t0}


def settings_values(wf):
    return next(n for n in wf["nodes"] if n["type"] == "RV2V_Settings")["widgets_values"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    OUT.mkdir(exist_ok=True)
    with harness.ComfyServer(tmp_path_factory.mktemp("browser") / "base", env=ENV) as srv:
        harness.make_clip(srv.input_dir / "reference.mp4", 192, 128, 17, 24)
        yield srv


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def test_preset_workflow_in_the_browser(server, browser):
    wf = json.loads(WORKFLOW.read_text(encoding="utf-8"))
    ui = Page(browser, server.url)
    page = ui.page

    # 1. open it from the template browser: the pack's category, then its card
    ui.js("() => window.app.extensionManager.command.execute('Comfy.BrowseTemplates')")
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(PACK, exact=True).first.click()
    card = page.get_by_test_id("template-workflow-ltx23_reference_video_to_video")
    card.wait_for(timeout=30000)
    time.sleep(1.0)
    if UPDATE:
        ui.shot("template_browser.png", readme=True)
    card.click()
    page.wait_for_function("window.app.graph._nodes.some(n => n.type === 'RV2V_Settings')", timeout=30000)
    toast = page.locator(".p-toast-message", has_text="model files not found")
    toast.wait_for(timeout=30000)
    notice = toast.inner_text()
    info = ui.js("""() => { const g = window.app.graph, reg = window.LiteGraph.registered_node_types;
        return {types: g._nodes.map(n => n.type), unknown: g._nodes.filter(n => !reg[n.type]).map(n => n.type),
                dialogs: [...document.querySelectorAll('[role=dialog]')].map(d => d.innerText.slice(0, 200))}; }""")
    assert info["unknown"] == [], f"node types the frontend does not know: {info['unknown']}"
    assert len(info["types"]) == len(wf["nodes"])
    assert not any("missing" in d.lower() and "node" in d.lower() for d in info["dialogs"]), info["dialogs"]
    # every LTX file is there (tiny ones), the preprocessor weights are not: the notice names them + folders
    assert "video_depth_anything_vits.pth" in notice and "models/rv2v_depth/" in notice, notice
    assert "yolox_l.torchscript.pt" in notice and "models/rv2v_pose/" in notice, notice
    assert "ltx-2.3-22b-dev.safetensors" not in notice and "Needed for every run" not in notice, notice
    missing = ui.js("() => window.rv2vMissingModels")
    assert {m["name"] for m in missing} == {"video_depth_anything_vits.pth", "yolox_l.torchscript.pt",
                                            "dw-ll_ucoco_384_bs5.torchscript.pt"}
    assert all(m["optional"] for m in missing)
    time.sleep(0.5)
    ui.js("() => { const c = window.app.canvas; c.ds.scale = 0.42; c.ds.offset = [60, 120]; c.setDirty(true, true); }")
    time.sleep(0.8)
    overview = ui.shot("workflow_loaded.png", readme=True)
    if UPDATE:
        page.screenshot(path=str(THUMBNAIL), type="jpeg", quality=80,
                        clip={"x": 60, "y": 80, "width": 1280, "height": 720})
    page.locator(".p-toast-message .p-toast-close-button").first.click()

    # 2. the 15 parameters with the shipped values; control_video_url only with skip_control_preprocess
    s = ui.settings()
    widgets = {w["name"]: w for w in s["widgets"]}
    shipped = dict(zip([p.name for p in P.WIDGET_ORDER], settings_values(wf)))
    for p in P.PARAMS:
        if p.name in ("prompt", "input_video", "seed"):
            assert widgets[p.name]["value"] == shipped[p.name]
            continue
        assert widgets[p.name]["value"] == ("" if p.kind == "media" else p.default), p.name
    visible = [n for n in P.PRESET_FIELDS if not widgets[n]["hidden"]]
    assert visible == [n for n in P.PRESET_FIELDS if n != "control_video_url"], visible
    assert widgets["strength"]["disabled"] and widgets["preserve_original_video"]["disabled"]
    assert not widgets["skip_control_preprocess"]["disabled"] and s["issues"] == []

    ui.focus(SETTINGS_JS)
    point = ui.widget_point(SETTINGS_JS, "skip_control_preprocess", x_from_right=30)
    page.mouse.click(point["x"], point["y"])  # a real click on the toggle
    time.sleep(0.5)
    s = ui.settings()
    widgets = {w["name"]: w for w in s["widgets"]}
    assert widgets["skip_control_preprocess"]["value"] is True
    assert [n for n in P.PRESET_FIELDS if widgets[n]["hidden"]] == [], "all 15 parameters are visible now"
    assert widgets["strength"]["disabled"], "strength still has no effect without preserve_original_video"
    assert "skip_control_preprocess" in s["inactive"]  # ignored until a control video is given
    ui.shot("settings_skip_on.png", readme=True)
    point = ui.widget_point(SETTINGS_JS, "skip_control_preprocess", x_from_right=30)  # it moved down a row
    page.mouse.click(point["x"], point["y"])  # back off
    time.sleep(0.5)
    assert ui.settings()["widgets"][[w["name"] for w in s["widgets"]].index("skip_control_preprocess")]["value"] is False

    # 3a. an invalid combination from a shared workflow file: inline message, then the same refusal
    bad = copy.deepcopy(wf)
    values = settings_values(bad)
    order = [p.name for p in P.WIDGET_ORDER]
    values[order.index("preserve_original_video")] = True
    ui.js("async (wf) => { await window.app.loadGraphData(wf); }", bad)
    time.sleep(1.0)
    expected = ("preserve_original_video: requires skip_control_preprocess=true and a control_video_url "
                "(missing: skip_control_preprocess, control_video_url)")
    with pytest.raises(P.ParamError) as backend_error:
        P.validate({"prompt": "x", "input_video": "reference.mp4", "preserve_original_video": True})
    assert str(backend_error.value) == expected
    issues = ui.settings()["issues"]
    assert issues == [expected], issues
    ui.focus(SETTINGS_JS, scale=0.8)
    ui.shot("invalid_inline.png", readme=True)
    status, body = ui.queue_with_run_button()
    assert status == 400, (status, body)
    details = json.dumps(body.get("node_errors", {}))
    assert expected in details, details
    ui.close_dialogs()

    # 3b. the user empties the prompt: listed at once, refused the same way
    ui.js("async (wf) => { await window.app.loadGraphData(wf); }", wf)
    time.sleep(1.0)
    ui.focus(SETTINGS_JS)
    page.locator("textarea").first.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.mouse.click(900, 1000)  # leave the text box (commits the value)
    time.sleep(0.5)
    assert ui.js(f"() => {SETTINGS_JS}.widgets.find(w => w.name === 'prompt').value") == ""
    issues = ui.settings()["issues"]
    assert issues == ["prompt: is required and must not be empty"], issues
    status, body = ui.queue_with_run_button()
    assert status == 400 and "prompt: is required and must not be empty" in json.dumps(body), (status, body)
    ui.close_dialogs()

    # 4. preview control: only the control branch runs; the video plays in the node
    ui.js("async (wf) => { await window.app.loadGraphData(wf); }", wf)
    time.sleep(1.0)
    ui.js(f"""() => {{ const s = {SETTINGS_JS};
        for (const [k, v] of [['num_frames', 9], ['frames_per_second', 8]]) s.widgets.find(w => w.name === k).value = v; }}""")
    ui.focus(CONTROL_JS, scale=0.9, dy=-300)
    point = ui.widget_point(CONTROL_JS, "▶ Preview control video")
    page.mouse.click(point["x"], point["y"])
    preview = ui.wait_video("rv2v_preview", timeout=300)
    played = ui.video_advances("rv2v_preview", start=False)  # the pack starts it (muted, looped)
    assert not played["paused"] and played["w"] > 0, played
    assert played["t"] > played["t0"] or played["t"] > 0, played
    ui.shot("control_preview.png", readme=True)
    prompt_id = ui.js(f"() => {CONTROL_JS}.rv2vPreviewPromptId")
    entry = server.wait(prompt_id, timeout=300)
    ran = set(entry["outputs"])  # nodes with UI output: Settings (1), Reference planning (7), Control (8)
    assert "8" in ran and ran <= {"1", "7", "8"}, f"a preview runs only the control branch: {ran}"
    assert preview["src"].startswith(server.url) and "type=temp" in preview["src"]

    # 5. a full run with the Run button; the output video element plays
    status, body = ui.queue_with_run_button()
    assert status == 200, (status, body)
    entry = server.wait(body["prompt_id"], timeout=600)
    assert entry["status"]["status_str"] == "success", entry["status"]
    ui.focus("window.app.graph._nodes.find(n => n.type === 'RV2V_SaveMP4')", scale=0.8, dx=400)
    saved = ui.wait_video("LTX23_RV2V", timeout=120)  # DOM widgets exist for nodes on screen
    played = ui.video_advances("LTX23_RV2V", start=True)
    assert played["t"] > played["t0"] and not played["paused"], played
    assert (saved["w"], saved["h"]) == (768, 512)
    ui.shot("output_playing.png", readme=True)

    # the page and everything the pack serves stayed clean
    assert ui.page_errors == [], ui.page_errors
    assert [f for f in ui.failed if ours(f[1])] == [], ui.failed
    assert [e for e in ui.console_errors if "rv2v" in e.lower()] == [], ui.console_errors
    assert overview.is_file() and THUMBNAIL.is_file()


def test_url_buttons_set_media_fields_without_shifting_saved_values(server, browser):
    """The pack's JS adds a "use a URL" button per media field; the value reaches the API prompt and the
    buttons add nothing to the saved widget values (they would shift positional values)."""
    wf = json.loads(WORKFLOW.read_text(encoding="utf-8"))
    ui = Page(browser, server.url)
    page = ui.page
    ui.js("async (wf) => { await window.app.loadGraphData(wf); }", wf)
    time.sleep(1.0)
    page.once("dialog", lambda d: d.accept("https://example.com/clip.mp4"))
    prompt = ui.js(f"""async () => {{
        const s = {SETTINGS_JS};
        const b = s.widgets.find(w => w.name === 'control_video_url: use a URL…');
        b.callback(b.value, window.app.canvas, s);
        const p = await window.app.graphToPrompt();
        return {{buttons: s.widgets.filter(w => w.type === 'button').map(w => w.name),
                inputs: p.output[String(s.id)].inputs,
                values: p.workflow.nodes.find(n => n.id === s.id).widgets_values}};
    }}""")
    assert [b for b in prompt["buttons"] if b.endswith("use a URL…")] == [
        "input_video: use a URL…", "input_image: use a URL…", "control_video_url: use a URL…"]
    assert prompt["inputs"]["control_video_url"] == "https://example.com/clip.mp4"
    assert prompt["inputs"]["input_video"] == "reference.mp4" and "use a URL" not in json.dumps(prompt["inputs"])
    i = [p.name for p in P.WIDGET_ORDER].index("control_video_url")
    expected = list(settings_values(wf))
    expected[i] = "https://example.com/clip.mp4"
    assert prompt["values"][: len(expected)] == expected

    # an upload button for the media fields the frontend gives none (it serves only the first upload combo)
    image = harness.make_image(OUT / "rv2v_upload_probe.png", 64, 48)
    with page.expect_file_chooser() as chooser:
        ui.js(f"""() => {{ const s = {SETTINGS_JS};
            const b = s.widgets.find(w => w.name === 'input_image: upload…'); b.callback(b.value, window.app.canvas, s); }}""")
    chooser.value.set_files(str(image))
    page.wait_for_function(f"{SETTINGS_JS}.widgets.find(w => w.name === 'input_image').value === 'rv2v_upload_probe.png'",
                           timeout=30000)
    assert (server.input_dir / "rv2v_upload_probe.png").read_bytes() == image.read_bytes()
    names = ui.js(f"() => {SETTINGS_JS}.widgets.filter(w => w.type === 'button').map(w => w.name)")
    assert "input_image: upload…" in names and "control_video_url: upload…" in names
    assert "input_video: upload…" not in names  # the frontend's own button serves it
    assert ui.page_errors == []


def test_missing_models_route_names_absent_files_and_folders(server):
    """The route behind the notice: required files are reported with their folder and source."""
    api_wf = json.loads((ROOT / "workflows" / "api" / WORKFLOW.name).read_text(encoding="utf-8"))
    api_wf["2"]["inputs"]["ckpt_name"] = "not-downloaded-yet.safetensors"
    answer = server.post_json("/rv2v/models/check", {"prompt": api_wf})
    required = [m for m in answer["missing"] if not m["optional"]]
    assert [(m["name"], m["folder"]) for m in required] == [("not-downloaded-yet.safetensors", "checkpoints")]
    assert any(p.endswith(os.path.join("models", "checkpoints")) for p in required[0]["paths"])
    full = server.post_json("/rv2v/models/check", {"prompt": json.loads(
        (ROOT / "workflows" / "api" / WORKFLOW.name).read_text(encoding="utf-8"))})
    assert [m for m in full["missing"] if not m["optional"]] == []
    with pytest.raises(Exception) as err:
        server.post_json("/rv2v/models/check", {"prompt": "nope"})
    assert "400" in str(err.value)
