// LTX-2.3 Reference V2V: the pack's frontend extension (no dependencies).
//
// * Settings node: applies the combination rules carried by the node definition (see rv2v_rules.js):
//   hides control_video_url unless skip_control_preprocess is on, greys out fields that have no effect,
//   and lists invalid combinations under the node before anything is queued (same messages as the
//   backend). Adds a "use a URL" button per media field.
// * Control node: a "Preview control video" button that queues only the part of the graph up to the
//   control video (ComfyUI's partial execution), so no model is loaded; the result plays in the node.
// * Missing models: when a graph with the pack's nodes is loaded, asks the pack's route which model
//   files it names are absent and says which folder each goes in.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { evaluateRules, rulesFromNodeDef } from "./rv2v_rules.js";

const MEDIA_FIELDS = ["input_video", "input_image", "control_video_url"];
const MEDIA_ACCEPT = { input_video: "video/*", input_image: "image/*", control_video_url: "video/*" };
const RULES = {};

function toast(severity, summary, detail, life) {
  const t = app.extensionManager?.toast;
  if (t?.add) t.add({ severity, summary, detail, ...(life ? { life } : {}) });
  else console.warn(`${summary}: ${detail}`);
}

function widgetValues(node) {
  const values = {};
  for (const w of node.widgets ?? []) values[w.name] = w.value;
  return values;
}

function applyRules(node) {
  const result = evaluateRules(RULES, widgetValues(node));
  let resized = false;
  for (const w of node.widgets ?? []) {
    if (!(w.name in RULES)) continue;
    const hide = result.hidden.includes(w.name);
    if (Boolean(w.hidden) !== hide) {
      w.hidden = hide;
      if (w.options) w.options.hidden = hide;
      resized = true;
    }
    w.disabled = result.greyed.includes(w.name);
    w.rv2vInactive = result.inactive[w.name] ?? null;
  }
  node.rv2vIssues = result.errors.map((e) => e.message);
  node.rv2vInactive = result.inactive;
  if (resized) {
    const size = node.computeSize();
    node.setSize([node.size[0], size[1]]);  // keep the width the workflow gave it
  }
  node.setDirtyCanvas?.(true, true);
  return result;
}

function wrapText(ctx, text, width) {
  const lines = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    const next = line ? `${line} ${word}` : word;
    if (line && ctx.measureText(next).width > width) {
      lines.push(line);
      line = word;
    } else {
      line = next;
    }
  }
  if (line) lines.push(line);
  return lines;
}

function drawIssues(node, ctx) {
  const issues = node.rv2vIssues ?? [];
  if (!issues.length || node.flags?.collapsed) return;
  ctx.save();
  ctx.font = "12px sans-serif";
  const width = node.size[0];
  const lines = issues.flatMap((issue) => wrapText(ctx, `⚠ ${issue}`, width - 12));
  const y0 = node.size[1] + 8;
  ctx.fillStyle = "rgba(120, 20, 20, 0.92)";
  ctx.fillRect(0, y0, width, 8 + lines.length * 16);
  ctx.fillStyle = "#ffd6d6";
  lines.forEach((line, i) => ctx.fillText(line, 6, y0 + 16 + i * 16));
  ctx.restore();
}

// Upload a file into ComfyUI's input folder and select it in the combo (ComfyUI's frontend gives only the
// node's first upload combo an upload button).
function uploadInto(node, combo) {
  const picker = document.createElement("input");
  picker.type = "file";
  picker.accept = MEDIA_ACCEPT[combo.name] ?? "";
  picker.style.display = "none";
  picker.onchange = async () => {
    const file = picker.files?.[0];
    picker.remove();
    if (!file) return;
    const form = new FormData();
    form.append("image", file);
    form.append("type", "input");
    const res = await api.fetchApi("/upload/image", { method: "POST", body: form });
    if (!res.ok) {
      toast("error", `Upload for ${combo.name} failed`, `${res.status} ${res.statusText}`, 8000);
      return;
    }
    const data = await res.json();
    const name = data.subfolder ? `${data.subfolder}/${data.name}` : data.name;
    const values = combo.options?.values;
    if (Array.isArray(values) && !values.includes(name)) values.push(name);
    combo.value = name;
    combo.callback?.(name);
    node.setDirtyCanvas?.(true, true);
  };
  document.body.appendChild(picker);
  picker.click();
}

