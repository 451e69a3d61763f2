"""The persistent queue on its own: ordering, dependencies, and states after interruptions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from localbatch.store import SCHEMA, Store
from shared.errors import ConflictError, NotFoundError
from shared.tasks import TaskResult, TaskSpec, TaskStatus


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "q.sqlite")


def claimed(store: Store, limit: int = 10) -> list[str]:
    return [c.spec.id for c in store.claim_next(limit)]


def test_claims_by_job_priority_then_in_order_added(store: Store) -> None:
    store.create_job("low", -5)
    store.create_job("high", 5)
    store.add_tasks("low", [TaskSpec(id="l1", argv=("true",)), TaskSpec(id="l2", argv=("true",))])
    store.add_tasks("high", [TaskSpec(id="h1", argv=("true",))])
    assert claimed(store, 2) == ["h1", "l1"]
    assert claimed(store) == ["l2"]
    assert claimed(store) == []


def test_range_dependency_waits_for_ids_not_added_yet(store: Store) -> None:
    store.create_job("job", 0)
    store.add_tasks("job", [TaskSpec(id="stitch", argv=("true",), depends_on_ranges=((1, 2),)),
                            TaskSpec(id="1", argv=("true",))])
    assert claimed(store) == ["1"]
    store.finish("job", "1", exit_code=0, failure=None, retry=False)
    assert claimed(store) == []  # task 2 does not exist yet
    store.add_tasks("job", [TaskSpec(id="2", argv=("true",))])
    assert claimed(store) == ["2"]
    store.finish("job", "2", exit_code=0, failure=None, retry=False)
    assert claimed(store) == ["stitch"]


def test_failed_dependency_added_later_still_blocks(store: Store) -> None:
    store.create_job("job", 0)
    store.add_tasks("job", [TaskSpec(id="a", argv=("false",))])
    claimed(store)
    store.finish("job", "a", exit_code=1, failure="exit code 1", retry=False)
    store.add_tasks("job", [TaskSpec(id="b", argv=("true",), depends_on=("a",))])
    state, _ = store.get_task("job", "b")
    assert (state.status, state.failure) == (TaskStatus.ACTIVE, "blocked by failed dependency a")
    assert claimed(store) == []


def test_interrupted_task_is_requeued_without_using_a_retry(store: Store) -> None:
    store.create_job("job", 0)
    store.add_tasks("job", [TaskSpec(id="t", argv=("true",), max_retries=1)])
    claimed(store)
    store.requeue("job", "t")
    state, _ = store.get_task("job", "t")
    assert (state.status, state.retry_count, state.start_time) == (TaskStatus.ACTIVE, 0, None)


def test_interrupted_task_of_a_terminated_job_ends_terminated(store: Store) -> None:
    store.create_job("job", 0)
    store.add_tasks("job", [TaskSpec(id="t", argv=("true",), max_retries=1)])
    claimed(store)
    assert store.terminate_job("job") == ["t"]
    store.requeue("job", "t")
    state, _ = store.get_task("job", "t")
    assert (state.status, state.result, state.failure) == (TaskStatus.COMPLETED, TaskResult.FAILURE,
                                                           "terminated")


def test_failed_attempt_of_a_terminated_job_is_not_retried(store: Store) -> None:
    store.create_job("job", 0)
    store.add_tasks("job", [TaskSpec(id="t", argv=("false",), max_retries=3)])
    claimed(store)
    store.terminate_job("job")
    store.finish("job", "t", exit_code=1, failure="terminated", retry=True)
    state, _ = store.get_task("job", "t")
    assert (state.status, state.retry_count) == (TaskStatus.COMPLETED, 0)


def test_state_survives_reopening(tmp_path: Path) -> None:
    first = Store(tmp_path / "q.sqlite")
    first.create_job("job", 3)
    first.add_tasks("job", [TaskSpec(id="t", argv=("true",))])
    first.close()
    again = Store(tmp_path / "q.sqlite")
    assert again.get_job("job")["priority"] == 3
    assert [s.id for s in again.list_tasks("job")] == ["t"]


def test_unknown_and_terminated_jobs(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.add_tasks("nope", [TaskSpec(id="t", argv=("true",))])
    store.create_job("job", 0)
    store.terminate_job("job")
    with pytest.raises(ConflictError):
        store.add_tasks("job", [TaskSpec(id="t", argv=("true",))])


def test_a_queue_from_before_failure_categories_opens_and_records_them(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript("\n".join(line for line in SCHEMA.splitlines() if "failure_category" not in line))
    old.execute("INSERT INTO jobs VALUES ('job', 0, 'active', '2026-01-01T00:00:00Z')")
    old.commit()
    old.close()
    store = Store(path)
    store.add_tasks("job", [TaskSpec(id="t", argv=("true",))])
    claimed(store)
    store.finish("job", "t", exit_code=None, failure="storage down", retry=False, category="ServerError")
    assert store.failure_categories("job") == {"t": "ServerError"}


def test_job_states_of_disable_and_enable_follow_batch(store: Store) -> None:
    store.create_job("job", 0)
    store.add_tasks("job", [TaskSpec(id="a", argv=("true",)), TaskSpec(id="b", argv=("true",))])
    assert claimed(store, 1) == ["a"]
    store.disable_job("job")
    store.settle_jobs()
    assert store.get_job("job")["state"] == "disabling"  # "a" still runs
    assert claimed(store) == []
    with pytest.raises(ConflictError):
        store.enable_job("job")
    store.finish("job", "a", exit_code=0, failure=None, retry=False)
    store.settle_jobs()
    assert store.get_job("job")["state"] == "disabled"
    store.add_tasks("job", [TaskSpec(id="c", argv=("true",))])  # a disabled job takes tasks
    store.enable_job("job")
    assert store.get_job("job")["state"] == "enabling"
    store.settle_jobs()
    assert store.get_job("job")["state"] == "active"
    assert claimed(store) == ["b", "c"]


def test_a_disabled_jobs_failed_attempt_is_retried_once_enabled(store: Store) -> None:
    store.create_job("job", 0)
    store.add_tasks("job", [TaskSpec(id="t", argv=("false",), max_retries=1)])
    claimed(store)
    store.disable_job("job")
    store.finish("job", "t", exit_code=1, failure="exit code 1", retry=True)
    store.requeue("job", "t")  # no-op: it is not running any more
    state, _ = store.get_task("job", "t")
    assert (state.status, state.retry_count) == (TaskStatus.ACTIVE, 1)
    store.settle_jobs()
    assert claimed(store) == []
    store.enable_job("job")
    store.settle_jobs()
    assert claimed(store) == ["t"]


def test_priority_change_reorders_tasks_not_started(store: Store) -> None:
    store.create_job("first", 0)
    store.create_job("second", 0)
    store.add_tasks("first", [TaskSpec(id="f1", argv=("true",))])
    store.add_tasks("second", [TaskSpec(id="s1", argv=("true",)), TaskSpec(id="s2", argv=("true",))])
    store.set_priority("second", 1)
    assert claimed(store, 2) == ["s1", "s2"]
    store.set_priority("first", -1)
    assert store.get_job("first")["priority"] == -1
    assert claimed(store) == ["f1"]


def test_claims_record_the_node_and_node_scheduling_keeps_its_first_reason(store: Store) -> None:
    store.create_job("job", 0)
    store.add_tasks("job", [TaskSpec(id="t", argv=("true",))])
    assert store.task_nodes("job") == {}
    store.claim_next(1, "node-1")
    store.requeue("job", "t")
    assert store.task_nodes("job") == {"t": "node-1"}  # where it last ran
    assert store.node("node-1") == {"id": "node-1", "schedulingState": "enabled"}
    store.set_node_scheduling("node-1", enabled=False, reason="disk failing")
    store.set_node_scheduling("node-1", enabled=False, reason="again")
    node = store.node("node-1")
    assert (node["schedulingState"], node["schedulingDisabledReason"]) == ("disabled", "disk failing")
    store.set_node_scheduling("node-1", enabled=True)
    assert store.node("node-1")["schedulingState"] == "enabled"
