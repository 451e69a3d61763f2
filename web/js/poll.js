// Repeats a refresh while its page is shown; a failed refresh is reported and retried.

import { notify } from "./dom.js";

export function poll(refresh, intervalMs) {
  let stopped = false;
  let timer = null;
  async function tick() {
    if (stopped) return;
    try {
      if (!document.hidden) await refresh();
    } catch (err) {
      if (!stopped) notify(`Could not refresh: ${err.message}`, true);
    }
    if (!stopped) timer = setTimeout(tick, intervalMs);
  }
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}
