// Small DOM helpers. Text from the API only ever goes in as text nodes (never as HTML).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function setText(el, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (el.textContent !== value) el.textContent = value; // untouched nodes keep the layout still
}

const STATUS_WORDS = {
  queued: "Queued", scheduled: "Scheduled", validating: "Validating", rendering: "Rendering",
  paused: "Paused", stitching: "Stitching", completed: "Completed", failed: "Failed",
  cancelled: "Cancelled", running: "Running", succeeded: "Succeeded", pending: "Pending",
};

export function statusWord(status) { return STATUS_WORDS[status] || String(status || "unknown"); }

export function statusBadge(status, el = h("span")) {
  el.className = `status s-${String(status).replace(/[^a-z]/g, "")}`;
  setText(el, statusWord(status));
  return el;
}

export function progressBar(el = null) {
  const bar = el || h("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" },
    h("span"));
  return bar;
}

export function setProgress(bar, done, total, status) {
  const pct = total > 0 ? Math.min(100, Math.round((done / total) * 100)) : 0;
  bar.firstChild.style.width = `${pct}%`; // CSSOM, allowed under the page's style-src 'self'
  bar.setAttribute("aria-valuenow", String(pct));
  bar.setAttribute("aria-valuetext", `${done} of ${total} frames`);
  bar.classList.toggle("done", status === "completed");
  bar.classList.toggle("failed", status === "failed");
}

// Times are shown in the viewer's own time zone; the ISO value stays in the title.
const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function localTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "—" : timeFormat.format(date);
}

export function timeElement(iso, el = h("time")) {
  setText(el, localTime(iso));
  if (iso) { el.setAttribute("datetime", iso); el.title = iso; }
  return el;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "—";
  let s = Math.max(0, Number(seconds));
  if (s < 10) return `${s.toFixed(1)} s`;
  s = Math.round(s);
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

export function age(iso, now = Date.now()) {
  if (!iso) return "—";
  const t = new Date(iso).getTime();
  return Number.isNaN(t) ? "—" : `${duration((now - t) / 1000)} ago`;
}

export function jobName(job) {
  const name = job.name || job.request?.name;
  if (typeof name === "string" && name) return name;
  const blob = job.source?.blobName || job.request?.bundle || "";
  return blob ? blob.split("/").pop() : job.id;
}

export function submitter(job) {
  const who = job.source?.submitter;
  if (who) return who;
  return job.source?.kind === "blob" ? `upload: ${job.source.blobName.split("/").slice(0, -1).join("/") || "/"}` : "—";
}

let noticeTimer = null;
export function notify(message, bad = false) {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.classList.toggle("bad", bad);
  box.hidden = false;
  clearTimeout(noticeTimer);
  if (!bad) noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

export function clearNotice() { document.getElementById("notice").hidden = true; }
