// The HTTP API as the page sees it: the function key from session storage in a header (never in
// a URL), conditional GETs, and feature detection for routes the API may not have yet.

const KEY_NAME = "renderPipeline.functionKey";
const API_BASE = new URL("../", document.baseURI); // the page lives at <routePrefix>/ui/

export class ApiError extends Error {
  constructor(status, body, routeMissing) {
    const err = body && typeof body.error === "object" ? body.error : null;
    super(err?.message || (typeof body?.error === "string" ? body.error : `HTTP ${status}`));
    this.status = status;
    this.code = err?.code || null;
    this.field = err?.field || null;
    this.routeMissing = routeMissing;
  }
}

let keyPrompt = null; // set by main.js: async (message) => key
// Behind App Service authentication the session cookie must go with API calls (the platform
// names the user from it); otherwise no cookie is ever sent.
let session = false;

export function useSession(on) { session = on; }

export function onKeyNeeded(prompt) { keyPrompt = prompt; }
export function storedKey() { return sessionStorage.getItem(KEY_NAME) || ""; }
export function saveKey(key) { sessionStorage.setItem(KEY_NAME, key); }
export function forgetKey() { sessionStorage.removeItem(KEY_NAME); }

export function apiUrl(path) { return new URL(path.replace(/^\//, ""), API_BASE).toString(); }

const etags = new Map(); // url → [etag, body]: a 304 reuses the last body

async function readBody(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) { try { return await response.json(); } catch { return null; } }
  if (type.startsWith("text/")) return { text: await response.text() };
  return null;
}

// A 404 for the route itself (not for a job): the project's errors always carry {error: {code}}.
function isRouteMissing(status, body) {
  return status === 404 && !(body && typeof body.error === "object" && body.error?.code);
}

let asking = null;
async function askForKey(message) {
  if (!keyPrompt) throw new ApiError(401, null, false);
  asking ??= keyPrompt(message).finally(() => { asking = null; });
  return asking;
}

export async function request(method, path, { body, headers = {}, raw = false } = {}) {
  const url = apiUrl(path);
  for (let attempt = 0; attempt < 3; attempt++) {
    let key = storedKey();
    // Signed in, a call is first tried without a key: an API that takes the sign-in alone never
    // asks for one; the usual keyed function answers 401 and the key is asked for then.
    if (!key && !session) key = await askForKey("");
    const sent = key ? { "x-functions-key": key, ...headers } : { ...headers };
    const cached = method === "GET" ? etags.get(url) : undefined;
    if (cached) sent["If-None-Match"] = cached[0];
    if (body !== undefined) sent["content-type"] = "application/json";
    const response = await fetch(url, {
      method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store", credentials: session ? "same-origin" : "omit", referrerPolicy: "no-referrer",
    });
    if (response.status === 401) {
      forgetKey();
      await askForKey(key ? "Wrong key: the API refused it (401). Enter the function key again."
        : "You are signed in; the API also needs its function key.");
      continue;
    }
    if (response.status === 304 && cached) return cached[1];
    if (raw && response.ok) return response;
    const data = await readBody(response);
    if (!response.ok) throw new ApiError(response.status, data, isRouteMissing(response.status, data));
    const etag = response.headers.get("ETag");
    if (method === "GET" && etag) etags.set(url, [etag, data]);
    return data;
  }
  throw new ApiError(401, { error: { code: "unauthorized", message: "wrong key" } }, false);
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, { body });

// GET /api/health is anonymous.
export async function health() {
  const response = await fetch(apiUrl("health"), { cache: "no-store", credentials: "omit" });
  return { status: response.status, body: await readBody(response) };
}

// Which optional routes the API serves: from GET /openapi.json when it exists, else learnt from
// the answers (a route that answers 404 for itself is marked missing).
const known = new Map(); // feature → boolean
let openapi;

async function openapiPaths() {
  if (openapi === undefined) {
    try {
      const doc = await get("openapi.json");
      openapi = doc && doc.paths ? Object.keys(doc.paths) : null;
    } catch { openapi = null; }
  }
  return openapi;
}

// feature: an OpenAPI path template such as "/jobs/{jobId}/retry" (below the route prefix).
// true or false when known, null when the API has no description (the caller tries it).
export async function hasRoute(feature) {
  if (known.has(feature)) return known.get(feature);
  const paths = await openapiPaths();
  if (paths === null) return null;
  const ok = paths.some((p) => p.replace(/^\/api(?=\/)/, "") === feature);
  known.set(feature, ok);
  return ok;
}

export function markRoute(feature, ok) { known.set(feature, ok); }

// A GET of an optional route: null when the API does not have it.
export async function optional(feature, path) {
  if (known.get(feature) === false) return null;
  try {
    const data = await get(path);
    known.set(feature, true);
    return data;
  } catch (err) {
    if (err instanceof ApiError && err.routeMissing) { known.set(feature, false); return null; }
    throw err;
  }
}

// An optional binary GET (a preview image) as an object URL; null when missing.
export async function optionalBlob(feature, path) {
  if (known.get(feature) === false) return null;
  try {
    const response = await request("GET", path, { raw: true });
    known.set(feature, true);
    return URL.createObjectURL(await response.blob());
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) { if (err.routeMissing) known.set(feature, false); return null; }
    throw err;
  }
}
