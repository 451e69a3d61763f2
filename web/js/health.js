// The API's health check (anonymous): Cosmos, storage and the render backend.

import { health } from "./api.js";
import { h, statusBadge } from "./dom.js";
import { poll } from "./poll.js";

const NAMES = { jobStore: "Job store (Cosmos DB)", blobStore: "Blob storage", renderBackend: "Render backend (Batch)" };

function overall(status) {
  const badge = statusBadge(status === 200 ? "succeeded" : "failed", h("span"));
  badge.textContent = status === 200 ? "Healthy" : `Unhealthy (HTTP ${status})`;
  return badge;
}

export async function renderHealth(box) {
  const { status, body } = await health();
  const checks = body?.checks || {};
  box.replaceChildren(
    h("p", { id: "health-summary" }, overall(status)),
    h("table", { class: "health" }, h("tbody", {}, Object.entries(checks).map(([name, check]) => {
      const ok = check.status === "ok";
      const badge = statusBadge(ok ? "succeeded" : "failed", h("span"));
      badge.textContent = ok ? "OK" : "Failing";
      return h("tr", { "data-check": name }, h("th", {}, NAMES[name] || name), h("td", {}, badge),
        h("td", {}, check.error || ""));
    }))));
}

export function mount(main) {
  const box = h("div", { class: "panel", id: "health" });
  main.append(h("h1", {}, "Health"), box);
  return poll(() => renderHealth(box), 5000);
}
