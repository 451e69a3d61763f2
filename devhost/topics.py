"""A stand-in for Event Grid custom topics, so the app can publish with
azure-eventgrid's EventGridPublisherClient against a local endpoint.

    POST /eventgrid/topics/<topic>/api/events?api-version=...   (header aeg-sas-key)
    GET  /eventgrid/topics/<topic>/events                         (master key)

The client posts to exactly the endpoint URL it is given, adding `api-version`
(2018-01-01) and the `aeg-sas-key` header for an AzureKeyCredential; Event Grid
schema batches come as application/json, CloudEvents as
application/cloudevents-batch+json. Events are kept in SQLite under the data dir.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.auth import authorized, unauthorized
from devhost.eventgrid_schema import PayloadError, parse_events
from devhost.private_files import touch_private
from devhost.settings import Keys

log = logging.getLogger("devhost")

TOPIC_NAME = re.compile(r"[A-Za-z0-9-]{3,50}")


class TopicStore:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(touch_private(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("""CREATE TABLE IF NOT EXISTS topic_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, received_at REAL NOT NULL,
            schema TEXT NOT NULL, event TEXT NOT NULL)""")

    def append(self, topic: str, schema: str, events: list[dict[str, Any]]) -> None:
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO topic_events (topic, received_at, schema, event) VALUES (?, ?, ?, ?)",
                [(topic.lower(), now, schema, json.dumps(e)) for e in events])

    def read(self, topic: str, after: int = 0) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT seq, event FROM topic_events WHERE topic = ? AND seq > ? ORDER BY seq",
                               (topic.lower(), after)).fetchall()
        return [json.loads(event) for _, event in rows]

    def close(self) -> None:
        self.db.close()


class Topics:
    def __init__(self, store: TopicStore, keys: Keys, resource_prefix: str) -> None:
        self.store = store
        self.keys = keys
        # e.g. /subscriptions/<id>/resourceGroups/<rg>; the topic id is stamped on each event.
        self.resource_prefix = resource_prefix

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/eventgrid/topics/{topic}/api/events", self.publish)
        app.router.add_get("/eventgrid/topics/{topic}/events", self.list_events)

    def topic_id(self, topic: str) -> str:
        return f"{self.resource_prefix}/providers/Microsoft.EventGrid/topics/{topic}"

    async def publish(self, request: web.Request) -> web.Response:
        topic = request.match_info["topic"]
        if not TOPIC_NAME.fullmatch(topic):
            return web.json_response({"error": "topic names are 3-50 letters, digits or hyphens"}, status=400)
        key = request.headers.get("aeg-sas-key", "")
        if not key or not secrets.compare_digest(key.encode(), self.keys.eventgrid_topic.encode()):
            return web.json_response({"error": "the aeg-sas-key header must carry the topic's access key"},
                                     status=401)
        if not request.query.get("api-version"):
            return web.json_response({"error": "the api-version query parameter is required"}, status=400)
        try:
            schema, events = parse_events(await request.read(), request.headers.get("content-type", ""))
        except PayloadError as exc:
            return web.json_response({"error": f"invalid events: {exc}"}, status=400)
        if schema == "eventgrid":
            # Event Grid stamps the topic and fills the optional fields on input.
            events = [{**e, "topic": self.topic_id(topic), "dataVersion": e.get("dataVersion") or "",
                       "metadataVersion": "1"} for e in events]
        self.store.append(topic, schema, events)
        log.info("Topic %s received %d event(s): %s", topic, len(events),
                 ", ".join(str(e.get("eventType") or e.get("type")) for e in events))
        return web.Response(status=200)

    async def list_events(self, request: web.Request) -> web.Response:
        if not authorized(request, self.keys, "admin"):
            return unauthorized()
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return web.json_response({"error": "after must be a whole number"}, status=400)
        return web.json_response(self.store.read(request.match_info["topic"], after))
