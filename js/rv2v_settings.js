// LTX-2.3 Reference V2V: small UI helpers for the Settings node (no dependencies).
// Media fields are upload combos; ComfyUI's frontend gives only the first one an upload button and
// none of them a way to enter a URL. This adds one "use a URL" button per media field (http(s) URL or
// data: URI). The value is validated by the backend when the prompt is queued.
import { app } from "../../scripts/app.js";

const MEDIA_FIELDS = ["input_video", "input_image", "control_video_url"];

app.registerExtension({
  name: "rv2v.SettingsMedia",
  nodeCreated(node) {
    if (node.comfyClass !== "RV2V_Settings") return;
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
    }
  },
});
