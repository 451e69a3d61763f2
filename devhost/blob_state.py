"""What the blob watcher has seen and what it still owes, in SQLite (DATA_DIR/eventgrid.sqlite).

- containers: a row once a container's first listing became the baseline;
- blobs: the last eTag seen per blob, so a restart does not report old versions again;
- outbox: one row per (event, subscription) until it is delivered or dead-lettered,
  written in the same transaction as the blob's new eTag, so an event is never lost
  between noticing a blob and delivering it;
- meta: the sequencer counter, so sequencers keep growing across restarts, and how far the
  request log (the change feed, devhost/request_log.py) has been read.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost.private_files import touch_private

SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (name TEXT PRIMARY KEY, baselined_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (container TEXT NOT NULL, name TEXT NOT NULL, etag TEXT NOT NULL,
    PRIMARY KEY (container, name));
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, subscription TEXT NOT NULL,
    function_name TEXT NOT NULL, event TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, last_error TEXT,
    created_at REAL NOT NULL, finished_at REAL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Delivery:
    id: int
    subscription: str
    function_name: str
    event: dict[str, Any]
    attempts: int


class WatcherState:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(touch_private(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- blobs -------------------------------------------------------------------------------
    def is_baselined(self, container: str) -> bool:
        return self.db.execute("SELECT 1 FROM containers WHERE name = ?", (container,)).fetchone() is not None

    def known_etags(self, container: str) -> dict[str, str]:
        rows = self.db.execute("SELECT name, etag FROM blobs WHERE container = ?", (container,))
        return dict(rows.fetchall())

    def baseline(self, container: str, etags: dict[str, str]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO blobs (container, name, etag) VALUES (?, ?, ?)",
                                [(container, n, e) for n, e in etags.items()])
            self.db.execute("INSERT OR REPLACE INTO containers (name, baselined_at) VALUES (?, ?)",
                            (container, time.time()))

    def remember(self, container: str, name: str, etag: str) -> None:
        """A version that is not an event for any subscription: only remembered."""
        self.db.execute("INSERT OR REPLACE INTO blobs (container, name, etag) VALUES (?, ?, ?)",
                        (container, name, etag))

    def forget(self, container: str, names: list[str]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM blobs WHERE container = ? AND name = ?",
                                [(container, n) for n in names])

    def next_sequencer(self) -> int:
        """Called inside record_version's transaction."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'sequencer'").fetchone()
        value = (row[0] if row else 0) + 1
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('sequencer', ?)", (value,))
        return value

    def get_meta(self, key: str) -> int | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def set_meta(self, values: dict[str, int]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(values.items()))

    def record_version(self, container: str, name: str, etag: str, make_event: Any,
                       targets: Any) -> dict[str, Any] | None:
        """Store the blob's new eTag and queue its event for each subscription it matches,
        atomically. make_event(sequencer) builds the event; targets(event) gives
        [(subscription name, function name)]. None (and nothing queued) when this eTag is
        already recorded: the change feed and the full listing may both bring one version."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            stored = self.db.execute("SELECT etag FROM blobs WHERE container = ? AND name = ?",
                                     (container, name)).fetchone()
            if stored is not None and stored[0] == etag:
                return None
            event = make_event(self.next_sequencer())
            self.db.execute("INSERT OR REPLACE INTO blobs (container, name, etag) VALUES (?, ?, ?)",
                            (container, name, etag))
            self.db.executemany(
                "INSERT INTO outbox (subscription, function_name, event, next_attempt_at, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(sub, fn, json.dumps(event), now, now) for sub, fn in targets(event)])
        return dict(event)

    # --- outbox ------------------------------------------------------------------------------
    def due(self, now: float, limit: int, exclude: set[int]) -> list[Delivery]:
        rows = self.db.execute(
            "SELECT id, subscription, function_name, event, attempts FROM outbox "
            "WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (now, limit + len(exclude))).fetchall()
        return [Delivery(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows if r[0] not in exclude][:limit]

    def next_due_at(self, exclude: set[int]) -> float | None:
        marks = ",".join("?" * len(exclude))
        row = self.db.execute("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'"
                              + (f" AND id NOT IN ({marks})" if exclude else ""), tuple(exclude)).fetchone()
        return row[0] if row else None

    def prune(self, older_than: float) -> None:
        """Delivered rows are only kept for inspection for a while."""
        self.db.execute("DELETE FROM outbox WHERE state = 'delivered' AND finished_at < ?", (older_than,))

    def delivered(self, delivery_id: int, attempts: int) -> None:
        self.db.execute("UPDATE outbox SET state = 'delivered', attempts = ?, finished_at = ?, last_error = NULL "
                        "WHERE id = ?", (attempts, time.time(), delivery_id))

    def failed(self, delivery_id: int, attempts: int, error: str, retry_at: float | None) -> None:
        if retry_at is None:
            self.db.execute("UPDATE outbox SET state = 'deadlettered', attempts = ?, last_error = ?, "
                            "finished_at = ? WHERE id = ?", (attempts, error, time.time(), delivery_id))
        else:
            self.db.execute("UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                            (attempts, error, retry_at, delivery_id))

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