function setupSettings(node) {
  for (const w of node.widgets ?? []) {
    if (!(w.name in RULES)) continue;
    const original = w.callback;
    w.callback = function (...args) {
      const r = original?.apply(this, args);
      applyRules(node);
      return r;
    };
  }
  for (const name of MEDIA_FIELDS) {
    const combo = node.widgets?.find((w) => w.name === name);
    if (!combo) continue;
    const button = node.addWidget(
      "button",
      `${name}: use a URL…`,
      null,
      () => {
        const url = window.prompt(`http(s) URL or data: URI for ${name} (empty clears it)`, "");
        if (url === null) return;
        combo.value = url.trim();
        combo.callback?.(combo.value);
        node.setDirtyCanvas?.(true, true);
      },
      { serialize: false },
    );
    button.serialize = false;
    button.rv2vUrlFor = name;
    if (name !== MEDIA_FIELDS[0]) {  // the frontend's own upload button serves the first media field
      const upload = node.addWidget("button", `${name}: upload…`, null, () => uploadInto(node, combo),
        { serialize: false });
      upload.serialize = false;
    }
  }
  const draw = node.onDrawForeground;
  node.onDrawForeground = function (ctx, ...rest) {
    const r = draw?.apply(this, [ctx, ...rest]);
    // Values can change without a callback (loading a workflow, links, undo): re-check cheaply.
    const key = JSON.stringify(Object.keys(RULES).map((k) => this.widgets?.find((w) => w.name === k)?.value));
    if (key !== this.rv2vRulesKey) {
      this.rv2vRulesKey = key;
      applyRules(this);
    }
    drawIssues(this, ctx);
    return r;
  };
  applyRules(node);
}

async function previewControl(node) {
  const { output, workflow } = await app.graphToPrompt();
  const body = {
    client_id: api.clientId,
    prompt: output,
    partial_execution_targets: [String(node.id)],
    extra_data: { extra_pnginfo: { workflow } },
  };
  const res = await api.fetchApi("/prompt", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const errs = Object.values(data.node_errors ?? {}).flatMap((n) => n.errors ?? []);
    const detail = errs.map((e) => e.details || e.message).join("\n") || data.error?.message || res.statusText;
    node.rv2vPreviewError = detail;
    toast("error", "Preview control video", detail, 12000);
    return null;
  }
  node.rv2vPreviewError = null;
  node.rv2vPreviewPromptId = data.prompt_id;
  toast("info", "Preview control video", "Queued: only the nodes up to the control video run.", 4000);
  return data.prompt_id;
}

// Start the preview playing (muted, looped) once the frontend has made its <video> element.
function playPreview(output, tries = 40) {
  const names = (output?.images ?? []).map((i) => i.filename).filter((f) => /\.(mp4|webm)$/i.test(f ?? ""));
  if (!names.length) return;
  const videos = [...document.querySelectorAll("video")].filter((v) =>
    names.some((n) => (v.currentSrc || v.src || "").includes(`filename=${encodeURIComponent(n)}`)));
  if (!videos.length) {
    if (tries > 0) setTimeout(() => playPreview(output, tries - 1), 250);
    return;
  }
  for (const v of videos) {
    v.muted = true;
    v.loop = true;
    v.play?.().catch(() => {});
  }
}

function setupControl(node) {
  const executed = node.onExecuted;
  node.onExecuted = function (output) {
    const r = executed?.apply(this, arguments);
    playPreview(output);
    return r;
  };
  const button = node.addWidget("button", "▶ Preview control video", null, () => previewControl(node),
    { serialize: false });
  button.serialize = false;
  node.rv2vPreview = () => previewControl(node);
}

const MODEL_CHECK_DELAY_MS = 300;
let modelCheckTimer = null;
const noticeShown = new Set();

async function checkModels() {
  const nodes = app.graph?._nodes ?? app.graph?.nodes ?? [];
  if (!nodes.some((n) => String(n.type).startsWith("RV2V_"))) return;
  const { output } = await app.graphToPrompt();
  const res = await api.fetchApi("/rv2v/models/check", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt: output }),
  });
  if (!res.ok) return;
  const { missing } = await res.json();
  window.rv2vMissingModels = missing;
  const required = missing.filter((m) => !m.optional);
  const optional = missing.filter((m) => m.optional);
  if (!required.length && !optional.length) return;
  // Say it once per set of missing files (not again for every tab or reload of the same graph).
  const key = missing.map((m) => `${m.folder}/${m.name}`).sort().join("|");
  if (noticeShown.has(key)) return;
  noticeShown.add(key);
  const line = (m) => `• ${m.name} → models/${m.folder}/ (${m.source})`;
  const parts = [];
  if (required.length) parts.push(`Needed for every run:\n${required.map(line).join("\n")}`);
  if (optional.length) {
    parts.push(`Needed only for some control types:\n${optional.map((m) => `${line(m)} — ${m.needed_for}`).join("\n")}`);
  }
  toast(required.length ? "warn" : "info", "LTX-2.3 Ref V2V: model files not found", parts.join("\n\n"));
}

app.registerExtension({
  name: "rv2v.ReferenceV2V",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === "RV2V_Settings") Object.assign(RULES, rulesFromNodeDef(nodeData));
  },
  nodeCreated(node) {
    if (node.comfyClass === "RV2V_Settings") setupSettings(node);
    else if (node.comfyClass === "RV2V_Control") setupControl(node);
  },
  afterConfigureGraph() {
    clearTimeout(modelCheckTimer);
    modelCheckTimer = setTimeout(() => checkModels().catch((e) => console.warn("rv2v model check", e)),
      MODEL_CHECK_DELAY_MS);
  },
});
