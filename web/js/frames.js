// Frame lists as render.json writes them ("1-240", "1,5,10-20", "1-100x5"), and output links.

export function parseFrames(text, limit = 100000) {
  const frames = [];
  for (const part of String(text ?? "").split(",")) {
    const m = part.trim().match(/^(-?\d+)(?:-(-?\d+)(?:x(\d+))?)?$/);
    if (!m) continue;
    const start = Number(m[1]), end = m[2] === undefined ? start : Number(m[2]);
    const step = m[3] === undefined ? 1 : Math.max(1, Number(m[3]));
    for (let f = start; f <= end && frames.length < limit; f += step) frames.push(f);
  }
  return frames;
}

// Every {url} in an outputs answer, whatever its nesting: [{name, url, size}].
export function outputLinks(data) {
  const found = [];
  const walk = (value, name) => {
    if (Array.isArray(value)) { value.forEach((item) => walk(item, name)); return; }
    if (!value || typeof value !== "object") return;
    const url = value.url || value.readUrl || value.sasUrl;
    if (typeof url === "string" && /^https?:\/\//.test(url)) {
      const label = value.name || value.blobName || new URL(url).pathname.split("/").pop();
      found.push({ name: String(label), url, size: value.size ?? null });
      return;
    }
    for (const [key, inner] of Object.entries(value)) walk(inner, key);
  };
  walk(data, "");
  return found;
}

export function isVideo(link) { return /\.(mp4|mov|webm)$/i.test(new URL(link.url).pathname); }
