// The submit form's render.json options, checked as the API checks them, before anything is sent.
// Returns {body, errors}: body holds only the fields the user filled in; errors maps field → message.

const FORMATS = ["PNG", "JPEG", "OPEN_EXR", "TIFF"];
const CODECS = ["libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"];
const ENGINES = ["CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH"];
const MAX_FRAME = 1048574;
const MAX_FRAMES = 100000;

function intIn(text, low, high) {
  if (!/^-?\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= low && n <= high ? n : null;
}

export function checkFrames(text) {
  if (text.length > 4096) return "at most 4096 characters";
  let count = 0;
  const seen = new Set();
  for (const item of text.split(",")) {
    const m = item.trim().match(/^(\d+)(?:-(\d+)(?:x(\d+))?)?$/);
    if (!m) return `bad item "${item.trim()}": use N, A-B or A-BxSTEP`;
    const start = Number(m[1]), end = m[2] === undefined ? start : Number(m[2]);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    if (start > MAX_FRAME || end > MAX_FRAME) return `frames go up to ${MAX_FRAME}`;
    if (end < start) return `range "${item.trim()}" is reversed`;
    if (step < 1) return "a step must be at least 1";
    count += Math.floor((end - start) / step) + 1;
    if (count > MAX_FRAMES) return `more than ${MAX_FRAMES} frames`;
    for (let f = start; f <= end && seen.size <= MAX_FRAMES; f += step) {
      if (seen.has(f)) return `frame ${f} is listed more than once`;
      seen.add(f);
    }
  }
  return null;
}

// As shared/job_spec.py's check_job_name: no control characters, line breaks or direction overrides.
const NOT_IN_NAMES = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]|\p{Cs}/u;

const RULES = {
  name: (v) => ([...v].length > 200 ? [null, "at most 200 characters"]
    : NOT_IN_NAMES.test(v) ? [null, "no control characters, line breaks or direction overrides"] : [v, null]),
  scene: (v) => (v.length <= 63 ? [v, null] : [null, "at most 63 characters"]),
  frames: (v) => { const e = checkFrames(v); return e ? [null, e] : [v, null]; },
  chunkSize: (v) => {
    if (v.toLowerCase() === "auto") return ["auto", null]; // sized from probe frames, as with the field left empty
    const n = intIn(v, 1, 10000);
    return n === null ? [null, "a whole number 1..10000, or auto"] : [n, null];
  },
  fps: (v) => {
    const n = Number(v);
    return /^\d+(\.\d+)?$/.test(v) && n > 0 && n <= 1000 ? [n, null] : [null, "a number above 0, at most 1000"];
  },
  resolution: (v) => {
    const m = v.match(/^(\d+)x(\d+)$/);
    if (!m) return [null, "width x height, such as 1920x1080"];
    const w = Number(m[1]), hgt = Number(m[2]);
    if (w < 4 || hgt < 4 || w > 16384 || hgt > 16384) return [null, "each side 4..16384 pixels"];
    return [v, null];
  },
  format: (v) => (FORMATS.includes(v) ? [v, null] : [null, `one of ${FORMATS.join(", ")}`]),
  priority: (v) => { const n = intIn(v, -1000, 1000); return n === null ? [null, "a whole number -1000..1000"] : [n, null]; },
  maxRetries: (v) => { const n = intIn(v, 0, 10); return n === null ? [null, "a whole number 0..10"] : [n, null]; },
  engine: (v) => (ENGINES.includes(v) ? [v, null] : [null, `one of ${ENGINES.join(", ")}`]),
  samples: (v) => { const n = intIn(v, 1, 1000000); return n === null ? [null, "a whole number 1..1000000"] : [n, null]; },
  "video.codec": (v) => (CODECS.includes(v) ? [v, null] : [null, `one of ${CODECS.join(", ")}`]),
  "video.crf": (v) => { const n = intIn(v, 0, 51); return n === null ? [null, "a whole number 0..51"] : [n, null]; },
  "video.name": (v) => (/^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.mp4$/.test(v) && !v.includes("..")
    ? [v, null] : [null, "a plain file name (letters, digits, . _ -) ending .mp4"]),
};

export function bundleError(name) {
  if (!name) return "choose a .blend or .zip file";
  if (!/^[A-Za-z0-9][A-Za-z0-9._ -]{0,200}\.(zip|blend)$/i.test(name)) {
    return "a .zip or .blend whose name has only letters, digits, '.', '_', '-' and spaces";
  }
  return null;
}

export function bundlePathError(path) {
  if (!path) return "name the bundle's blob in the scenes container";
  if (path.startsWith("/") || path.split("/").some((p) => p === ".." || p === "." || p === "")) {
    return "a blob name such as artist-a/shot010.zip (no leading /, no . or .. parts)";
  }
  if (!/\.(zip|blend)$/i.test(path)) return "the blob must end in .zip or .blend";
  return null;
}

// values: {field: string}; videoMode: "default" | "none" | "custom"
export function buildRequest(values, videoMode) {
  const body = {};
  const errors = {};
  for (const [field, rule] of Object.entries(RULES)) {
    if (field.startsWith("video.") && videoMode !== "custom") continue;
    const raw = (values[field] ?? "").trim();
    if (!raw) continue;
    const [value, error] = rule(raw);
    if (error) { errors[field] = error; continue; }
    if (field.startsWith("video.")) (body.video ??= {})[field.slice(6)] = value;
    else body[field] = value;
  }
  if (videoMode === "none") body.video = null;
  return { body, errors };
}
