"""The persistent queue: jobs and tasks in SQLite (WAL, one transaction per change).

Only the event-loop thread touches the connection. Task states follow Batch:
active -> running -> completed (success|failure); a failed attempt with retries
left goes back to active with retry_count + 1. A task found running at start-up
was interrupted by a crash or shutdown and goes back to active without using
a retry, as is one a job disable (`requeue`) stopped.

Job states follow Batch too: active -> disabling -> disabled -> enabling -> active,
or terminated. Only an active job's tasks are claimed. (The module is a little over
350 lines because it is the one place the queue's SQL lives.)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.errors import ConflictError, NotFoundError
from shared.tasks import TaskCounts, TaskResult, TaskSpec, TaskState, TaskStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    priority INTEGER NOT NULL,
    state TEXT NOT NULL,             -- active | disabling | disabled | enabling | terminated
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- FIFO order within a priority
    job_id TEXT NOT NULL REFERENCES jobs(id),
    id TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    exit_code INTEGER,
    retry_count INTEGER NOT NULL DEFAULT 0,
    start_time TEXT,
    end_time TEXT,
    failure TEXT,
    failure_category TEXT,           -- Batch's failureInfo category of a failed task: UserError | ServerError
    pid INTEGER,                     -- process group of the running attempt
    pid_start TEXT,                  -- its start time in /proc, so a reused pid is never killed
    node_id TEXT,                    -- the node it runs or last ran on (Batch's nodeInfo.nodeId)
    UNIQUE (job_id, id)
);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks(status, job_id);
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY,
    scheduling TEXT NOT NULL,        -- enabled | disabled
    reason TEXT,                     -- why scheduling was disabled
    changed_at TEXT NOT NULL
);
"""
# Columns added after the first queues were made: (name, type), added when missing.
ADDED_COLUMNS = (("failure_category", "TEXT"), ("node_id", "TEXT"))
ENDED = "terminated"  # a job that takes no more tasks and no more control


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Claim:
    """A task the scheduler has just moved to running."""

    job_id: str
    spec: TaskSpec
    retry_count: int


def in_ranges(task_id: str, ranges: Sequence[Sequence[int]]) -> bool:
    if not ranges or not task_id.isdigit():
        return False
    number = int(task_id)
    return any(lo <= number <= hi for lo, hi in ranges)


