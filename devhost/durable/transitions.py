"""The writes that move an instance forward, each run inside one task hub transaction:
creating an instance, and committing an episode's outcome (schedule activities, timers
and sub-orchestrations, finish, continue as new, tell the parent)."""

from __future__ import annotations

import json
import sqlite3
import uuid

from devhost.durable import events as E
from devhost.durable.records import Instance
from devhost.durable.shim import TERMINAL, Outcome, new_state

ACTIVE = ("Pending", "Running", "ContinuedAsNew")


class InstanceExists(Exception):
    """An instance with this id is pending or running."""


def create_instance(db: sqlite3.Connection, *, name: str, instance_id: str, input_json: str | None,
                    now: float, version: str | None, parent: tuple[str, str, int] | None) -> None:
    row = db.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
    if row is not None and row["status"] in ACTIVE:
        raise InstanceExists(f"An orchestration instance with ID '{instance_id}' is already "
                             f"{row['status'].lower()}.")
    delete_instance(db, instance_id)
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
    insert_message(db, instance_id, execution_id, E.execution_started(
        now, name=name, input_json=input_json, instance_id=instance_id,
        execution_id=execution_id, version=version, parent=parent_ref))


def commit_episode(db: sqlite3.Connection, inst: Instance, consumed: list[int], outcome: Outcome,
                   now: float) -> list[str]:
    """Apply an episode; returns instance ids that got new messages."""
    touched = [inst.instance_id]
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
    custom = outcome.custom_status_json if outcome.custom_status_json is not None else inst.custom_status
    if status in TERMINAL:
        _end_execution(db, inst)
        touched += _notify_parent(db, inst, outcome, now)
    elif status == "ContinuedAsNew":
        _continue_as_new(db, inst, outcome.continue_input, now)
    else:
        _schedule(db, inst, outcome, now)
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


def _schedule(db: sqlite3.Connection, inst: Instance, outcome: Outcome, now: float) -> None:
    iid, exe = inst.instance_id, inst.execution_id
    db.executemany("INSERT INTO activities (instance_id, execution_id, task_id, name, input) "
                   "VALUES (?, ?, ?, ?, ?)", [(iid, exe, t, n, i) for t, n, i in outcome.activities])
    for timer_id, fire_ts, event in outcome.timers:
        insert_message(db, iid, exe, event, visible_ts=fire_ts, timer_id=timer_id)
    for timer_id in outcome.cancel_timers:
        db.execute("DELETE FROM messages WHERE instance_id = ? AND execution_id = ? AND timer_id = ?",
                   (iid, exe, timer_id))
    for event in outcome.messages:
        insert_message(db, iid, exe, event)
    for child in outcome.children:
        try:
            create_instance(db, name=child.name, instance_id=child.instance_id, input_json=child.input_json,
                            now=now, version=None, parent=(iid, exe, child.task_id))
        except InstanceExists as exc:
            insert_message(db, iid, exe, E.sub_orchestration_failed(now, child.task_id, str(exc), None))


def _end_execution(db: sqlite3.Connection, inst: Instance) -> None:
    # Work of a finished execution is dropped, as in Azure; running activities finish
    # and their results are discarded as stale.
    db.execute("DELETE FROM activities WHERE instance_id = ? AND running = 0", (inst.instance_id,))
    db.execute("DELETE FROM messages WHERE instance_id = ?", (inst.instance_id,))


def _notify_parent(db: sqlite3.Connection, inst: Instance, outcome: Outcome, now: float) -> list[str]:
    if inst.parent_instance_id is None or inst.parent_task_id is None:
        return []
    if outcome.status == "Completed":
        event = E.sub_orchestration_completed(now, inst.parent_task_id, outcome.output_json)
    else:
        reason, details = outcome.failure or ("sub-orchestration failed", None)
        event = E.sub_orchestration_failed(now, inst.parent_task_id, reason, details)
    insert_message(db, inst.parent_instance_id, inst.parent_execution_id, event)
    return [inst.parent_instance_id]


def _continue_as_new(db: sqlite3.Connection, inst: Instance, input_json: str | None, now: float) -> None:
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
    insert_message(db, inst.instance_id, execution_id, E.execution_started(
        now, name=inst.name, input_json=input_json, instance_id=inst.instance_id,
        execution_id=execution_id, version=inst.version, parent=parent))
    inst.execution_id = execution_id


def insert_message(db: sqlite3.Connection, instance_id: str, execution_id: str | None, event: E.Event,
                   *, visible_ts: float = 0.0, timer_id: int | None = None) -> None:
    event_name = event.get("Name") if event.get("EventType") == E.EVENT_RAISED else None
    db.execute("INSERT INTO messages (instance_id, execution_id, event_name, timer_id, visible_ts, event) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               (instance_id, execution_id, event_name, timer_id, visible_ts, json.dumps(event)))


def delete_instance(db: sqlite3.Connection, instance_id: str) -> None:
    for table in ("instances", "history", "messages", "activities", "waits"):
        db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))
