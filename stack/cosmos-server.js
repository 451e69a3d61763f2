#!/usr/bin/env node
// The local Cosmos DB (NoSQL API) stand-in: @vercel/cosmosdb-server, which keeps
// everything in memory, plus what the stack needs of Cosmos DB that it lacks:
//  - a journal, so that documents survive a restart or a crash: every successful write
//    is appended to the journal and fdatasync'ed BEFORE its answer leaves, so nothing
//    acknowledged can be lost; on start the journal is replayed before anyone is answered;
//  - master-key auth as Cosmos DB does it (HMAC-SHA256 over verb, resource type, resource
//    link and x-ms-date): a keyless or wrong-key request gets 401;
//  - a malformed continuation token gets 400, where the server would start over at page one;
//  - STARTSWITH's third argument (ignoreCase), which the server's query engine lacks.
// On start, after the replay, the journal is compacted to the data it holds.
// The key comes from COSMOS_SERVER_KEY (base64), not argv, so `ps` does not show it.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const https = require("https");
const path = require("path");
const { Readable } = require("stream");
const { createHttpsServer } = require("@vercel/cosmosdb-server");

// Cosmos DB's STARTSWITH(string, prefix [, ignoreCase]): the query engine the server runs (the copy
// it resolves, patched in place) knows the two-argument form only. Arguments of other types give
// undefined (no match), as its other string functions do.
{
  const serverDir = path.dirname(require.resolve("@vercel/cosmosdb-server"));
  const resolve = (name) => require.resolve(name, { paths: [serverDir] });
  const builtins = require(resolve("@zeit/cosmosdb-query/lib/builtin-functions"));
  const { SyntaxError: QuerySyntaxError } = require(resolve("@zeit/cosmosdb-query"));
  builtins.STARTSWITH = (...a) => {
    if (a.length < 2 || a.length > 3) {
      throw new QuerySyntaxError("The STARTSWITH function requires 2 or 3 argument(s)");
    }
    const [value, prefix, ignoreCase = false] = a;
    if (typeof value !== "string" || typeof prefix !== "string" || typeof ignoreCase !== "boolean") {
      return undefined;
    }
    return ignoreCase ? value.toLowerCase().startsWith(prefix.toLowerCase()) : value.startsWith(prefix);
  };
}

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const port = parseInt(opt("--port", "8081"), 10);
const host = opt("--host", "127.0.0.1");
const journalPath = opt("--journal", "");
const masterKey = Buffer.from(process.env.COSMOS_SERVER_KEY || "", "base64");
if (masterKey.length < 32) {
  console.error("COSMOS_SERVER_KEY must hold a base64 key of at least 32 bytes");
  process.exit(2);
}
// Replayed requests carry a secret of this process, so no client can pose as the replay.
const REPLAY_HEADER = "x-local-journal-replay";
const replayToken = crypto.randomBytes(24).toString("hex");
const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const KEPT_HEADERS = /^(content-type|x-ms-documentdb-|x-ms-cosmos-)/;
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000; // what Cosmos DB allows between x-ms-date and its clock

const server = createHttpsServer({ keepAlive: true });
const inner = server.listeners("request")[0];
server.removeAllListeners("request");
let replaying = Boolean(journalPath && fs.existsSync(journalPath));
let journalFd = null;

function isWrite(req) {
  if (!WRITE_METHODS.has(req.method)) return false;
  // Queries are POSTs too, but change nothing.
  return !(req.headers["x-ms-documentdb-isquery"] || "").toString().toLowerCase().startsWith("t");
}

function answer(res, status, code, message) {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ code, message }));
}

// ---------------------------------------------------------------- master-key auth

// "/dbs/a/colls/b/docs/c" names a resource (type docs, link dbs/a/colls/b/docs/c);
// "/dbs/a/colls/b/docs" is a feed (type docs, link dbs/a/colls/b); "/" is the account.
function resourceOf(url) {
  const parts = url.split("?")[0].split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { type: "", link: "" };
  if (parts.length % 2 === 0) return { type: parts[parts.length - 2], link: parts.join("/") };
  return { type: parts[parts.length - 1], link: parts.slice(0, -1).join("/") };
}

function signature(verb, type, link, date) {
  const text = `${verb.toLowerCase()}\n${type.toLowerCase()}\n${link}\n${date.toLowerCase()}\n\n`;
  return crypto.createHmac("sha256", masterKey).update(text, "utf8").digest();
}

