// Ops page for one job: the orchestration's steps on a time axis, and the dependencies' health.

import { ApiError, get } from "./api.js";
import { duration, h, localTime, notify, setText } from "./dom.js";
import { renderHealth } from "./health.js";
import { poll } from "./poll.js";
import { span, steps } from "./timeline.js";

const REFRESH_MS = 5000;

function row(step, axis, sub = false) {
  const end = step.end ?? axis.now;
  const left = ((step.start - axis.start) / (axis.end - axis.start)) * 100;
  const width = ((end - step.start) / (axis.end - axis.start)) * 100;
  const bar = h("span", { class: `tl-bar k-${step.outcome === "failed" ? "failed" : step.kind}` });
  bar.style.left = `${Math.max(0, left)}%`;
  bar.style.width = `${Math.max(0.2, width)}%`;
  const label = step.attempt > 1 ? `${step.name} (retry ${step.attempt - 1})` : step.name;
  const took = step.end === null ? "running" : duration((end - step.start) / 1000);
  const text = `${label}: ${step.outcome}, ${took}, started ${localTime(new Date(step.start).toISOString())}`;
  return h("div", { class: `tl-row${sub ? " sub" : ""}`, role: "listitem", title: step.reason ? `${text}\n${step.reason}` : text,
    "data-kind": step.kind, "data-outcome": step.outcome },
  h("span", { class: "tl-name" }, label),
  h("span", { class: "tl-track", "aria-hidden": "true" }, bar),
  h("span", { class: "tl-out" }, `${step.outcome} · ${took}`));
}

function waitDetails(step, sub, axis) {
  const inner = steps(sub.history);
  const polls = inner.filter((s) => s.kind === "activity").length;
  const timers = inner.filter((s) => s.kind === "timer").length;
  const events = inner.filter((s) => s.kind === "event").length;
  return h("details", { class: "tl-sub" },
    h("summary", {}, `${sub.instanceId}: ${sub.runtimeStatus}; ${polls} polls, ${timers} timers, ${events} events`),
    h("div", { role: "list" }, inner.map((s) => row(s, axis, true))));
}

export function renderTimeline(data, now = Date.now()) {
  const axis = { ...span(data, now), now };
  const subs = new Map((data.subOrchestrations || []).map((s) => [s.instanceId, s]));
  const list = h("div", { class: "timeline", role: "list", id: "timeline" });
  for (const step of steps(data.history)) {
    list.append(row(step, axis));
    if (step.kind === "wait" && subs.has(step.instanceId)) list.append(waitDetails(step, subs.get(step.instanceId), axis));
  }
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => h("span", {},
    `+${duration(((axis.end - axis.start) * t) / 1000)}`));
  return h("div", {}, h("div", { class: "axis", "aria-hidden": "true" }, ticks), list);
}

export function mount(main, [jobId]) {
  const path = `jobs/${encodeURIComponent(jobId)}/history`;
  const summary = h("p", { id: "orchestration-status" });
  const box = h("div", { class: "panel" }, h("p", { class: "muted" }, "Loading the history…"));
  const healthBox = h("div", { class: "panel", id: "health" });
  main.append(
    h("p", {}, h("a", { href: `#/jobs/${encodeURIComponent(jobId)}` }, "← Job")),
    h("h1", {}, `Orchestration of ${jobId}`), summary,
    h("h2", {}, "Steps"), box,
    h("h2", {}, "Health"), healthBox);

  let stop = null;
  async function refresh() {
    let data;
    try {
      data = await get(path);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        box.replaceChildren(h("p", { class: "error" }, err.message));
        if (stop) stop();
        return;
      }
      throw err;
    }
    setText(summary, `${data.runtimeStatus}: created ${localTime(data.createdTime)}, last updated `
      + `${localTime(data.lastUpdatedTime)}; ${(data.history || []).length} history events, `
      + `${(data.subOrchestrations || []).length} waits`);
    const open = new Set([...box.querySelectorAll("details[open] summary")].map((s) => s.textContent.split(":")[0]));
    const timeline = renderTimeline(data);
    for (const d of timeline.querySelectorAll("details")) {
      if (open.has(d.querySelector("summary").textContent.split(":")[0])) d.open = true;
    }
    box.replaceChildren(timeline);
    await renderHealth(healthBox);
    if (!["Running", "Pending"].includes(data.runtimeStatus) && stop) stop();
  }
  stop = poll(() => refresh().catch((err) => notify(err.message, true)), REFRESH_MS);
  return () => stop();
}
