// Submit page: a bundle from this computer (through the API's short-lived upload URL) or one
// already in the scenes container, and the render.json options, validated before sending.

import { ApiError, hasRoute, markRoute, post, request } from "./api.js";
import { currentUser } from "./auth.js";
import { h, notify } from "./dom.js";
import { bundleError, bundlePathError, buildRequest } from "./validate.js";

const BLOCK = 4 * 1024 * 1024;

const FIELDS = [
  ["name", "Job name", "such as shot010 lighting v3; empty: the bundle's file name"],
  ["frames", "Frames", "1-240, 1,5,10-20 or 1-100x5; empty: the .blend's range"],
  ["chunkSize", "Chunk size", "frames per task, or auto (empty: auto)"],
  ["fps", "Frame rate", "frames per second"],
  ["resolution", "Resolution", "such as 1920x1080"],
  ["format", "Image format", "as Blender writes it"],
  ["scene", "Scene", "the .blend's scene to render"],
  ["engine", "Engine", "Blender's render engine"],
  ["samples", "Samples", "render samples"],
  ["priority", "Priority", "-1000..1000"],
  ["maxRetries", "Retries", "attempts after the first, 0..10"],
];
const CHOICES = {
  format: ["PNG", "JPEG", "OPEN_EXR", "TIFF"],
  engine: ["CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH"],
  "video.codec": ["libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"],
};

function control(id) {
  if (!CHOICES[id]) return h("input", { type: "text", autocomplete: "off" });
  return h("select", {}, h("option", { value: "", text: "(from the bundle)" }), CHOICES[id].map((c) => h("option", { value: c, text: c })));
}

const VIDEO_FIELDS = [["video.codec", "Codec", "FFmpeg encoder"], ["video.crf", "Quality (CRF)", "0..51"],
  ["video.name", "File name", "shot.mp4"]];

function field(id, label, hint, input) {
  const error = h("span", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
  input.id = id;
  input.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
  return { el: h("div", { class: "field" }, h("label", { for: id }, label), input,
    h("span", { class: "hint", id: `${id}-hint` }, hint), error), input, error };
}

// Put Block + Put Block List on the one-blob SAS URL, so a big bundle shows progress and never
// needs the function key or a storage key.
function putBlock(url, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => (xhr.status < 300 ? resolve() : reject(new Error(`storage answered ${xhr.status}`)));
    xhr.onerror = () => reject(new Error("the upload was refused or the connection dropped"));
    xhr.send(body);
  });
}

