#!/usr/bin/env node
// The local Cosmos DB (NoSQL API) stand-in: @vercel/cosmosdb-server, which keeps
// everything in memory, plus a journal so that documents survive a restart of the
// local stack. Every successful write request is appended to the journal; on start
// the journal is replayed through the server before it answers anyone else.
"use strict";
const fs = require("fs");
const https = require("https");
const { Readable } = require("stream");
const { createHttpsServer } = require("@vercel/cosmosdb-server");

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const port = parseInt(opt("--port", "8081"), 10);
const host = opt("--host", "127.0.0.1");
const journalPath = opt("--journal", "");
const REPLAY_HEADER = "x-local-journal-replay";
const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const KEPT_HEADERS = /^(content-type|x-ms-documentdb-|x-ms-cosmos-)/;

const server = createHttpsServer({ keepAlive: true });
const inner = server.listeners("request")[0];
server.removeAllListeners("request");
let replaying = Boolean(journalPath && fs.existsSync(journalPath));

function isWrite(req) {
  if (!WRITE_METHODS.has(req.method)) return false;
  // Queries are POSTs too, but change nothing.
  return !(req.headers["x-ms-documentdb-isquery"] || "").toString().toLowerCase().startsWith("t");
}

server.on("request", (req, res) => {
  if (replaying && !req.headers[REPLAY_HEADER]) {
    res.statusCode = 503;
    res.end(JSON.stringify({ message: "replaying journal" }));
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
    res.on("finish", () => {
      if (!journalPath || req.headers[REPLAY_HEADER] || !isWrite(req) || res.statusCode >= 400) return;
      const headers = {};
      for (const [k, v] of Object.entries(req.headers)) if (KEPT_HEADERS.test(k)) headers[k] = v;
      const entry = { method: req.method, url: req.url, headers, body: body.toString("base64") };
      fs.appendFileSync(journalPath, JSON.stringify(entry) + "\n");
    });
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

function send(entry) {
  return new Promise((resolve) => {
    const body = Buffer.from(entry.body, "base64");
    const req = https.request({
      host, port, method: entry.method, path: entry.url, rejectUnauthorized: false,
      headers: { ...entry.headers, [REPLAY_HEADER]: "1", "content-length": body.length },
    }, (res) => { res.resume(); res.on("end", resolve); });
    req.on("error", (err) => { console.error("replay failed:", err.message); resolve(); });
    req.end(body);
  });
}

server.listen(port, host, async () => {
  if (replaying) {
    const lines = fs.readFileSync(journalPath, "utf8").split("\n").filter(Boolean);
    for (const line of lines) {
      try { await send(JSON.parse(line)); } catch (err) { console.error("bad journal line:", err.message); }
    }
    console.log(`replayed ${lines.length} journal entries`);
    replaying = false;
  }
  console.log(`cosmos server listening on https://${host}:${port}/`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
