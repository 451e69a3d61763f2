// Job page: progress, chunk grid, preview and thumbnails, video, error with log tails, live log,
// downloads and the job's controls. Panels for routes the API does not have stay hidden.

import { ApiError, get, hasRoute, markRoute, optional, optionalBlob, request } from "./api.js";
import {
  duration, h, jobName, notify, progressBar, setProgress, setText, statusBadge, statusWord, submitter, timeElement,
} from "./dom.js";
import { isVideo, outputLinks, parseFrames } from "./frames.js";
import { poll } from "./poll.js";

const REFRESH_MS = 2000;
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const THUMBS = 12;
const LOG_TAIL = 40;
const CHUNK_PAGE = 1000; // the most one GET .../chunks answers
const GRID_MAX = 10000; // cells the grid draws; a bigger job shows its first ones (the counts stay whole)
const CHUNK_STATES = ["queued", "running", "succeeded", "failed", "cancelled"];

function fact(list, label) {
  const dd = h("dd");
  list.append(h("dt", {}, label), dd);
  return dd;
}

function panel(title, ...children) {
  const heading = h("h2", {}, title);
  return h("section", { class: "panel", "aria-label": title }, heading, ...children);
}

function chunkCell(chunk) {
  const frames = parseFrames(chunk.frames).length || 1;
  // frameSeconds is {"<frame>": seconds}, from Blender's own per-frame times; else the task's run time.
  const measured = Object.values(chunk.frameSeconds ?? {}).filter((v) => typeof v === "number");
  const perFrame = measured.length ? measured.reduce((a, b) => a + b, 0) / measured.length
    : (chunk.seconds != null ? chunk.seconds / frames : null);
  const text = `${chunk.id}: frames ${chunk.frames}, ${statusWord(chunk.status)}`
    + (chunk.attempts > 1 ? `, attempt ${chunk.attempts}` : "")
    + (perFrame != null ? `, ${duration(perFrame)} per frame` : "");
  const status = CHUNK_STATES.includes(chunk.status) ? chunk.status : "queued";
  return h("div", { class: `chunk c-${status}`, title: text, role: "listitem", "aria-label": text, "data-chunk": chunk.id },
    h("b", {}, chunk.frames), statusWord(chunk.status), h("br"),
    perFrame != null ? `${duration(perFrame)}/frame` : "");
}

