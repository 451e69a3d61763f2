"""The task hub: instances, history, inbox messages (events, timers), activity work
items, all in one SQLite file. Every change an episode or an activity makes is one
transaction (WAL), so a killed process leaves either all of it or
none of it, and a restart carries on from what was committed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from devhost.durable import events as E
from devhost.durable.shim import TERMINAL, Message, Outcome, new_state

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

ACTIVE = ("Pending", "Running", "ContinuedAsNew")


class InstanceExists(Exception):
    """An instance with this id is pending or running."""


@dataclass
class Instance:
    instance_id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    output: str | None
    custom_status: str | None
    created_ts: float
    updated_ts: float
    parent_instance_id: str | None
    parent_execution_id: str | None
    parent_task_id: int | None
    version: str | None
    shim: dict[str, Any]


@dataclass
class WorkItem:
    id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


@dataclass
class Query:
    created_from: float | None = None
    created_to: float | None = None
    statuses: list[str] | None = None
    prefix: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = ["1=1"]
        args: list[Any] = []
        if self.created_from is not None:
            clauses.append("created_ts >= ?")
            args.append(self.created_from)
        if self.created_to is not None:
            clauses.append("created_ts <= ?")
            args.append(self.created_to)
        if self.statuses:
            clauses.append(f"status IN ({','.join('?' * len(self.statuses))})")
            args.extend(self.statuses)
        if self.prefix:
            clauses.append("substr(instance_id, 1, ?) = ?")
            args.extend([len(self.prefix), self.prefix])
        return " AND ".join(clauses), args


class TaskHubInUse(Exception):
    """Another process is serving this task hub."""


class TaskHubStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock_exclusively(path.with_name(path.name + ".lock"))
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
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
                _insert_message(db, item.instance_id, item.execution_id, event)

    # ---- instances -------------------------------------------------------------------------

    def create_instance(self, *, name: str, instance_id: str, input_json: str | None, now: float,
                        version: str | None = None, parent: tuple[str, str, int] | None = None) -> None:
        with self._tx() as db:
            self._create(db, name=name, instance_id=instance_id, input_json=input_json, now=now,
                         version=version, parent=parent)

    def _create(self, db: sqlite3.Connection, *, name: str, instance_id: str, input_json: str | None,
                now: float, version: str | None, parent: tuple[str, str, int] | None) -> None:
        row = db.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
        if row is not None and row["status"] in ACTIVE:
            raise InstanceExists(f"An orchestration instance with ID '{instance_id}' is already "
                                 f"{row['status'].lower()}.")
        _delete_instance(db, instance_id)
        execution_id = uuid.uuid4().hex
        db.execute(
            """INSERT INTO instances (instance_id, name, execution_id, status, input, created_ts,
               updated_ts, parent_instance_id, parent_execution_id, parent_task_id, version, shim)
               VALUES (?, ?, ?, 'Pending', ?, ?, ?, ?, ?, ?, ?, ?)""",
            (instance_id, name, execution_id, input_json, now, now,
             parent[0] if parent else None, parent[1] if parent else None,
             parent[2] if parent else None, version, json.dumps(new_state())))
        parent_ref = {"OrchestrationInstance": {"InstanceId": parent[0], "ExecutionId": parent[1]},
                      "TaskScheduleId": parent[2]} if parent else None
        _insert_message(db, instance_id, execution_id, E.execution_started(
            now, name=name, input_json=input_json, instance_id=instance_id,
            execution_id=execution_id, version=version, parent=parent_ref))

    def get_instance(self, instance_id: str) -> Instance | None:
        rows = self._read("SELECT * FROM instances WHERE instance_id = ?", (instance_id,))
        return _instance(rows[0]) if rows else None

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
        return [_instance(r) for r in rows]

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
                _insert_message(db, instance_id, None, event)
            return str(row["status"])

    def purge(self, instance_id: str) -> str | None:
        """Delete a finished instance; returns its status (None: not found, nothing deleted)."""
        with self._tx() as db:
            row = db.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
            if row is None:
                return None
            if row["status"] in TERMINAL:
                _delete_instance(db, instance_id)
            return str(row["status"])

    def purge_by(self, query: Query) -> int:
        where, args = query.where()
        with self._tx() as db:
            ids = [r[0] for r in db.execute(
                f"SELECT instance_id FROM instances WHERE {where} AND status IN "
                f"({','.join('?' * len(TERMINAL))})", [*args, *TERMINAL]).fetchall()]
            for instance_id in ids:
                _delete_instance(db, instance_id)
            return len(ids)

    # ---- episodes --------------------------------------------------------------------------

    def drop_messages(self, ids: list[int]) -> None:
        if ids:
            with self._tx() as db:
                db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in ids])

    def commit_episode(self, inst: Instance, consumed: list[int], outcome: Outcome, now: float) -> list[str]:
        """Apply an episode atomically; returns instance ids that got new messages."""
        touched = [inst.instance_id]
        with self._tx() as db:
            current = db.execute("SELECT execution_id FROM instances WHERE instance_id = ?",
                                 (inst.instance_id,)).fetchone()
            if current is None or current[0] != inst.execution_id:
                return []  # purged or replaced meanwhile
            db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in consumed])
            start = db.execute("SELECT COUNT(*) FROM history WHERE instance_id = ?",
                               (inst.instance_id,)).fetchone()[0]
            db.executemany("INSERT INTO history (instance_id, position, event) VALUES (?, ?, ?)",
                           [(inst.instance_id, start + i, json.dumps({**ev, "IsPlayed": True}))
                            for i, ev in enumerate(outcome.events)])
            status = outcome.status
            custom = outcome.custom_status_json if outcome.custom_status_json is not None \
                else inst.custom_status
            if status in TERMINAL:
                self._end_execution(db, inst)
                touched += self._notify_parent(db, inst, outcome, now)
            elif status == "ContinuedAsNew":
                self._continue_as_new(db, inst, outcome.continue_input, now)
            else:
                self._schedule(db, inst, outcome, now)
                touched += [c.instance_id for c in outcome.children]
            db.execute("""UPDATE instances SET status = ?, output = ?, custom_status = ?, updated_ts = ?,
                          shim = ? WHERE instance_id = ?""",
                       (status, outcome.output_json, custom, now,
                        json.dumps(outcome.state) if status != "ContinuedAsNew" else json.dumps(new_state()),
                        inst.instance_id))
            if status == "ContinuedAsNew":
                db.execute("UPDATE instances SET input = ? WHERE instance_id = ?",
                           (outcome.continue_input, inst.instance_id))
            db.execute("DELETE FROM waits WHERE instance_id = ?", (inst.instance_id,))
            if status == "Running":
                waits = [(inst.instance_id, name, count - outcome.state["delivered"].get(name, 0))
                         for name, count in outcome.state["waits"].items()]
                db.executemany("INSERT INTO waits VALUES (?, ?, ?)", waits)
        return touched

    def _schedule(self, db: sqlite3.Connection, inst: Instance, outcome: Outcome, now: float) -> None:
        iid, exe = inst.instance_id, inst.execution_id
        db.executemany("INSERT INTO activities (instance_id, execution_id, task_id, name, input) "
                       "VALUES (?, ?, ?, ?, ?)", [(iid, exe, t, n, i) for t, n, i in outcome.activities])
        for timer_id, fire_ts, event in outcome.timers:
            _insert_message(db, iid, exe, event, visible_ts=fire_ts, timer_id=timer_id)
        for timer_id in outcome.cancel_timers:
            db.execute("DELETE FROM messages WHERE instance_id = ? AND execution_id = ? AND timer_id = ?",
                       (iid, exe, timer_id))
        for event in outcome.messages:
            _insert_message(db, iid, exe, event)
        for child in outcome.children:
            try:
                self._create(db, name=child.name, instance_id=child.instance_id, input_json=child.input_json,
                             now=now, version=None, parent=(iid, exe, child.task_id))
            except InstanceExists as exc:
                _insert_message(db, iid, exe, E.sub_orchestration_failed(now, child.task_id, str(exc), None))

    def _end_execution(self, db: sqlite3.Connection, inst: Instance) -> None:
        # Work of a finished execution is dropped, as in Azure; running activities finish
        # and their results are discarded as stale.
        db.execute("DELETE FROM activities WHERE instance_id = ? AND running = 0", (inst.instance_id,))
        db.execute("DELETE FROM messages WHERE instance_id = ?", (inst.instance_id,))

    def _notify_parent(self, db: sqlite3.Connection, inst: Instance, outcome: Outcome,
                       now: float) -> list[str]:
        if inst.parent_instance_id is None or inst.parent_task_id is None:
            return []
        if outcome.status == "Completed":
            event = E.sub_orchestration_completed(now, inst.parent_task_id, outcome.output_json)
        else:
            reason, details = outcome.failure or ("sub-orchestration failed", None)
            event = E.sub_orchestration_failed(now, inst.parent_task_id, reason, details)
        _insert_message(db, inst.parent_instance_id, inst.parent_execution_id, event)
        return [inst.parent_instance_id]

    def _continue_as_new(self, db: sqlite3.Connection, inst: Instance, input_json: str | None,
                         now: float) -> None:
        # A fresh execution: new history, and only external events survive the transition.
        execution_id = uuid.uuid4().hex
        db.execute("DELETE FROM history WHERE instance_id = ?", (inst.instance_id,))
        db.execute("DELETE FROM activities WHERE instance_id = ? AND running = 0", (inst.instance_id,))
        db.execute("DELETE FROM messages WHERE instance_id = ? AND execution_id IS NOT NULL",
                   (inst.instance_id,))
        db.execute("UPDATE instances SET execution_id = ? WHERE instance_id = ?",
                   (execution_id, inst.instance_id))
        parent = {"OrchestrationInstance": {"InstanceId": inst.parent_instance_id,
                                            "ExecutionId": inst.parent_execution_id},
                  "TaskScheduleId": inst.parent_task_id} if inst.parent_instance_id else None
        _insert_message(db, inst.instance_id, execution_id, E.execution_started(
            now, name=inst.name, input_json=input_json, instance_id=inst.instance_id,
            execution_id=execution_id, version=inst.version, parent=parent))
        inst.execution_id = execution_id


def _lock_exclusively(path: Path) -> IO[bytes] | None:
    """Two processes dispatching one task hub would run every activity twice; the OS drops
    the lock when the holder dies, so a killed host never blocks its successor."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no guard
        return None
    handle = path.open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise TaskHubInUse(f"the task hub {path.with_suffix('')} is in use by another process") from exc
    return handle


def _insert_message(db: sqlite3.Connection, instance_id: str, execution_id: str | None, event: E.Event,
                    *, visible_ts: float = 0.0, timer_id: int | None = None) -> None:
    event_name = event.get("Name") if event.get("EventType") == E.EVENT_RAISED else None
    db.execute("INSERT INTO messages (instance_id, execution_id, event_name, timer_id, visible_ts, event) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               (instance_id, execution_id, event_name, timer_id, visible_ts, json.dumps(event)))


def _delete_instance(db: sqlite3.Connection, instance_id: str) -> None:
    for table in ("instances", "history", "messages", "activities", "waits"):
        db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))


def _instance(row: sqlite3.Row) -> Instance:
    return Instance(row["instance_id"], row["name"], row["execution_id"], row["status"], row["input"],
                    row["output"], row["custom_status"], row["created_ts"], row["updated_ts"],
                    row["parent_instance_id"], row["parent_execution_id"], row["parent_task_id"],
                    row["version"], json.loads(row["shim"]))
