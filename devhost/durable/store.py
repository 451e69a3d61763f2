"""The task hub: instances, history, inbox messages (events, timers), activity work
items, all in one SQLite file. Every change an episode or an activity makes is one
transaction (WAL), so a killed process leaves either all of it or
none of it, and a restart carries on from what was committed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devhost.durable import events as E
from devhost.durable import transitions as T
from devhost.durable.hub_lock import lock_exclusively
from devhost.durable.records import Instance, Query, WorkItem
from devhost.durable.shim import TERMINAL, Message, Outcome
from devhost.durable.transitions import ACTIVE
from devhost.private_files import touch_private

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
  instance_id TEXT PRIMARY KEY, name TEXT NOT NULL, execution_id TEXT NOT NULL,
  status TEXT NOT NULL, input TEXT, output TEXT, custom_status TEXT,
  created_ts REAL NOT NULL, updated_ts REAL NOT NULL,
  parent_instance_id TEXT, parent_execution_id TEXT, parent_task_id INTEGER,
  version TEXT, shim TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS instances_created ON instances(created_ts, instance_id);
CREATE TABLE IF NOT EXISTS history (
  instance_id TEXT NOT NULL, position INTEGER NOT NULL, event TEXT NOT NULL,
  PRIMARY KEY (instance_id, position));
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, execution_id TEXT,
  event_name TEXT, timer_id INTEGER, visible_ts REAL NOT NULL, event TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_instance ON messages(instance_id, id);
CREATE INDEX IF NOT EXISTS messages_visible ON messages(visible_ts);
CREATE TABLE IF NOT EXISTS activities (
  id INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, execution_id TEXT NOT NULL,
  task_id INTEGER NOT NULL, name TEXT NOT NULL, input TEXT, running INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS waits (
  instance_id TEXT NOT NULL, name TEXT NOT NULL, outstanding INTEGER NOT NULL,
  PRIMARY KEY (instance_id, name));
"""


class TaskHubStore:
    def __init__(self, path: Path) -> None:
        self._lock_file = lock_exclusively(path.with_name(path.name + ".lock"))
        # Instance inputs and outputs are job data: the file is the owner's alone.
        self._db = sqlite3.connect(str(touch_private(path)), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: every commit survives a killed process (kill -9); only an OS crash or
        # power loss may lose the last commits, never leaving half-written state.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: Any = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ---- recovery and dispatch -------------------------------------------------------------

    def recover(self) -> int:
        """Activities that were running when the process died run again (at least once)."""
        with self._tx() as db:
            return db.execute("UPDATE activities SET running = 0 WHERE running = 1").rowcount

    def ready_instances(self, now: float, limit: int) -> list[str]:
        rows = self._read(
            """SELECT DISTINCT m.instance_id FROM messages m WHERE m.visible_ts <= ? AND (
                 m.event_name IS NULL OR EXISTS (SELECT 1 FROM waits w WHERE
                   w.instance_id = m.instance_id AND w.name = m.event_name AND w.outstanding > 0))
               ORDER BY m.id LIMIT ?""", (now, limit))
        return [r[0] for r in rows]

    def next_timer_ts(self, now: float) -> float | None:
        rows = self._read("SELECT MIN(visible_ts) FROM messages WHERE visible_ts > ?", (now,))
        return rows[0][0] if rows else None

    def claim_activities(self, limit: int) -> list[WorkItem]:
        if limit <= 0:
            return []
        with self._tx() as db:
            rows = db.execute("SELECT * FROM activities WHERE running = 0 ORDER BY id LIMIT ?",
                              (limit,)).fetchall()
            db.executemany("UPDATE activities SET running = 1 WHERE id = ?", [(r["id"],) for r in rows])
        return [WorkItem(r["id"], r["instance_id"], r["execution_id"], r["task_id"], r["name"], r["input"])
                for r in rows]

    def complete_activity(self, item: WorkItem, event: E.Event) -> None:
        """The completion and the end of the work item commit together: it never runs again."""
        with self._tx() as db:
            if db.execute("DELETE FROM activities WHERE id = ?", (item.id,)).rowcount:
                T.insert_message(db, item.instance_id, item.execution_id, event)

    # ---- instances -------------------------------------------------------------------------

    def create_instance(self, *, name: str, instance_id: str, input_json: str | None, now: float,
                        version: str | None = None, parent: tuple[str, str, int] | None = None) -> None:
        with self._tx() as db:
            T.create_instance(db, name=name, instance_id=instance_id, input_json=input_json, now=now,
                              version=version, parent=parent)

    def get_instance(self, instance_id: str) -> Instance | None:
        rows = self._read("SELECT * FROM instances WHERE instance_id = ?", (instance_id,))
        return Instance.from_row(rows[0]) if rows else None

    def history(self, instance_id: str) -> list[E.Event]:
        rows = self._read("SELECT event FROM history WHERE instance_id = ? ORDER BY position",
                          (instance_id,))
        return [json.loads(r[0]) for r in rows]

    def inbox(self, instance_id: str, now: float) -> list[Message]:
        rows = self._read("SELECT id, execution_id, event FROM messages WHERE instance_id = ? "
                          "AND visible_ts <= ? ORDER BY id", (instance_id, now))
        return [Message(r[0], r[1], json.loads(r[2])) for r in rows]

    def list_instances(self, query: Query, offset: int, limit: int) -> list[Instance]:
        where, args = query.where()
        rows = self._read(f"SELECT * FROM instances WHERE {where} ORDER BY created_ts, instance_id "
                          "LIMIT ? OFFSET ?", [*args, limit, offset])
        return [Instance.from_row(r) for r in rows]

    # ---- client operations -----------------------------------------------------------------

    def send(self, instance_id: str, event: E.Event) -> str | None:
        """Queue an event for an instance; returns its status (None: no such instance)."""
        with self._tx() as db:
            row = db.execute("SELECT status, execution_id FROM instances WHERE instance_id = ?",
                             (instance_id,)).fetchone()
            if row is None:
                return None
            if row["status"] in ACTIVE:
                # No execution id: it goes to whichever execution is current (continue-as-new).
                T.insert_message(db, instance_id, None, event)
            return str(row["status"])

    def purge(self, instance_id: str) -> str | None:
        """Delete a finished instance; returns its status (None: not found, nothing deleted)."""
        with self._tx() as db:
            row = db.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
            if row is None:
                return None
            if row["status"] in TERMINAL:
                T.delete_instance(db, instance_id)
            return str(row["status"])

    def purge_by(self, query: Query) -> int:
        where, args = query.where()
        with self._tx() as db:
            ids = [r[0] for r in db.execute(
                f"SELECT instance_id FROM instances WHERE {where} AND status IN "
                f"({','.join('?' * len(TERMINAL))})", [*args, *TERMINAL]).fetchall()]
            for instance_id in ids:
                T.delete_instance(db, instance_id)
            return len(ids)

    # ---- episodes --------------------------------------------------------------------------

    def drop_messages(self, ids: list[int]) -> None:
        if ids:
            with self._tx() as db:
                db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in ids])

    def commit_episode(self, inst: Instance, consumed: list[int], outcome: Outcome, now: float) -> list[str]:
        """Apply an episode atomically; returns instance ids that got new messages."""
        with self._tx() as db:
            return T.commit_episode(db, inst, consumed, outcome, now)