function bytes(n) {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return n < 1e9 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e9).toFixed(2)} GB`;
}

// Without the API's secondsPerFrame: the mean over the chunks that finished.
function measuredPerFrame(chunks) {
  let seconds = 0, frames = 0;
  for (const c of chunks || []) {
    if (c.status === "succeeded" && c.seconds != null) { seconds += c.seconds; frames += parseFrames(c.frames).length || 1; }
  }
  return frames ? `${duration(seconds / frames)} (mean of ${frames} frames)` : "—";
}

export function mount(main, [jobId]) {
  const path = `jobs/${encodeURIComponent(jobId)}`;
  let job = null;
  let lastFramesDone = -1;
  let stopped = false;

  // Header and controls
  const title = h("h1", {}, jobId);
  const badge = statusBadge("queued");
  const cancel = h("button", { type: "button", class: "danger", id: "cancel-job", hidden: true }, "Cancel job");
  const retry = h("button", { type: "button", id: "retry-job", hidden: true }, "Retry");
  const pause = h("button", { type: "button", id: "pause-job", hidden: true }, "Pause");
  const resume = h("button", { type: "button", id: "resume-job", hidden: true }, "Resume");
  const priorityInput = h("input", { type: "number", id: "priority", min: "-1000", max: "1000", step: "1",
    "aria-label": "Priority" });
  const prioritySet = h("button", { type: "button", class: "quiet" }, "Set priority");
  const priority = h("span", { class: "row", hidden: true }, h("label", { for: "priority" }, "Priority"), priorityInput,
    prioritySet);
  const outcome = h("p", { id: "action-result", role: "status", "aria-live": "polite", class: "muted" });
  const nothing = h("span", { class: "muted", hidden: true }, "The job has finished: nothing to control.");
  const opsLink = h("a", { href: `#/jobs/${encodeURIComponent(jobId)}/ops` }, "Orchestration timeline");

  // Progress and facts
  const bar = progressBar();
  const barLabel = h("span", { class: "bar-label", id: "progress-label" });
  const facts = h("dl", { class: "facts" });
  const f = {
    id: fact(facts, "Job id"), submitter: fact(facts, "Submitter"), source: fact(facts, "Source"),
    created: fact(facts, "Created"), started: fact(facts, "Started"), finished: fact(facts, "Finished"),
    elapsed: fact(facts, "Elapsed"), eta: fact(facts, "ETA"), perFrame: fact(facts, "Seconds per frame"),
    spec: fact(facts, "Render"),
  };
  const created = timeElement(null), started = timeElement(null), finished = timeElement(null);
  f.created.append(created); f.started.append(started); f.finished.append(finished);

  // Chunks
  const grid = h("div", { class: "chunks", role: "list", id: "chunk-grid" });
  const legend = h("div", { class: "legend", "aria-hidden": "true" },
    CHUNK_STATES.map((s) => h("span", { class: `s-${s}` }, statusWord(s))));
  const chunkNote = h("p", { class: "muted" });

  // Preview, video, downloads, error, live log
  const previewImg = h("img", { alt: "Latest rendered frame", id: "preview-image" });
  const preview = h("div", { class: "preview" }, previewImg);
  const thumbs = h("div", { class: "thumbs", "aria-label": "Rendered frames" });
  const previewPanel = panel("Latest frame", preview, thumbs);
  previewPanel.hidden = true;
  const video = h("video", { controls: true, preload: "metadata", id: "job-video" });
  const videoPanel = panel("Video", h("div", { class: "preview" }, video));
  videoPanel.hidden = true;
  const downloads = h("ul", { id: "downloads" });
  const downloadsPanel = panel("Downloads", downloads);
  downloadsPanel.hidden = true;
  const errorBox = h("div", { id: "job-error" });
  const errorPanel = panel("Error", errorBox);
  errorPanel.hidden = true;
  const liveLog = h("pre", { class: "log", id: "live-log", "aria-live": "off" });
  const liveTitle = h("p", { class: "muted" });
  const logPanel = panel("Log of a running task", liveTitle, liveLog);
  logPanel.hidden = true;

  main.append(
    h("p", {}, h("a", { href: "#/jobs" }, "← Jobs")),
    title,
    h("div", { class: "row" }, badge, opsLink),
    h("div", { class: "row panel", "aria-label": "Controls" }, cancel, retry, pause, resume, priority, nothing),
    outcome,
    h("div", { class: "grid2" },
      panel("Progress", bar, barLabel, h("br"), facts),
      previewPanel, videoPanel),
    panel("Chunks", legend, grid, chunkNote),
    errorPanel, logPanel, downloadsPanel,
  );

  // Each control confirms what it did, or shows the API's reason for refusing.
  async function act(button, feature, label, method, suffix, body) {
    button.disabled = true;
    try {
      const result = await request(method, `${path}${suffix}`, { body });
      setText(outcome, `${label}: done; the job is now ${statusWord(result?.status || job?.status)}.`);
      outcome.className = "";
      restart();
    } catch (err) {
      if (err instanceof ApiError && err.routeMissing) {
        markRoute(feature, false);
        button.hidden = true;
        setText(outcome, `${label} is not supported by this API.`);
      } else {
        setText(outcome, `${label} refused: ${err.message}${err.status ? ` (HTTP ${err.status})` : ""}`);
      }
      outcome.className = "error";
    } finally {
      button.disabled = false;
    }
  }
  cancel.addEventListener("click", () => {
    if (confirm(`Cancel ${jobName(job || { id: jobId })}? Running tasks are stopped.`)) {
      act(cancel, "/jobs/{jobId}/cancel", "Cancel", "POST", "/cancel");
    }
  });
  retry.addEventListener("click", () => act(retry, "/jobs/{jobId}/retry", "Retry", "POST", "/retry"));
  pause.addEventListener("click", () => act(pause, "/jobs/{jobId}/pause", "Pause", "POST", "/pause"));
  resume.addEventListener("click", () => act(resume, "/jobs/{jobId}/resume", "Resume", "POST", "/resume"));
  prioritySet.addEventListener("click", () => {
    const value = Number(priorityInput.value);
    if (!Number.isInteger(value) || value < -1000 || value > 1000) {
      setText(outcome, "Priority must be a whole number from -1000 to 1000."); outcome.className = "error"; return;
    }
    act(prioritySet, "/jobs/{jobId}", "Priority", "PATCH", "", { priority: value });
  });

  const features = {};
  (async () => {
    for (const [name, feature] of [["retry", "/jobs/{jobId}/retry"], ["pause", "/jobs/{jobId}/pause"],
      ["resume", "/jobs/{jobId}/resume"], ["patch", "/jobs/{jobId}"]]) {
      features[name] = name === "patch" ? await patchable() : await hasRoute(feature);
    }
    if (job) showControls();
  })();

  async function patchable() {
    try {
      const doc = await get("openapi.json");
      return Boolean(doc?.paths && Object.entries(doc.paths).some(([p, ops]) =>
        p.replace(/^\/api(?=\/)/, "") === "/jobs/{jobId}" && ops && "patch" in ops));
    } catch { return false; }
  }

  function showControls() {
    const s = job.status;
    cancel.hidden = TERMINAL.has(s);
    retry.hidden = !(features.retry && (s === "failed" || s === "cancelled"));
    pause.hidden = !(features.pause && s === "rendering");
    resume.hidden = !(features.resume && s === "paused");
    priority.hidden = !(features.patch && !TERMINAL.has(s));
    nothing.hidden = ![cancel, retry, pause, resume, priority].every((c) => c.hidden);
  }

  function showSummary() {
    setText(title, jobName(job));
    document.title = `${jobName(job)} · Render pipeline`;
    statusBadge(job.status, badge);
    const p = job.progress || {};
    const done = p.framesDone || 0, total = p.framesTotal || 0;
    setProgress(bar, done, total, job.status);
    setText(barLabel, total ? `${done} of ${total} frames` + (p.framesRunning ? `, ${p.framesRunning} rendering` : "")
      + ` · chunks ${p.chunksDone || 0} done, ${p.chunksFailed || 0} failed of ${p.chunksTotal || 0}` : "planning");
    setText(f.id, job.id);
    setText(f.submitter, submitter(job));
    setText(f.source, job.source?.blobName || job.request?.bundle || "—");
    timeElement(job.timestamps?.createdAt, created);
    timeElement(job.timestamps?.startedAt, started);
    timeElement(job.timestamps?.finishedAt, finished);
    const startedAt = job.timestamps?.startedAt ? new Date(job.timestamps.startedAt).getTime() : null;
    const endAt = job.timestamps?.finishedAt ? new Date(job.timestamps.finishedAt).getTime() : Date.now();
    setText(f.elapsed, duration(p.elapsedSeconds ?? (startedAt ? (endAt - startedAt) / 1000 : null)));
    setText(f.eta, TERMINAL.has(job.status) ? "—" : duration(p.eta));
    const spec = job.spec;
    const chunking = spec?.chunkSize === "auto"
      ? (job.sizing?.chunkSize ? `chunks sized automatically (${job.sizing.chunkSize} frames)` : "chunks sized automatically")
      : `chunks of ${spec?.chunkSize}`;
    setText(f.spec, spec ? `frames ${spec.frames}, ${chunking}, ${spec.fps} fps, `
      + `${spec.resolution?.width}×${spec.resolution?.height}, ${spec.format}, priority ${spec.priority}` : "—");
    if (document.activeElement !== priorityInput && spec) priorityInput.value = String(spec.priority ?? 0);
  }

  // Every page of GET .../chunks (1,000 chunks each), up to GRID_MAX chunks; a job planned
  // before chunk pages has them in the job itself.
  async function fetchChunks() {
    if (Array.isArray(job.chunks)) return job.chunks;
    if (!job.chunkCount) return [];
    const chunks = [];
    let token = null;
    do {
      const query = `?limit=${CHUNK_PAGE}` + (token ? `&continuationToken=${encodeURIComponent(token)}` : "");
      const page = await optional("/jobs/{jobId}/chunks", `${path}/chunks${query}`);
      if (!page || !Array.isArray(page.chunks)) break;
      chunks.push(...page.chunks);
      token = page.continuationToken;
    } while (token && chunks.length < GRID_MAX);
    return chunks;
  }

  async function showChunks() {
    const chunks = await fetchChunks();
    const cells = chunks.map(chunkCell);
    const same = cells.length === grid.children.length
      && cells.every((cell, i) => cell.title === grid.children[i].title);
    if (!same) grid.replaceChildren(...cells);
    const total = job.chunkCount || chunks.length;
    setText(chunkNote, !chunks.length ? "The chunks appear once the job is planned."
      : chunks.length < total ? `the first ${chunks.length} of ${total} chunks` : `${total} chunks`);
    setText(f.perFrame, job.progress?.secondsPerFrame != null ? duration(job.progress.secondsPerFrame)
      : measuredPerFrame(chunks));
    return chunks;
  }

  async function showPreview(chunks) {
    const done = job.progress?.framesDone || 0;
    if (done === lastFramesDone) return;
    const url = await optionalBlob("/jobs/{jobId}/preview", `${path}/preview`);
    if (!url) return;
    lastFramesDone = done;
    previewPanel.hidden = false;
    const old = previewImg.src;
    previewImg.src = url;
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    const frames = chunks.filter((c) => c.status === "succeeded").flatMap((c) => parseFrames(c.frames)).slice(-THUMBS);
    const have = new Set([...thumbs.children].map((img) => img.dataset.frame));
    for (const frame of frames) {
      if (have.has(String(frame))) continue;
      const thumb = await optionalBlob("/jobs/{jobId}/preview", `${path}/preview?frame=${frame}`);
      if (thumb) thumbs.append(h("img", { src: thumb, alt: `Frame ${frame}`, "data-frame": String(frame), title: `Frame ${frame}` }));
    }
    while (thumbs.children.length > THUMBS) thumbs.firstChild.remove();
  }

  async function showOutputs() {
    let links = [];
    if (job.status === "completed") {
      const outputs = await optional("/jobs/{jobId}/outputs", `${path}/outputs`);
      if (outputs) links = outputLinks(outputs);
    }
    const direct = job.outputs?.videoUrl;
    if (!links.some(isVideo) && typeof direct === "string" && /[?&]sig=/.test(direct)) {
      links.push({ name: direct.split("?")[0].split("/").pop(), url: direct, size: null });
    }
    const videoLink = links.find(isVideo);
    if (videoLink && video.dataset.url !== videoLink.url) {
      video.dataset.url = videoLink.url;
      video.src = videoLink.url;
      videoPanel.hidden = false;
    }
    if (links.length && downloads.children.length !== links.length) {
      downloads.replaceChildren(...links.map((l) => h("li", {}, h("a", { href: l.url, download: l.name, rel: "noreferrer" }, l.name),
        l.size != null ? ` (${bytes(l.size)})` : "")));
      downloadsPanel.hidden = false;
    }
  }

  async function logTail(taskId, stream) {
    const data = await optional("/jobs/{jobId}/tasks/{taskId}/log",
      `${path}/tasks/${encodeURIComponent(taskId)}/log?stream=${stream}&tail=${LOG_TAIL}`);
    if (data === null) return null;
    return typeof data === "string" ? data : String(data.text ?? data.content ?? data.tail ?? "");
  }

  async function showError() {
    if (!job.error || errorBox.dataset.code === job.error.code) return;
    errorBox.dataset.code = job.error.code || "";
    const failed = Array.isArray(job.error.details?.chunks) ? job.error.details.chunks
      : Array.isArray(job.error.details) ? job.error.details : [];
    errorBox.replaceChildren(
      h("p", { class: "error" }, `${job.error.code}: ${job.error.message}`),
      ...failed.slice(0, 10).map((c) => {
        const pre = h("pre", { class: "log", hidden: true });
        const item = h("div", {}, h("p", {}, `${c.chunk || c.id || c.taskId}: frames ${c.frames ?? "?"}, exit code ${c.exitCode ?? "?"}`), pre);
        logTail(String(c.taskId || c.chunk || c.id), "stderr").then((text) => {
          if (text !== null) { pre.textContent = text; pre.hidden = false; }
        }).catch(() => {});
        return item;
      }));
    errorPanel.hidden = false;
  }

  async function showLiveLog(chunks) {
    const running = chunks.find((c) => c.status === "running");
    if (!running || TERMINAL.has(job.status)) { logPanel.hidden = true; return; }
    const taskId = running.taskId || (running.attempts > 1 ? `${running.id}-r${running.attempts - 1}` : running.id);
    const text = await logTail(taskId, "stdout");
    if (text === null) return;
    setText(liveTitle, `${taskId}, last ${LOG_TAIL} lines`);
    const atBottom = liveLog.scrollTop + liveLog.clientHeight >= liveLog.scrollHeight - 4;
    setText(liveLog, text);
    if (atBottom) liveLog.scrollTop = liveLog.scrollHeight;
    logPanel.hidden = false;
  }

  let stop = null;
  async function refresh() {
    try {
      job = await get(path);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 400)) {
        setText(title, `No job ${jobId}`);
        notify(err.message, true);
        if (stop) stop();
        return;
      }
      throw err;
    }
    if (stopped) return;
    showSummary();
    showControls();
    const chunks = await showChunks();
    await Promise.all([showPreview(chunks), showOutputs(), showError(), showLiveLog(chunks)]);
    if (TERMINAL.has(job.status) && stop) stop(); // a finished job changes only through a control
  }
  function restart() { if (stop) stop(); stop = poll(refresh, REFRESH_MS); }
  stop = poll(refresh, REFRESH_MS);
  return () => { stopped = true; stop(); };
}
