"""An in-memory RenderBackend for unit tests of logic: no processes, no network.

Tasks run as soon as their dependencies allow. By default a task succeeds,
except argv `["false"]` (exit 1), ids in `fail_ids` (exit 1), and argv
`["sleep", "N"]`, which stays running for N seconds of the injected clock.
Progress is computed lazily on every call, so tests with a manual clock are
deterministic (see `ManualClock`). A disabled job starts nothing (Batch's job disable:
"requeue" puts running tasks back in the queue, "wait" lets them finish).

Given a `node_id`, every task runs on that one node: `task_node` names it once the task
has started, a started task has an empty `stdout.txt` and `stderr.txt` (tests put other
files in `task_files`), and disabling the node's scheduling starts nothing until it is
enabled. Without one (the default) the backend knows no nodes, as a backend that cannot
say where a task ran: `task_node` is None and no task file is found.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from shared.adapters.batch_node_files import check_node_id, check_reason, check_tail_bytes, check_task_file_path
from shared.errors import ConflictError, NotFoundError, ValidationError
from shared.tasks import TaskCounts, TaskResult, TaskSpec, TaskState, TaskStatus


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class _Task:
    spec: TaskSpec
    state: TaskState
    started_at: float = 0.0


@dataclass
class _Job:
    priority: int
    terminated: bool = False
    disabled: bool = False
    tasks: dict[str, _Task] = field(default_factory=dict)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class FakeRenderBackend:
    def __init__(self, *, fail_ids: Iterable[str] = (), clock: Callable[[], float] = time.time,
                 exit_codes: dict[str, int] | None = None, node_id: str | None = None) -> None:
        self.node_id = node_id
        self.node_disabled: str | None = None  # the reason, while the node's scheduling is disabled
        self.task_files: dict[tuple[str, str, str], bytes] = {}  # (job, task, path) → what the task wrote
        self.fail_ids = set(fail_ids)
        self.exit_codes = dict(exit_codes or {})  # task id → the exit code it fails with
        self.clock = clock
        self.jobs: dict[str, _Job] = {}
        self.added: list[tuple[str, TaskSpec]] = []  # every task actually added, in order
        self.requeued: list[tuple[str, str]] = []     # tasks a disable (requeue) sent back

    # The port

    def create_job(self, job_id: str, *, priority: int = 0) -> None:
        self.jobs.setdefault(job_id, _Job(priority=priority))

    def add_tasks(self, job_id: str, tasks: Sequence[TaskSpec]) -> None:
        job = self._job(job_id)
        if job.terminated:
            raise ConflictError(f"job {job_id} is terminated; no tasks can be added")
        for spec in tasks:
            if spec.id not in job.tasks:
                job.tasks[spec.id] = _Task(spec, TaskState(id=spec.id, status=TaskStatus.ACTIVE))
                self.added.append((job_id, spec))
        self._advance(job)

    def list_tasks(self, job_id: str) -> list[TaskState]:
        job = self._job(job_id)
        self._advance(job)
        return [t.state for t in job.tasks.values()]

    def get_task(self, job_id: str, task_id: str) -> TaskState:
        job = self._job(job_id)
        self._advance(job)
        if task_id not in job.tasks:
            raise NotFoundError(f"task {task_id} not found in job {job_id}")
        return job.tasks[task_id].state

    def task_counts(self, job_id: str) -> TaskCounts:
        states = self.list_tasks(job_id)
        done = [s for s in states if s.status is TaskStatus.COMPLETED]
        return TaskCounts(
            active=sum(s.status is TaskStatus.ACTIVE for s in states),
            running=sum(s.status is TaskStatus.RUNNING for s in states),
            succeeded=sum(s.result is TaskResult.SUCCESS for s in done),
            failed=sum(s.result is TaskResult.FAILURE for s in done),
        )

    def terminate_job(self, job_id: str) -> None:
        job = self._job(job_id)
        self._advance(job)
        job.terminated = True
        now = self.clock()
        for task in job.tasks.values():
            if task.state.status is not TaskStatus.COMPLETED:
                task.state = replace(task.state, status=TaskStatus.COMPLETED, result=TaskResult.FAILURE,
                                     end_time=_iso(now), failure="terminated",
                                     exit_code=137 if task.state.status is TaskStatus.RUNNING else None)

    def disable_job(self, job_id: str, mode: str) -> None:
        if mode not in ("requeue", "wait"):
            raise ValidationError(f"mode must be requeue or wait: {mode!r}", field="mode")
        job = self._job(job_id)
        self._advance(job)
        if job.terminated:
            raise ConflictError(f"job {job_id} is completed; it cannot be disabled")
        job.disabled = True
        if mode == "requeue":  # back to the queue, as Batch does: not a retry
            for task in job.tasks.values():
                if task.state.status is TaskStatus.RUNNING:
                    task.state = replace(task.state, status=TaskStatus.ACTIVE, start_time=None)
                    self.requeued.append((job_id, task.spec.id))

    def enable_job(self, job_id: str) -> None:
        job = self._job(job_id)
        if job.terminated:
            raise ConflictError(f"job {job_id} is completed; it cannot be enabled")
        job.disabled = False
        self._advance(job)

    def set_job_priority(self, job_id: str, priority: int) -> None:
        if isinstance(priority, bool) or not isinstance(priority, int) or not -1000 <= priority <= 1000:
            raise ValidationError("priority must be between -1000 and 1000", field="priority")
        self._job(job_id).priority = priority

    # Watching: the node a task ran on, its files there, the node's scheduling

    def task_node(self, job_id: str, task_id: str) -> str | None:
        state = self.get_task(job_id, task_id)
        return self.node_id if state.start_time is not None else None

    def read_task_file(self, job_id: str, task_id: str, path: str, tail_bytes: int) -> bytes:
        check_task_file_path(path)
        check_tail_bytes(tail_bytes)
        on_node = self.task_node(job_id, task_id) is not None  # NotFoundError for an unknown task
        data = self.task_files.get((job_id, task_id, path))
        if data is None and on_node and path in ("stdout.txt", "stderr.txt"):
            data = b""
        if data is None:
            raise NotFoundError(f"task {task_id} of job {job_id} has no file {path}")
        return data[-tail_bytes:]

    def disable_node_scheduling(self, node_id: str, reason: str) -> None:
        check_node_id(node_id)
        check_reason(reason)
        self._node(node_id)
        self.node_disabled = reason

    def enable_node_scheduling(self, node_id: str) -> None:
        check_node_id(node_id)
        self._node(node_id)
        self.node_disabled = None
        for job in self.jobs.values():
            self._advance(job)

    def _node(self, node_id: str) -> None:
        if node_id != self.node_id:
            raise NotFoundError(f"node {node_id} not found")

    # The simulation

    def _job(self, job_id: str) -> _Job:
        if job_id not in self.jobs:
            raise NotFoundError(f"job {job_id} not found")
        return self.jobs[job_id]

    def _advance(self, job: _Job) -> None:
        """Start and finish whatever can, until nothing changes."""
        if job.terminated:
            return
        changed = True
        while changed:
            changed = False
            for task in job.tasks.values():
                if (task.state.status is TaskStatus.ACTIVE and not job.disabled and self.node_disabled is None
                        and self._start_if_ready(job, task)):
                    changed = True
                if task.state.status is TaskStatus.RUNNING and self._finish_if_due(task):
                    changed = True

    def _start_if_ready(self, job: _Job, task: _Task) -> bool:
        # A range names integer ids, each of which must exist and succeed (as in localbatch).
        # Only for a task with ranges: building it for every task is quadratic in a job's tasks.
        numbered = ({int(t): job.tasks[t] for t in job.tasks if t.isdigit()}
                    if task.spec.depends_on_ranges else {})
        deps = [job.tasks.get(d) for d in task.spec.depends_on]
        deps += [numbered.get(n) for lo, hi in task.spec.depends_on_ranges for n in range(lo, hi + 1)]
        failed = next((d for d in deps if d is not None and d.state.result is TaskResult.FAILURE), None)
        if failed is not None:
            task.state = replace(task.state, failure=f"blocked by failed dependency {failed.spec.id}")
            return False
        if any(d is None or d.state.result is not TaskResult.SUCCESS for d in deps):
            return False
        # Dependencies finished "at" their end times; start no earlier than the latest of them.
        task.started_at = max([self.clock()] + [_seconds(d.state.end_time) for d in deps if d])
        task.state = replace(task.state, status=TaskStatus.RUNNING, start_time=_iso(task.started_at))
        return True

    def _finish_if_due(self, task: _Task) -> bool:
        argv = task.spec.argv
        duration = float(argv[1]) if len(argv) == 2 and argv[0] == "sleep" else 0.0
        if task.started_at + duration > self.clock():
            return False
        exit_code = 1 if argv == ("false",) or task.spec.id in self.fail_ids else 0
        exit_code = self.exit_codes.get(task.spec.id, exit_code)
        end = task.started_at + duration
        if exit_code != 0 and task.state.retry_count < task.spec.max_retries:
            task.state = replace(task.state, status=TaskStatus.ACTIVE, retry_count=task.state.retry_count + 1)
            return True
        task.state = replace(task.state, status=TaskStatus.COMPLETED, exit_code=exit_code, end_time=_iso(end),
                             result=TaskResult.SUCCESS if exit_code == 0 else TaskResult.FAILURE,
                             failure=None if exit_code == 0 else f"exit code {exit_code}")
        return True


def _seconds(iso: str | None) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else 0.0

