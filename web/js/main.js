// The page's router (hash routes, so one static index.html serves every page) and the key dialog.

import { forgetKey, onKeyNeeded, saveKey, storedKey, useSession } from "./api.js";
import { detect, loginUrl, logoutUrl } from "./auth.js";
import { clearNotice } from "./dom.js";
import * as health from "./health.js";
import * as job from "./job.js";
import * as jobs from "./jobs.js";
import * as ops from "./ops.js";
import * as submit from "./submit.js";

const routes = [
  [/^#\/jobs\/([^/]+)\/ops$/, ops, "jobs"],
  [/^#\/jobs\/([^/]+)$/, job, "jobs"],
  [/^#\/submit$/, submit, "submit"],
  [/^#\/health$/, health, "health"],
  [/^#\/jobs(?:\?(.*))?$/, jobs, "jobs"],
];

const dialog = document.getElementById("key-dialog");
const keyInput = document.getElementById("key-input");
const keyError = document.getElementById("key-error");
let waiting = [];

function promptForKey(message) {
  keyError.textContent = message;
  keyError.hidden = !message;
  keyInput.value = "";
  if (!dialog.open) dialog.showModal();
  keyInput.focus();
  return new Promise((resolve) => waiting.push(resolve));
}

document.getElementById("key-form").addEventListener("submit", (event) => {
  const key = keyInput.value.trim();
  if (!key) { event.preventDefault(); return; }
  saveKey(key);
  keyInput.value = "";
  const resolvers = waiting;
  waiting = [];
  resolvers.forEach((resolve) => resolve(key));
});
dialog.addEventListener("cancel", (event) => event.preventDefault()); // the API needs a key

document.getElementById("change-key").addEventListener("click", () => {
  forgetKey();
  promptForKey("").then(() => render());
});

onKeyNeeded(promptForKey);

let cleanup = null;

function render() {
  if (cleanup) cleanup();
  cleanup = null;
  clearNotice();
  const hash = location.hash || "#/jobs";
  const main = document.getElementById("main");
  main.replaceChildren();
  for (const [pattern, page, nav] of routes) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    cleanup = page.mount(main, match.slice(1).map((part) => (part ? decodeURIComponent(part) : part)));
    return;
  }
  location.hash = "#/jobs";
}

function showUser(name) {
  const user = document.getElementById("user");
  user.querySelector("#user-name").textContent = name;
  user.querySelector("#sign-out").href = logoutUrl();
  user.hidden = false;
}

async function start() {
  const auth = await detect();
  if (auth.state === "signed-out") { location.assign(loginUrl()); return; }
  window.addEventListener("hashchange", render);
  if (auth.state === "signed-in") {
    useSession(true);
    showUser(auth.name);
    render(); // a key is asked for only if the API wants one
  } else if (!storedKey()) promptForKey("").then(render);
  else render();
}

start();
