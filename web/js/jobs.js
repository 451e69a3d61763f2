// Jobs page: every job with status, progress, ETA, submitter and age; status filter; paging.

import { get } from "./api.js";
import { age, duration, h, jobName, progressBar, setProgress, setText, statusBadge, submitter } from "./dom.js";
import { poll } from "./poll.js";

const STATUSES = ["queued", "scheduled", "validating", "rendering", "paused", "stitching", "completed", "failed",
  "cancelled"];
const PAGE_SIZE = 25;
const REFRESH_MS = 3000;

function filterFromHash(query) {
  const params = new URLSearchParams(query || "");
  const status = params.get("status");
  return STATUSES.includes(status) ? status : "";
}

function eta(job) {
  const p = job.progress || {};
  if (["completed", "failed", "cancelled"].includes(job.status)) return "—";
  return p.eta !== undefined && p.eta !== null ? duration(p.eta) : "—";
}

function makeRow(job) {
  const link = h("a", { href: `#/jobs/${encodeURIComponent(job.id)}` });
  const cells = {
    name: h("td", {}, link), status: h("td", {}, statusBadge(job.status)),
    progress: h("td", {}, progressBar(), h("span", { class: "bar-label" })),
    eta: h("td", { class: "num" }), submitter: h("td"), age: h("td", { class: "num" }),
  };
  const row = h("tr", { "data-job": job.id }, ...Object.values(cells));
  row.cells_ = cells;
  row.link_ = link;
  return row;
}

function updateRow(row, job) {
  const c = row.cells_;
  setText(row.link_, jobName(job));
  row.link_.title = job.id;
  statusBadge(job.status, c.status.firstChild);
  const p = job.progress || {};
  const done = p.framesDone || 0, total = p.framesTotal || 0;
  setProgress(c.progress.firstChild, done, total, job.status);
  const ended = ["completed", "failed", "cancelled"].includes(job.status);
  setText(c.progress.lastChild, total ? `${done} / ${total} frames` : ended ? "no frames planned" : "planning");
  setText(c.eta, eta(job));
  setText(c.submitter, submitter(job));
  c.submitter.title = submitter(job);
  setText(c.age, age(job.timestamps?.createdAt));
}

export function mount(main, [query]) {
  let status = filterFromHash(query);
  const tokens = [null]; // continuation token of each page seen, for "previous"
  let page = 0;
  let next = null;
  const rows = new Map();

  const select = h("select", { id: "status-filter", onchange: () => {
    status = select.value;
    history.replaceState(null, "", status ? `#/jobs?status=${status}` : "#/jobs");
    tokens.length = 1; page = 0; refreshNow();
  } }, h("option", { value: "", text: "All statuses" }), STATUSES.map((s) => h("option", { value: s, text: s })));
  select.value = status;
  const tbody = h("tbody");
  const empty = h("p", { class: "muted", hidden: true, text: "No jobs." });
  const prev = h("button", { type: "button", class: "quiet", disabled: true, onclick: () => { page--; refreshNow(); } },
    "Previous");
  const nextButton = h("button", { type: "button", class: "quiet", disabled: true, onclick: () => {
    tokens[page + 1] = next; page++; refreshNow();
  } }, "Next");
  const pageLabel = h("span", { class: "muted" });
  const updated = h("span", { class: "muted", "aria-live": "off" });

  main.append(
    h("h1", {}, "Jobs"),
    h("div", { class: "row" }, h("label", { for: "status-filter" }, "Status"), select, updated),
    h("table", { id: "jobs-table", class: "jobs" },
      h("colgroup", {}, ["name", "status", "progress", "eta", "sub", "age"].map((c) => h("col", { class: `col-${c}` }))),
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Status"), h("th", {}, "Progress"),
        h("th", { class: "num" }, "ETA"), h("th", {}, "Submitter"), h("th", { class: "num" }, "Age"))),
      tbody),
    empty,
    h("div", { class: "pager" }, prev, pageLabel, nextButton),
  );

  async function refresh() {
    const params = new URLSearchParams({ top: String(PAGE_SIZE) });
    if (status) params.set("status", status);
    if (tokens[page]) params.set("continuationToken", tokens[page]);
    const data = await get(`jobs?${params}`);
    const jobs = data.jobs || [];
    next = data.continuationToken || null;
    const seen = new Set();
    jobs.forEach((job, index) => {
      let row = rows.get(job.id);
      if (!row) { row = makeRow(job); rows.set(job.id, row); }
      updateRow(row, job);
      if (tbody.children[index] !== row) tbody.insertBefore(row, tbody.children[index] || null);
      seen.add(job.id);
    });
    for (const [id, row] of rows) if (!seen.has(id)) { row.remove(); rows.delete(id); }
    empty.hidden = jobs.length > 0;
    prev.disabled = page === 0;
    nextButton.disabled = !next;
    setText(pageLabel, `Page ${page + 1}`);
    setText(updated, `updated ${new Date().toLocaleTimeString()}`);
  }

  let stop = poll(refresh, REFRESH_MS);
  function refreshNow() { stop(); stop = poll(refresh, REFRESH_MS); }
  return () => stop();
}