class Store:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash, fast enough
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        columns = {row["name"] for row in self.db.execute("PRAGMA table_info(tasks)")}
        for name, kind in ADDED_COLUMNS:
            if name not in columns:  # a queue made before the column existed
                self.db.execute(f"ALTER TABLE tasks ADD COLUMN {name} {kind}")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # Jobs

    def create_job(self, job_id: str, priority: int) -> tuple[dict[str, Any], bool]:
        """The job, and whether this call created it. An existing job keeps its priority."""
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO jobs (id, priority, state, created_at) VALUES (?,?,?,?)",
                             (job_id, priority, "active", utc_now()))
        return self.get_job(job_id), cur.rowcount == 1

    def get_job(self, job_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"job {job_id} not found")
        return {"id": row["id"], "priority": row["priority"], "state": row["state"],
                "createdAt": row["created_at"]}

    def terminate_job(self, job_id: str) -> list[str]:
        """Mark the job terminated and fail its waiting tasks; returns the ids still running."""
        self.get_job(job_id)
        with self._tx() as db:
            db.execute("UPDATE jobs SET state = 'terminated' WHERE id = ?", (job_id,))
            db.execute("UPDATE tasks SET status = 'completed', result = 'failure', failure = 'terminated', "
                       "failure_category = 'UserError', "
                       "end_time = ? WHERE job_id = ? AND status = 'active'", (utc_now(), job_id))
            rows = db.execute("SELECT id FROM tasks WHERE job_id = ? AND status = 'running'",
                              (job_id,)).fetchall()
        return [r["id"] for r in rows]

    def disable_job(self, job_id: str) -> None:
        """Batch's Disable Job: `disabling` until its running tasks are dealt with, then
        `disabled` (settle_jobs). A disabled job stays so; an ended one refuses."""
        state = self._controllable(job_id, "disabled")
        if state != "disabled":
            with self._tx() as db:
                db.execute("UPDATE jobs SET state = 'disabling' WHERE id = ?", (job_id,))

    def enable_job(self, job_id: str) -> None:
        """Batch's Enable Job: `enabling`, then `active` at the next settle_jobs. An active job
        stays so; one still `disabling` (tasks finishing under `wait`) refuses, as on Batch."""
        state = self._controllable(job_id, "enabled")
        if state == "disabling":
            raise ConflictError(f"job {job_id} is still being disabled; enable it once it is disabled")
        if state == "disabled":
            with self._tx() as db:
                db.execute("UPDATE jobs SET state = 'enabling' WHERE id = ?", (job_id,))

    def set_priority(self, job_id: str, priority: int) -> None:
        """Claims order by job priority, so this reorders the job's tasks not yet started."""
        self._controllable(job_id, "given a priority")
        with self._tx() as db:
            db.execute("UPDATE jobs SET priority = ? WHERE id = ?", (priority, job_id))

    def settle_jobs(self) -> None:
        """Finish the state changes Batch reports as in progress: `disabling` once none of the
        job's tasks runs any more, `enabling` at once (the next claim sees it active)."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET state = 'disabled' WHERE state = 'disabling' AND NOT EXISTS "
                       "(SELECT 1 FROM tasks WHERE tasks.status = 'running' AND tasks.job_id = jobs.id)")
            db.execute("UPDATE jobs SET state = 'active' WHERE state = 'enabling'")

    def running_ids(self, job_id: str) -> list[str]:
        rows = self.db.execute("SELECT id FROM tasks WHERE job_id = ? AND status = 'running'",
                               (job_id,)).fetchall()
        return [r["id"] for r in rows]

    def _controllable(self, job_id: str, what: str) -> str:
        state: str = self.get_job(job_id)["state"]
        if state == ENDED:  # Batch: 409 JobCompleted
            raise ConflictError(f"job {job_id} is terminated; it cannot be {what}")
        return state

    # Tasks

    def add_tasks(self, job_id: str, specs: Sequence[TaskSpec]) -> tuple[list[str], list[str]]:
        """Add the tasks not there yet; returns (added ids, ids that existed already)."""
        added: list[str] = []
        existing: list[str] = []
        with self._tx() as db:
            job = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if job is None:
                raise NotFoundError(f"job {job_id} not found")
            if job["state"] == ENDED:  # a disabled job still takes tasks, as on Batch
                raise ConflictError(f"job {job_id} is terminated; no tasks can be added")
            for spec in specs:
                cur = db.execute("INSERT OR IGNORE INTO tasks (job_id, id, spec, status) VALUES (?,?,?,?)",
                                 (job_id, spec.id, json.dumps(spec.to_json()), "active"))
                (added if cur.rowcount == 1 else existing).append(spec.id)
        self.refresh_blocked(job_id)
        return added, existing

    def list_tasks(self, job_id: str) -> list[TaskState]:
        self.get_job(job_id)
        rows = self.db.execute("SELECT * FROM tasks WHERE job_id = ? ORDER BY seq", (job_id,)).fetchall()
        return [_state(r) for r in rows]

    def get_task(self, job_id: str, task_id: str) -> tuple[TaskState, TaskSpec]:
        self.get_job(job_id)
        row = self.db.execute("SELECT * FROM tasks WHERE job_id = ? AND id = ?", (job_id, task_id)).fetchone()
        if row is None:
            raise NotFoundError(f"task {task_id} not found in job {job_id}")
        return _state(row), TaskSpec.from_json(json.loads(row["spec"]))

    def failure_categories(self, job_id: str) -> dict[str, str]:
        """Batch's failureInfo category of each failed task of the job."""
        rows = self.db.execute("SELECT id, failure_category FROM tasks WHERE job_id = ? "
                               "AND failure_category IS NOT NULL", (job_id,)).fetchall()
        return {r["id"]: r["failure_category"] for r in rows}

    def task_nodes(self, job_id: str) -> dict[str, str]:
        """The node each task of the job runs or last ran on (tasks not run yet have none)."""
        rows = self.db.execute("SELECT id, node_id FROM tasks WHERE job_id = ? AND node_id IS NOT NULL",
                               (job_id,)).fetchall()
        return {r["id"]: r["node_id"] for r in rows}

    def counts(self, job_id: str) -> TaskCounts:
        self.get_job(job_id)
        rows = self.db.execute("SELECT status, result, COUNT(*) AS n FROM tasks WHERE job_id = ? "
                               "GROUP BY status, result", (job_id,)).fetchall()
        n = {(r["status"], r["result"]): r["n"] for r in rows}
        return TaskCounts(active=n.get(("active", None), 0), running=n.get(("running", None), 0),
                          succeeded=n.get(("completed", "success"), 0),
                          failed=n.get(("completed", "failure"), 0))

    # Scheduling

    def claim_next(self, limit: int, node_id: str | None = None) -> list[Claim]:
        """Move up to `limit` runnable tasks to running on `node_id`: higher job priority
        first, then FIFO."""
        if limit <= 0:
            return []
        # Read rows one at a time and stop at `limit`: with thousands of tasks queued, fetching
        # them all (and every job's results) on each pass made adding 10,000 tasks take ~20 s.
        cursor = self.db.execute(
            "SELECT t.job_id, t.id, t.spec, t.retry_count FROM tasks t JOIN jobs j ON j.id = t.job_id "
            "WHERE t.status = 'active' AND t.failure IS NULL AND j.state = 'active' "
            "ORDER BY j.priority DESC, t.seq")
        results: dict[str, dict[str, str | None]] = {}
        claims: list[Claim] = []
        try:
            for row in cursor:
                spec = TaskSpec.from_json(json.loads(row["spec"]))
                if spec.depends_on or spec.depends_on_ranges:
                    job_results = results.get(row["job_id"])
                    if job_results is None:
                        job_results = results[row["job_id"]] = self._results(row["job_id"])
                    if not _deps_succeeded(spec, job_results):
                        continue
                claims.append(Claim(row["job_id"], spec, row["retry_count"]))
                if len(claims) == limit:
                    break
        finally:
            cursor.close()
        now = utc_now()
        with self._tx() as db:
            for c in claims:
                db.execute("UPDATE tasks SET status = 'running', start_time = ?, end_time = NULL, "
                           "exit_code = NULL, result = NULL, failure = NULL, failure_category = NULL, "
                           "node_id = ? WHERE job_id = ? AND id = ?",
                           (now, node_id, c.job_id, c.spec.id))
        return claims

    def set_process(self, job_id: str, task_id: str, pid: int, pid_start: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE tasks SET pid = ?, pid_start = ? WHERE job_id = ? AND id = ?",
                       (pid, pid_start, job_id, task_id))

    def finish(self, job_id: str, task_id: str, *, exit_code: int | None, failure: str | None,
               retry: bool, category: str | None = None) -> None:
        """Record an attempt's end: back to active if `retry`, else completed."""
        with self._tx() as db:
            job = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            retry = retry and job["state"] != ENDED  # a terminated job's tasks are not retried
            if retry:
                db.execute("UPDATE tasks SET status = 'active', retry_count = retry_count + 1, "
                           "exit_code = ?, pid = NULL, pid_start = NULL WHERE job_id = ? AND id = ?",
                           (exit_code, job_id, task_id))
            else:
                result = TaskResult.SUCCESS if exit_code == 0 and failure is None else TaskResult.FAILURE
                db.execute("UPDATE tasks SET status = 'completed', result = ?, exit_code = ?, failure = ?, "
                           "failure_category = ?, end_time = ?, pid = NULL, pid_start = NULL "
                           "WHERE job_id = ? AND id = ?",
                           (result.value, exit_code, failure,
                            (category or "UserError") if result is TaskResult.FAILURE else None,
                            utc_now(), job_id, task_id))
        if not retry:
            self.refresh_blocked(job_id)

    def requeue(self, job_id: str, task_id: str) -> None:
        """An attempt interrupted by localbatch itself or a job disable: run it again, without
        using a retry. Unless its job was terminated meanwhile: then it ends as terminated.
        """
        with self._tx() as db:
            job = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if job["state"] == ENDED:
                db.execute("UPDATE tasks SET status = 'completed', result = 'failure', failure = 'terminated', "
                       "failure_category = 'UserError', "
                           "end_time = ?, pid = NULL, pid_start = NULL WHERE job_id = ? AND id = ? "
                           "AND status = 'running'", (utc_now(), job_id, task_id))
                return
            db.execute("UPDATE tasks SET status = 'active', start_time = NULL, pid = NULL, pid_start = NULL "
                       "WHERE job_id = ? AND id = ? AND status = 'running'", (job_id, task_id))

    def running(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT job_id, id, pid, pid_start FROM tasks "
                               "WHERE status = 'running'").fetchall()

    def to_clean_up(self, *, failed_before: str) -> list[tuple[str, str]]:
        """Completed tasks whose directory may go: every success, failures that ended before the time."""
        rows = self.db.execute("SELECT job_id, id FROM tasks WHERE status = 'completed' "
                               "AND (result = 'success' OR end_time < ?)", (failed_before,)).fetchall()
        return [(r["job_id"], r["id"]) for r in rows]

    # The node

    def node(self, node_id: str) -> dict[str, Any]:
        """Batch's node scheduling state; a node never disabled is enabled."""
        row = self.db.execute("SELECT * FROM nodes WHERE id = ?", (node_id,)).fetchone()
        if row is None:
            return {"id": node_id, "schedulingState": "enabled"}
        node = {"id": node_id, "schedulingState": row["scheduling"]}
        if row["scheduling"] == "disabled":
            node.update(schedulingDisabledReason=row["reason"], schedulingDisabledAt=row["changed_at"])
        return node

    def set_node_scheduling(self, node_id: str, *, enabled: bool, reason: str | None = None) -> None:
        """Disabling a disabled node keeps its first reason (Batch: already in that state)."""
        if (self.node(node_id)["schedulingState"] == "enabled") == enabled:
            return
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO nodes (id, scheduling, reason, changed_at) VALUES (?,?,?,?)",
                       (node_id, "enabled" if enabled else "disabled", None if enabled else reason, utc_now()))

    def refresh_blocked(self, job_id: str) -> None:
        """Record on each waiting task which failed dependency blocks it (a failure is final)."""
        # Only failed tasks matter; asking SQLite for them alone keeps this cheap on every add and finish.
        rows = self.db.execute("SELECT id FROM tasks WHERE job_id = ? AND result = ?",
                               (job_id, TaskResult.FAILURE.value)).fetchall()
        failed = sorted((r["id"] for r in rows), key=_id_order)
        if not failed:
            return
        rows = self.db.execute("SELECT id, spec FROM tasks WHERE job_id = ? AND status = 'active' "
                               "AND failure IS NULL", (job_id,)).fetchall()
        updates = []
        for row in rows:
            spec = TaskSpec.from_json(json.loads(row["spec"]))
            blocker = next((f for f in failed
                            if f in spec.depends_on or in_ranges(f, spec.depends_on_ranges)), None)
            if blocker is not None:
                updates.append((f"blocked by failed dependency {blocker}", job_id, row["id"]))
        if updates:
            with self._tx() as db:
                db.executemany("UPDATE tasks SET failure = ? WHERE job_id = ? AND id = ?", updates)

    def _results(self, job_id: str) -> dict[str, str | None]:
        rows = self.db.execute("SELECT id, result FROM tasks WHERE job_id = ?", (job_id,)).fetchall()
        return {r["id"]: r["result"] for r in rows}


def _id_order(task_id: str) -> tuple[int, int, str]:
    return (0, int(task_id), "") if task_id.isdigit() else (1, 0, task_id)


def _deps_succeeded(spec: TaskSpec, results: dict[str, str | None]) -> bool:
    """Every named dependency, and every integer id in the ranges, exists and succeeded.

    A range waits for ids not added yet, so a stitch task added before its
    render tasks cannot start early.
    """
    ok = TaskResult.SUCCESS.value
    if any(results.get(d) != ok for d in spec.depends_on):
        return False
    done = {int(t) for t, r in results.items() if r == ok and t.isdigit()}
    return all(n in done for lo, hi in spec.depends_on_ranges for n in range(lo, hi + 1))


def _state(row: sqlite3.Row) -> TaskState:
    return TaskState(id=row["id"], status=TaskStatus(row["status"]),
                     result=TaskResult(row["result"]) if row["result"] else None,
                     exit_code=row["exit_code"], retry_count=row["retry_count"],
                     start_time=row["start_time"], end_time=row["end_time"], failure=row["failure"])