function parseToken(header) {
  // "type=master&ver=1.0&sig=<base64>", URL-encoded as a whole; not URLSearchParams: "+" is base64 here.
  const token = new Map();
  for (const pair of decodeURIComponent(header).split("&")) {
    const i = pair.indexOf("=");
    if (i > 0) token.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return token;
}

function authorized(req) {
  let token;
  try {
    token = parseToken(String(req.headers.authorization || ""));
  } catch (err) {
    return false;
  }
  const date = String(req.headers["x-ms-date"] || "");
  const when = Date.parse(date);
  if (token.get("type") !== "master" || !token.get("sig") || Number.isNaN(when)
      || Math.abs(Date.now() - when) > MAX_CLOCK_SKEW_MS) return false;
  const given = Buffer.from(token.get("sig"), "base64");
  const { type, link } = resourceOf(req.url);
  // Name-based links are signed as they are; id-based ones (_rid) lower-cased.
  return [link, link.toLowerCase()].some((candidate) => {
    const expected = signature(req.method, type, candidate, date);
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
}

// ---------------------------------------------------------------- continuation tokens

// What the server's own pages hand out: {"token": "+RID:…#RT:n[#SRC:n]#TRC:n[#RTD:base64 JSON array]"}.
const TOKEN = /^\+RID:[^#]*#RT:\d+(#SRC:\d+)?#TRC:\d+(#RTD:([A-Za-z0-9+/=]*))?$/;
function validContinuation(raw) {
  if (raw === undefined) return true;
  try {
    const value = JSON.parse(String(raw));
    const match = value && typeof value === "object" && typeof value.token === "string" && TOKEN.exec(value.token);
    if (!match) return false;
    return match[3] === undefined || Array.isArray(JSON.parse(Buffer.from(match[3], "base64").toString()));
  } catch (err) {
    return false;
  }
}

// ---------------------------------------------------------------- the journal

function openJournal() {
  const existed = fs.existsSync(journalPath);
  journalFd = fs.openSync(journalPath, "a", 0o600);
  if (!existed) {
    // The new file's name must be durable too, not only its contents.
    const dir = fs.openSync(path.dirname(path.resolve(journalPath)), "r");
    fs.fsyncSync(dir);
    fs.closeSync(dir);
  }
}

function journal(req, res, body) {
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (KEPT_HEADERS.test(k)) headers[k] = v;
  const entry = { method: req.method, url: req.url, headers, body: body.toString("base64"),
                  etag: res.getHeader("etag") || null };
  fs.writeSync(journalFd, JSON.stringify(entry) + "\n");
  fs.fdatasyncSync(journalFd);
}

// The server has applied the write in memory when it ends the response; the journal line
// is written and flushed first, so an answer the client sees is always on disk.
function journalBeforeAnswering(req, res, body) {
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    if (res.statusCode < 400) {
      try {
        journal(req, res, body);
      } catch (err) {
        console.error("journal write failed:", err.message);
        res.statusCode = 503;
        chunk = JSON.stringify({ code: "ServiceUnavailable", message: "the journal could not be written" });
      }
    }
    return end(chunk, ...rest);
  };
}

// ---------------------------------------------------------------- requests

server.on("request", (req, res) => {
  const replayed = req.headers[REPLAY_HEADER] === replayToken;
  if (replaying && !replayed) {
    answer(res, 503, "ServiceUnavailable", "replaying journal");
    return;
  }
  if (!replayed && !authorized(req)) {
    answer(res, 401, "Unauthorized", "The input authorization token can't serve the request.");
    return;
  }
  if (!validContinuation(req.headers["x-ms-continuation"])) {
    answer(res, 400, "BadRequest", "Invalid Continuation Token");
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const copy = Readable.from(body.length ? [body] : []);
    Object.assign(copy, {
      method: req.method, url: req.url, headers: req.headers,
      httpVersion: req.httpVersion, socket: req.socket, connection: req.socket,
    });
    if (journalFd !== null && !replayed && isWrite(req)) journalBeforeAnswering(req, res, body);
    notFoundForMissingDocument(req, res);
    inner(copy, res);
  });
});

// Reading a missing document with a partition key makes the server throw (500), where
// Cosmos DB answers 404 NotFound; callers rely on the 404, so give it to them.
const DOC_PATH = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/[^/]+\/?$/;
function notFoundForMissingDocument(req, res) {
  if (req.method !== "GET" || !DOC_PATH.test(req.url.split("?")[0])) return;
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    if (res.statusCode === 500) {
      res.statusCode = 404;
      chunk = JSON.stringify({ code: "NotFound", message: "Entity with the specified id does not exist in the system." });
    }
    return end(chunk, ...rest);
  };
}

// The server draws each new _etag from crypto.randomUUID; while a write is replayed, its
// first draw is the etag the client was given, so etags held from before a restart still match.
let replayEtag = null;
const randomUUID = crypto.randomUUID.bind(crypto);
crypto.randomUUID = (...a) => {
  if (replayEtag === null) return randomUUID(...a);
  const etag = replayEtag;
  replayEtag = null;
  return etag;
};

function send(entry) {
  replayEtag = entry.etag || null;
  return new Promise((resolve) => {
    const body = Buffer.from(entry.body, "base64");
    const req = https.request({
      host, port, method: entry.method, path: entry.url, rejectUnauthorized: false,
      headers: { ...entry.headers, [REPLAY_HEADER]: replayToken, "content-length": body.length },
    }, (res) => { res.resume(); res.on("end", () => { replayEtag = null; resolve(); }); });
    req.on("error", (err) => { console.error("replay failed:", err.message); resolve(); });
    req.end(body);
  });
}

// ---------------------------------------------------------------- compaction

// After a replay the journal is rewritten as one create per database, collection and
// document that exists (their etags kept), so it grows with the data, not with every write
// ever made. Only when every entry is of those three kinds: anything else stays as it is.
const COMPACTABLE = /^\/dbs(\/[^/?]+(\/colls(\/[^/?]+(\/docs(\/[^/?]+)?)?)?)?)?\/?(\?.*)?$/;
const SYSTEM_PROPERTIES = new Set(["_rid", "_self", "_etag", "_ts", "_attachments"]);

function call(method, url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host, port, method, path: url, rejectUnauthorized: false,
      headers: { ...headers, [REPLAY_HEADER]: replayToken },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                                    body: JSON.parse(Buffer.concat(chunks).toString() || "{}") }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function readAll(url, key) {
  const items = [];
  let continuation;
  do {
    const headers = { "x-ms-max-item-count": "1000", ...(continuation ? { "x-ms-continuation": continuation } : {}) };
    const res = await call("GET", url, headers);
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
    items.push(...res.body[key]);
    continuation = res.headers["x-ms-continuation"];
  } while (continuation);
  return items;
}

const create = (url, body, etag, headers = {}) => ({
  method: "POST", url, etag, body: Buffer.from(JSON.stringify(body)).toString("base64"),
  headers: { "content-type": "application/json", ...headers },
});

async function snapshot() {
  const entries = [];
  for (const db of await readAll("/dbs", "Databases")) {
    const dbUrl = `/dbs/${encodeURIComponent(db.id)}`;
    entries.push(create("/dbs", { id: db.id }, db._etag));
    for (const coll of await readAll(`${dbUrl}/colls`, "DocumentCollections")) {
      const collUrl = `${dbUrl}/colls/${encodeURIComponent(coll.id)}`;
      const definition = { id: coll.id };
      for (const k of ["partitionKey", "indexingPolicy", "uniqueKeyPolicy", "defaultTtl"]) {
        if (coll[k] !== undefined) definition[k] = coll[k];
      }
      entries.push(create(`${dbUrl}/colls`, definition, coll._etag));
      const keyPath = ((coll.partitionKey || {}).paths || [])[0];
      for (const doc of await readAll(`${collUrl}/docs`, "Documents")) {
        const body = Object.fromEntries(Object.entries(doc).filter(([k]) => !SYSTEM_PROPERTIES.has(k)));
        const headers = {};
        if (keyPath) {
          const value = keyPath.split("/").filter(Boolean).reduce((o, k) => (o == null ? undefined : o[k]), doc);
          headers["x-ms-documentdb-partitionkey"] = JSON.stringify([value === undefined ? {} : value]);
        }
        entries.push(create(`${collUrl}/docs`, body, doc._etag, headers));
      }
    }
  }
  return entries;
}

async function compact(lines) {
  if (!lines.every((line) => COMPACTABLE.test(JSON.parse(line).url))) return;
  const entries = await snapshot();
  if (entries.length >= lines.length) return;
  const tmp = `${journalPath}.compact`;
  const fd = fs.openSync(tmp, "w", 0o600);
  fs.writeSync(fd, entries.map((e) => JSON.stringify(e) + "\n").join(""));
  fs.fdatasyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, journalPath);
  const dir = fs.openSync(path.dirname(path.resolve(journalPath)), "r");
  fs.fsyncSync(dir);
  fs.closeSync(dir);
  console.log(`compacted the journal from ${lines.length} to ${entries.length} entries`);
}

server.listen(port, host, async () => {
  if (replaying) {
    // A crash can leave a torn last line (written, not yet flushed): it was never acknowledged.
    const raw = fs.readFileSync(journalPath);
    const complete = raw.lastIndexOf(0x0a) + 1;
    if (complete < raw.length) fs.truncateSync(journalPath, complete); // so the next line starts clean
    const lines = raw.subarray(0, complete).toString("utf8").split("\n").filter(Boolean);
    for (const line of lines) {
      try { await send(JSON.parse(line)); } catch (err) { console.error("bad journal line:", err.message); }
    }
    console.log(`replayed ${lines.length} journal entries`);
    try {
      await compact(lines);
    } catch (err) {
      console.error("journal not compacted:", err.message); // the full journal is still there
    }
    replaying = false;
  }
  if (journalPath) openJournal();
  console.log(`cosmos server listening on https://${host}:${port}/`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
