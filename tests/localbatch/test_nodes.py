"""localbatch is one Batch node: tasks report it as their nodeInfo, and its scheduling
can be disabled (running tasks finish, nothing new starts) and enabled again."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from localbatch.launcher import LaunchError, LocalBatchProcess
from localbatch.server import node_id_from_host
from shared.errors import NotFoundError, ValidationError
from shared.tasks import TaskResult, TaskSpec, TaskStatus
from tests.contract.render_backend_contract import poll_until_done
from tests.localbatch.conftest import Launch
from tests.localbatch.helpers import beating, py, wait_running

NODE = "tvmps_local_node-1"


def call(process: LocalBatchProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(process.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"x-localbatch-key": process.key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def health(process: LocalBatchProcess) -> dict[str, Any]:
    status, body = call(process, "GET", "/health")
    assert status == 200
    return body  # type: ignore[no-any-return]


def test_each_task_reports_the_node_it_ran_on(launch: Launch) -> None:
    process = launch(extra_args=("--node-id", NODE))
    backend = process.backend()
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="first", argv=("sleep", "30")),
                              TaskSpec(id="after", argv=("true",), depends_on=("first",))])
    wait_running(backend, "job", "first")
    assert backend.task_node("job", "first") == NODE
    assert backend.task_node("job", "after") is None  # not run yet
    status, task = call(process, "GET", "/jobs/job/tasks/first")
    assert (status, task["nodeInfo"]) == (200, {"nodeId": NODE})
    _, listed = call(process, "GET", "/jobs/job/tasks")
    assert [t.get("nodeInfo") for t in listed["tasks"]] == [{"nodeId": NODE}, None]
    assert health(process)["node"] == {"id": NODE, "schedulingState": "enabled"}
    with pytest.raises(NotFoundError):
        backend.task_node("job", "missing")
    backend.terminate_job("job")


def test_without_a_node_id_the_node_is_named_after_the_host(launch: Launch) -> None:
    backend = launch().backend()
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="t", argv=("true",))])
    poll_until_done(backend, "job", 20)
    assert backend.task_node("job", "t") == node_id_from_host(socket.gethostname())
    assert node_id_from_host("render-01.studio.local") == "render-01-studio-local"


def test_a_node_id_that_is_not_batchs_shape_is_refused_at_start(launch: Launch) -> None:
    with pytest.raises(LaunchError, match="--node-id"):
        launch(extra_args=("--node-id", "../etc"))


def test_disabled_scheduling_lets_running_tasks_finish_and_starts_nothing_until_enabled(
        launch: Launch, exchange: Path) -> None:
    process = launch(slots=2, extra_args=("--node-id", NODE))
    backend = process.backend()
    flag, later = exchange / "go", exchange / "later"
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="running", argv=py(
        f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.02)"))])
    wait_running(backend, "job", "running")

    backend.disable_node_scheduling(NODE, "GPU driver errors in chunk-0007")
    backend.disable_node_scheduling(NODE, "again")  # already disabled: done, the first reason kept
    node = health(process)["node"]
    assert (node["schedulingState"], node["schedulingDisabledReason"]) == ("disabled",
                                                                           "GPU driver errors in chunk-0007")
    backend.add_tasks("job", [TaskSpec(id="later", argv=py(f"open({str(later)!r}, 'w').write('ran')"))])
    assert backend.get_task("job", "running").status is TaskStatus.RUNNING  # not requeued
    flag.touch()
    assert poll_until_done(backend, "job", 20, ["running"])["running"].result is TaskResult.SUCCESS
    assert not beating(later, 1.0) and not later.exists()
    assert backend.get_task("job", "later").status is TaskStatus.ACTIVE

    assert process.stop() == 0  # the state is in the queue: a restart keeps it
    process = launch(slots=2, extra_args=("--node-id", NODE))
    backend = process.backend()
    assert health(process)["node"]["schedulingState"] == "disabled"
    assert not beating(later, 1.0) and not later.exists()

    backend.enable_node_scheduling(NODE)
    backend.enable_node_scheduling(NODE)
    assert health(process)["node"] == {"id": NODE, "schedulingState": "enabled"}
    assert poll_until_done(backend, "job", 20)["later"].result is TaskResult.SUCCESS
    assert later.read_text() == "ran"


def test_unknown_nodes_and_bad_reasons_are_refused(launch: Launch) -> None:
    process = launch(extra_args=("--node-id", NODE))
    backend = process.backend()
    with pytest.raises(NotFoundError):
        backend.disable_node_scheduling("tvmps_nosuchnode_d", "maintenance")
    with pytest.raises(NotFoundError):
        backend.enable_node_scheduling("tvmps_nosuchnode_d")
    for bad in ("../pools/x", "node id", "", "x" * 129):
        with pytest.raises(ValidationError):
            backend.disable_node_scheduling(bad, "reason")
    for reason in ("", "   ", "line\nbreak", "x" * 501):
        with pytest.raises(ValidationError):
            backend.disable_node_scheduling(NODE, reason)
    # The server checks the same without the adapter's help.
    for body in ({"reason": "line\nbreak"}, {"reason": ""}, {}, {"reason": "x", "option": "requeue"}, "x"):
        status, answer = call(process, "POST", f"/nodes/{NODE}/disablescheduling", body)
        assert status == 400, answer
    status, _ = call(process, "POST", "/nodes/other-node/disablescheduling", {"reason": "x"})
    assert status == 404
    assert health(process)["node"]["schedulingState"] == "enabled"
    status, nodes = call(process, "GET", "/nodes")
    assert (status, nodes) == (200, {"nodes": [{"id": NODE, "schedulingState": "enabled"}]})
