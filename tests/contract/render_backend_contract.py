"""The RenderBackend contract: behaviour every adapter of the port must show.

Subclass `RenderBackendContract` per adapter and provide a `backend` fixture (a
fresh, empty backend or one shared by the module; every test uses its own job
id). Override `run_until_done` only when the adapter needs help to make
progress (a fake with a manual clock); the default polls the backend.

Task argvs here are only `["true"]` (exit 0), `["false"]` (exit 1) and
`["sleep", "N"]`, so that any adapter, including one that talks to a
simulated Batch REST server, can run them.

Job control (disable/enable, priority) and watching (a task's node and files, node
scheduling) are tested on every backend that has the calls; a backend without
one skips those tests (`needs`), so the suite runs while a backend gains them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from shared.errors import ConflictError, NotFoundError, ValidationError
from shared.ports import RenderBackend
from shared.tasks import TaskResult, TaskSpec, TaskState, TaskStatus

RunUntilDone = Callable[..., dict[str, TaskState]]
UNKNOWN_NODE = "tvmps_nosuchnode_d"  # a node id of Batch's shape that no pool has

TRUE = ("true",)
FALSE = ("false",)


def sleep(seconds: int) -> tuple[str, ...]:
    return ("sleep", str(seconds))


def poll_until_done(backend: RenderBackend, job_id: str, timeout: float,
                    task_ids: Iterable[str] | None = None, interval: float = 0.1) -> dict[str, TaskState]:
    """Poll until the named tasks (default: every task of the job) are completed.

    Returns the job's task states by id; fails the test on timeout.
    """
    wanted = set(task_ids) if task_ids is not None else None
    deadline = time.monotonic() + timeout
    while True:
        states = {t.id: t for t in backend.list_tasks(job_id)}
        ids = wanted if wanted is not None else set(states)
        if all(i in states and states[i].status is TaskStatus.COMPLETED for i in ids):
            return states
        if time.monotonic() >= deadline:
            pending = sorted(i for i in ids
                             if i not in states or states[i].status is not TaskStatus.COMPLETED)
            raise AssertionError(f"tasks not completed within {timeout}s: {pending}")
        time.sleep(interval)


def needs(backend: object, *methods: str) -> Any:
    """The backend, if it has every method named; else the test is skipped (saying which)."""
    missing = [m for m in methods if not callable(getattr(backend, m, None))]
    if missing:
        pytest.skip(f"{type(backend).__name__} has no {', '.join(missing)}")
    return backend


def wait_status(backend: RenderBackend, job_id: str, task_id: str, status: TaskStatus,
                timeout: float) -> TaskState:
    deadline = time.monotonic() + timeout
    while (state := backend.get_task(job_id, task_id)).status is not status:
        if time.monotonic() >= deadline:
            raise AssertionError(f"{task_id} not {status.value} within {timeout}s: {state}")
        time.sleep(0.05)
    return state


class RenderBackendContract:
    """Tests any RenderBackend must pass; subclasses supply the `backend` fixture."""

    timeout = 30.0  # seconds a test waits for tasks; an adapter on a slow service may raise it

    @pytest.fixture
    def backend(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError("subclasses provide a `backend` fixture")

    @pytest.fixture
    def run_until_done(self, backend: RenderBackend) -> RunUntilDone:
        def run(job_id: str, timeout: float, task_ids: Iterable[str] | None = None) -> dict[str, TaskState]:
            return poll_until_done(backend, job_id, timeout, task_ids)
        return run

    @pytest.fixture
    def job_id(self) -> str:
        return f"contract-{uuid.uuid4().hex[:12]}"

    # Jobs

    def test_create_job_is_idempotent(self, backend: RenderBackend, job_id: str) -> None:
        backend.create_job(job_id, priority=5)
        backend.create_job(job_id, priority=5)
        backend.create_job(job_id, priority=7)  # a repeated call with another priority is not an error
        assert backend.list_tasks(job_id) == []
        assert backend.task_counts(job_id).completed == 0

    def test_unknown_job_is_not_found(self, backend: RenderBackend, job_id: str) -> None:
        with pytest.raises(NotFoundError):
            backend.list_tasks(job_id)
        with pytest.raises(NotFoundError):
            backend.task_counts(job_id)
        with pytest.raises(NotFoundError):
            backend.get_task(job_id, "t1")
        with pytest.raises(NotFoundError):
            backend.add_tasks(job_id, [TaskSpec(id="t1", argv=TRUE)])
        with pytest.raises(NotFoundError):
            backend.terminate_job(job_id)

    def test_unknown_task_is_not_found(self, backend: RenderBackend, job_id: str) -> None:
        backend.create_job(job_id)
        with pytest.raises(NotFoundError):
            backend.get_task(job_id, "missing")

    # Tasks

    def test_add_tasks_is_idempotent(self, backend: RenderBackend, job_id: str,
                                     run_until_done: RunUntilDone) -> None:
        backend.create_job(job_id)
        tasks = [TaskSpec(id="a", argv=TRUE), TaskSpec(id="b", argv=TRUE)]
        backend.add_tasks(job_id, tasks)
        backend.add_tasks(job_id, tasks)
        backend.add_tasks(job_id, [tasks[1], TaskSpec(id="c", argv=TRUE)])
        states = run_until_done(job_id, self.timeout)
        assert sorted(states) == ["a", "b", "c"]
        counts = backend.task_counts(job_id)
        assert (counts.succeeded, counts.failed, counts.active, counts.running) == (3, 0, 0, 0)

    def test_successful_task_reports_exit_code_zero(self, backend: RenderBackend, job_id: str,
                                                    run_until_done: RunUntilDone) -> None:
        backend.create_job(job_id)
        backend.add_tasks(job_id, [TaskSpec(id="ok", argv=TRUE)])
        run_until_done(job_id, self.timeout)
        state = backend.get_task(job_id, "ok")
        assert state.status is TaskStatus.COMPLETED
        assert state.result is TaskResult.SUCCESS
        assert state.exit_code == 0
        assert state.start_time is not None and state.end_time is not None
        assert state.start_time <= state.end_time

    def test_failed_task_reports_exit_code(self, backend: RenderBackend, job_id: str,
                                           run_until_done: RunUntilDone) -> None:
        backend.create_job(job_id)
        backend.add_tasks(job_id, [TaskSpec(id="bad", argv=FALSE), TaskSpec(id="good", argv=TRUE)])
        states = run_until_done(job_id, self.timeout)
        assert states["bad"].result is TaskResult.FAILURE
        assert states["bad"].exit_code == 1
        assert states["good"].result is TaskResult.SUCCESS
        counts = backend.task_counts(job_id)
        assert (counts.succeeded, counts.failed) == (1, 1)
        assert counts.completed == 2

    def test_failed_task_is_retried_up_to_max_retries(self, backend: RenderBackend, job_id: str,
                                                      run_until_done: RunUntilDone) -> None:
        backend.create_job(job_id)
        backend.add_tasks(job_id, [TaskSpec(id="flaky", argv=FALSE, max_retries=2)])
        state = run_until_done(job_id, self.timeout)["flaky"]
        assert state.result is TaskResult.FAILURE
        assert state.retry_count == 2

    def test_running_task_is_listed_as_active_or_running(self, backend: RenderBackend, job_id: str) -> None:
        backend.create_job(job_id)
        backend.add_tasks(job_id, [TaskSpec(id="long", argv=sleep(30))])
        try:
            state = backend.get_task(job_id, "long")
            assert state.status in (TaskStatus.ACTIVE, TaskStatus.RUNNING)
            assert state.result is None
            counts = backend.task_counts(job_id)
            assert counts.active + counts.running == 1
        finally:
            backend.terminate_job(job_id)

    # Dependencies

    def test_dependent_task_waits_for_its_dependency(self, backend: RenderBackend, job_id: str,
                                                     run_until_done: RunUntilDone) -> None:
        backend.create_job(job_id)
        backend.add_tasks(job_id, [
            TaskSpec(id="after", argv=TRUE, depends_on=("first",)),
            TaskSpec(id="first", argv=sleep(1)),
        ])
        states = run_until_done(job_id, self.timeout)
        assert states["after"].result is TaskResult.SUCCESS
        assert states["first"].end_time is not None and states["after"].start_time is not None
        assert states["after"].start_time >= states["first"].end_time

    def test_dependency_range_waits_for_every_task_in_range(self, backend: RenderBackend, job_id: str,
                                                            run_until_done: RunUntilDone) -> None:
        backend.create_job(job_id)
        backend.add_tasks(job_id, [
            TaskSpec(id="1", argv=TRUE),
            TaskSpec(id="2", argv=sleep(1)),
            TaskSpec(id="stitch", argv=TRUE, depends_on_ranges=((1, 2),)),
        ])
        states = run_until_done(job_id, self.timeout)
        assert states["stitch"].result is TaskResult.SUCCESS
        assert states["stitch"].start_time is not None and states["2"].end_time is not None
        assert states["stitch"].start_time >= states["2"].end_time

    def test_failed_dependency_blocks_dependent_task(self, backend: RenderBackend, job_id: str,
                                                     run_until_done: RunUntilDone) -> None:
        backend.create_job(job_id)
        backend.add_tasks(job_id, [
            TaskSpec(id="broken", argv=FALSE),
            TaskSpec(id="waits", argv=TRUE, depends_on=("broken",)),
            TaskSpec(id="range", argv=TRUE, depends_on_ranges=((7, 8),)),
            TaskSpec(id="7", argv=TRUE),
            TaskSpec(id="8", argv=FALSE),
        ])
        run_until_done(job_id, self.timeout, ["broken", "7", "8"])
        waits = backend.get_task(job_id, "waits")
        assert waits.status is TaskStatus.ACTIVE
        assert waits.failure == "blocked by failed dependency broken"
        blocked = backend.get_task(job_id, "range")
        assert blocked.status is TaskStatus.ACTIVE
        assert blocked.failure == "blocked by failed dependency 8"
        # A blocked job can still be terminated; its blocked tasks complete as failed.
        backend.terminate_job(job_id)
        states = run_until_done(job_id, self.timeout)
        assert states["waits"].result is TaskResult.FAILURE
        assert states["range"].result is TaskResult.FAILURE

    # Termination

    def test_terminate_fails_remaining_tasks(self, backend: RenderBackend, job_id: str,
                                             run_until_done: RunUntilDone) -> None:
        backend.create_job(job_id)
        backend.add_tasks(job_id, [
            TaskSpec(id="done", argv=TRUE),
            TaskSpec(id="long", argv=sleep(60)),
            TaskSpec(id="queued", argv=TRUE, depends_on=("long",)),
        ])
        run_until_done(job_id, self.timeout, ["done"])
        backend.terminate_job(job_id)
        backend.terminate_job(job_id)  # repeating it is not an error
        states = run_until_done(job_id, self.timeout)
        assert states["done"].result is TaskResult.SUCCESS
        assert states["long"].result is TaskResult.FAILURE
        assert states["queued"].result is TaskResult.FAILURE
        counts = backend.task_counts(job_id)
        assert (counts.succeeded, counts.failed, counts.active, counts.running) == (1, 2, 0, 0)

    def test_adding_tasks_to_terminated_job_conflicts(self, backend: RenderBackend, job_id: str) -> None:
        backend.create_job(job_id)
        backend.terminate_job(job_id)
        with pytest.raises(ConflictError):
            backend.add_tasks(job_id, [TaskSpec(id="late", argv=TRUE)])

    # Job control

    def test_disable_requeue_puts_the_running_task_back_until_enabled(self, backend: Any, job_id: str) -> None:
        needs(backend, "disable_job", "enable_job")
        backend.create_job(job_id)
        backend.add_tasks(job_id, [TaskSpec(id="long", argv=sleep(30))])
        try:
            wait_status(backend, job_id, "long", TaskStatus.RUNNING, self.timeout)
            backend.disable_job(job_id, "requeue")
            state = wait_status(backend, job_id, "long", TaskStatus.ACTIVE, self.timeout)
            assert (state.result, state.retry_count) == (None, 0)  # a requeue is not a retry
            backend.disable_job(job_id, "requeue")  # disabling a disabled job is accepted
            time.sleep(0.5)
            assert backend.get_task(job_id, "long").status is TaskStatus.ACTIVE
            backend.enable_job(job_id)
            assert wait_status(backend, job_id, "long", TaskStatus.RUNNING, self.timeout).retry_count == 0
        finally:
            backend.terminate_job(job_id)

    def test_disable_wait_lets_the_running_task_finish_and_starts_nothing_until_enabled(
            self, backend: Any, job_id: str, run_until_done: RunUntilDone) -> None:
        needs(backend, "disable_job", "enable_job")
        backend.create_job(job_id)
        backend.add_tasks(job_id, [TaskSpec(id="short", argv=sleep(2))])
        wait_status(backend, job_id, "short", TaskStatus.RUNNING, self.timeout)
        backend.disable_job(job_id, "wait")
        backend.add_tasks(job_id, [TaskSpec(id="later", argv=TRUE)])  # a disabled job still takes tasks
        short = run_until_done(job_id, self.timeout, ["short"])["short"]
        assert (short.result, short.retry_count) == (TaskResult.SUCCESS, 0)
        time.sleep(0.5)
        assert backend.get_task(job_id, "later").status is TaskStatus.ACTIVE
        backend.enable_job(job_id)
        backend.enable_job(job_id)  # enabling an active job is no error
        assert run_until_done(job_id, self.timeout)["later"].result is TaskResult.SUCCESS

    def test_control_of_unknown_and_terminated_jobs(self, backend: Any, job_id: str) -> None:
        needs(backend, "disable_job", "enable_job", "set_job_priority")
        for control in (lambda: backend.disable_job(job_id, "requeue"), lambda: backend.enable_job(job_id),
                        lambda: backend.set_job_priority(job_id, 1)):
            with pytest.raises(NotFoundError):
                control()
        backend.create_job(job_id)
        backend.terminate_job(job_id)
        for control in (lambda: backend.disable_job(job_id, "wait"), lambda: backend.enable_job(job_id)):
            with pytest.raises(ConflictError):
                control()

    @pytest.mark.parametrize("mode", ["terminate", "REQUEUE", ""])
    def test_disable_modes_other_than_requeue_and_wait_are_refused(self, backend: Any, job_id: str,
                                                                   mode: str) -> None:
        needs(backend, "disable_job")
        backend.create_job(job_id)
        with pytest.raises(ValidationError):
            backend.disable_job(job_id, mode)

    def test_priority_is_set_within_batch_range(self, backend: Any, job_id: str) -> None:
        needs(backend, "set_job_priority")
        backend.create_job(job_id)
        backend.set_job_priority(job_id, 1000)
        backend.set_job_priority(job_id, -1000)
        for priority in (1001, -1001, True):
            with pytest.raises(ValidationError):
                backend.set_job_priority(job_id, priority)

    # Watching

    def _running_with_dependent(self, backend: RenderBackend, job_id: str) -> None:
        """A job whose task "long" runs (sleep 30) and whose "waits" cannot start before it ends."""
        backend.create_job(job_id)
        backend.add_tasks(job_id, [TaskSpec(id="long", argv=sleep(30)),
                                   TaskSpec(id="waits", argv=TRUE, depends_on=("long",))])
        wait_status(backend, job_id, "long", TaskStatus.RUNNING, self.timeout)

    def test_task_node_is_none_until_the_task_runs(self, backend: Any, job_id: str) -> None:
        needs(backend, "task_node")
        self._running_with_dependent(backend, job_id)
        try:
            node = backend.task_node(job_id, "long")
            assert isinstance(node, str) and node
            assert backend.task_node(job_id, "waits") is None
            with pytest.raises(NotFoundError):
                backend.task_node(job_id, "missing")
        finally:
            backend.terminate_job(job_id)

    def test_a_running_tasks_files_can_be_read_and_missing_ones_are_not_found(self, backend: Any,
                                                                              job_id: str) -> None:
        needs(backend, "read_task_file")
        self._running_with_dependent(backend, job_id)
        try:
            deadline = time.monotonic() + self.timeout
            while True:  # the log exists once the process has started, a moment after `running`
                try:
                    assert backend.read_task_file(job_id, "long", "stderr.txt", 4096) == b""
                    break
                except NotFoundError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            for task_id, path in (("long", "no-such-file.txt"), ("waits", "stdout.txt"),
                                  ("missing", "stdout.txt")):
                with pytest.raises(NotFoundError):
                    backend.read_task_file(job_id, task_id, path, 10)
            for path in ("../other-task/stdout.txt", "/etc/passwd", "wd/../../x", ""):
                with pytest.raises(ValidationError):
                    backend.read_task_file(job_id, "long", path, 10)
            for tail in (0, -1):
                with pytest.raises(ValidationError):
                    backend.read_task_file(job_id, "long", "stderr.txt", tail)
        finally:
            backend.terminate_job(job_id)

    def test_node_scheduling_disable_lets_the_running_task_run(self, backend: Any, job_id: str) -> None:
        needs(backend, "task_node", "disable_node_scheduling", "enable_node_scheduling")
        backend.create_job(job_id)
        backend.add_tasks(job_id, [TaskSpec(id="long", argv=sleep(30))])
        node = None
        try:
            wait_status(backend, job_id, "long", TaskStatus.RUNNING, self.timeout)
            node = backend.task_node(job_id, "long")
            backend.disable_node_scheduling(node, "contract: maintenance")
            backend.disable_node_scheduling(node, "contract: again")  # already disabled: done
            time.sleep(0.5)
            assert backend.get_task(job_id, "long").status is TaskStatus.RUNNING  # not requeued
        finally:
            if node is not None:
                backend.enable_node_scheduling(node)
                backend.enable_node_scheduling(node)  # already enabled: done
            backend.terminate_job(job_id)

    def test_node_scheduling_of_unknown_or_malformed_nodes(self, backend: Any) -> None:
        needs(backend, "disable_node_scheduling", "enable_node_scheduling")
        with pytest.raises(NotFoundError):
            backend.enable_node_scheduling(UNKNOWN_NODE)
        with pytest.raises(NotFoundError):
            backend.disable_node_scheduling(UNKNOWN_NODE, "maintenance")
        for bad in ("../pools/x", "node id", ""):
            with pytest.raises(ValidationError):
                backend.disable_node_scheduling(bad, "reason")
        with pytest.raises(ValidationError):
            backend.disable_node_scheduling(UNKNOWN_NODE, "line\nbreak")