async function uploadBundle(sasUrl, file, progress) {
  const ids = [];
  let sent = 0;
  for (let offset = 0, i = 0; offset < file.size || i === 0; offset += BLOCK, i++) {
    const id = btoa(String(i).padStart(8, "0"));
    ids.push(id);
    const slice = file.slice(offset, offset + BLOCK);
    const sep = sasUrl.includes("?") ? "&" : "?";
    await putBlock(`${sasUrl}${sep}comp=block&blockid=${encodeURIComponent(id)}`, slice,
      (loaded) => progress(sent + loaded, file.size));
    sent += slice.size;
    if (file.size === 0) break;
  }
  const list = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join("")}</BlockList>`;
  const sep = sasUrl.includes("?") ? "&" : "?";
  await putBlock(`${sasUrl}${sep}comp=blocklist`, new Blob([list], { type: "application/xml" }), () => {});
  progress(file.size, file.size);
}

export function mount(main) {
  const fileInput = h("input", { type: "file", accept: ".blend,.zip" });
  const pathInput = h("input", { type: "text", placeholder: "artist-a/shot010.zip", autocomplete: "off" });
  const file = field("bundle-file", "Bundle from this computer", ".blend or .zip", fileInput);
  const blob = field("bundle-path", "Or a bundle already in the scenes container", "its blob name", pathInput);
  const idem = field("idempotency-key", "Idempotency key (optional)", "letters, digits, - and _; at most 64",
    h("input", { type: "text", autocomplete: "off" }));
  const fields = Object.fromEntries([...FIELDS, ...VIDEO_FIELDS].map(([id, label, hint]) =>
    [id, field(`opt-${id.replace(".", "-")}`, label, hint, control(id))]));
  const videoMode = h("select", { id: "video-mode" }, h("option", { value: "default", text: "Stitch a video (defaults)" }),
    h("option", { value: "custom", text: "Stitch a video with these settings" }), h("option", { value: "none", text: "Frames only" }));
  const videoBox = h("fieldset", { hidden: true }, h("legend", {}, "Video"), VIDEO_FIELDS.map(([id]) => fields[id].el));
  videoMode.addEventListener("change", () => { videoBox.hidden = videoMode.value !== "custom"; });
  const bar = h("progress", { max: "100", value: "0", id: "upload-progress", hidden: true });
  const result = h("p", { id: "submit-result", role: "status", "aria-live": "polite" });
  const send = h("button", { type: "submit", id: "submit-job" }, "Submit job");
  const form = h("form", { class: "submit panel", novalidate: true },
    file.el, blob.el, idem.el,
    FIELDS.map(([id]) => fields[id].el),
    h("div", { class: "field" }, h("label", { for: "video-mode" }, "Video"), videoMode), videoBox,
    h("div", { class: "field" }, send, bar, result));
  // Behind App Service authentication the API records the signed-in user (from the platform's
  // header, not from anything this page sends) as the submitter.
  const user = currentUser();
  const submitter = user ? h("p", { id: "submitter" }, "Submitted as ", h("strong", {}, user), " (your sign-in)") : null;
  main.append(h("h1", {}, "Submit a job"), submitter, form);

  let canUpload = null;
  hasRoute("/uploads").then((ok) => { canUpload = ok; if (ok === false) hideUpload(); });
  function hideUpload() {
    file.el.hidden = true;
    blob.el.querySelector("label").textContent = "Bundle in the scenes container";
  }

  function showErrors(errors) {
    const all = { "bundle-file": file, "bundle-path": blob, "idempotency-key": idem, ...Object.fromEntries(
      Object.entries(fields).map(([k, v]) => [k, v])) };
    for (const [name, f] of Object.entries(all)) {
      const message = errors[name] || "";
      f.error.textContent = message;
      f.input.setAttribute("aria-invalid", message ? "true" : "false");
    }
    const first = Object.keys(all).find((name) => errors[name]); // the first in the form's order
    if (first) all[first].input.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.input.value]));
    const { body, errors } = buildRequest(values, videoMode.value);
    const chosen = fileInput.files[0];
    const path = pathInput.value.trim();
    if (chosen && !file.el.hidden) {
      const e = bundleError(chosen.name);
      if (e) errors["bundle-file"] = e;
    } else {
      const e = bundlePathError(path);
      if (e) errors["bundle-path"] = e;
    }
    const key = idem.input.value.trim();
    if (key && !/^[A-Za-z0-9_-]{1,64}$/.test(key)) errors["idempotency-key"] = "1-64 letters, digits, - or _";
    showErrors(errors);
    if (Object.keys(errors).length) { result.textContent = "Fix the marked fields; nothing was sent."; result.className = "error"; return; }
    send.disabled = true;
    result.className = "";
    try {
      if (chosen && !file.el.hidden) {
        result.textContent = "Uploading…";
        const upload = await post("uploads", { name: chosen.name });
        bar.hidden = false;
        await uploadBundle(upload.uploadUrl, chosen, (done, total) => { bar.value = total ? (done / total) * 100 : 100; });
        body.bundle = upload.blobName;
      } else {
        body.bundle = path;
      }
      const headers = key ? { "Idempotency-Key": key } : {};
      const job = await request("POST", "jobs", { body, headers });
      notify(`Job ${job.id} submitted.`);
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (err) {
      if (err instanceof ApiError && err.routeMissing && canUpload !== false) {
        markRoute("/uploads", false); hideUpload();
        result.textContent = "This API cannot take uploads yet: name a bundle already in the scenes container.";
      } else if (err instanceof ApiError && err.field) {
        const name = err.field === "bundle" ? "bundle-path" : err.field;
        showErrors(fields[name] || name === "bundle-path" ? { [name]: err.message } : {});
        result.textContent = `The API refused the job: ${err.message}`;
      } else {
        result.textContent = `Submitting failed: ${err.message}`;
      }
      result.className = "error";
    } finally {
      send.disabled = false;
    }
  });
  return () => {};
}
