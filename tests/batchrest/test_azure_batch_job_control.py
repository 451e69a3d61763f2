"""Job control and watching on AzureBatchBackend, against the Batch REST test server:
the exact Batch calls (path, api-version, body, headers), Shared Key signed (the
server refuses a bad signature), and how Batch's answers map to shared.errors."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable

import pytest
from azure.core.credentials import AzureNamedKeyCredential

from shared.adapters.azure_batch_backend import AzureBatchBackend
from shared.errors import ConflictError, NotFoundError, PermanentError, TransientError, ValidationError
from shared.tasks import TaskSpec, TaskStatus
from tests.batchrest.backend import POOL_ID, make_backend
from tests.batchrest.server import API_VERSION, BatchRestServer, RequestRecord
from tests.batchrest.test_azure_batch_backend import wait_for

LONG = ("sleep", "60")


def job_id() -> str:
    return f"job-{uuid.uuid4().hex[:16]}"


def calls(server: BatchRestServer, suffix: str) -> list[RequestRecord]:
    return [r for r in server.records() if r.path.endswith(suffix)]


def header(record: RequestRecord, name: str) -> str | None:
    return next((v for k, v in record.headers if k.lower() == name.lower()), None)


def signed_and_versioned(record: RequestRecord) -> bool:
    auth = header(record, "Authorization") or ""
    return record.query.get("api-version") == API_VERSION and auth.startswith("SharedKey testaccount:")


def started_job(backend: AzureBatchBackend, *tasks: TaskSpec) -> str:
    jid = job_id()
    backend.create_job(jid)
    backend.add_tasks(jid, list(tasks))
    return jid


def running(backend: AzureBatchBackend, jid: str, task_id: str) -> Callable[[], bool]:
    return lambda: backend.get_task(jid, task_id).status is TaskStatus.RUNNING


# Disable and enable


def test_disable_with_requeue_posts_disable_tasks_and_puts_running_tasks_back(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = started_job(backend, TaskSpec(id="long", argv=LONG))
    wait_for(running(backend, jid, "long"))
    backend.disable_job(jid, "requeue")

    (sent,) = calls(batch_server, f"/jobs/{jid}/disable")
    assert (sent.method, sent.status, json.loads(sent.body)) == ("POST", 202, {"disableTasks": "requeue"})
    assert signed_and_versioned(sent)
    assert backend.get_task(jid, "long").status is TaskStatus.ACTIVE  # requeued, not failed
    assert batch_server.job(jid).tasks["long"].requeue_count == 1
    assert backend.get_task(jid, "long").retry_count == 0  # a requeue is not a retry
    assert batch_server.job(jid).state == "disabled"


def test_disable_with_wait_lets_running_tasks_finish_and_starts_nothing_until_enabled(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = started_job(backend, TaskSpec(id="short", argv=("sleep", "0.5")))
    wait_for(running(backend, jid, "short"))
    backend.disable_job(jid, "wait")
    assert json.loads(calls(batch_server, "/disable")[0].body) == {"disableTasks": "wait"}
    backend.add_tasks(jid, [TaskSpec(id="later", argv=("true",))])  # a disabled job still takes tasks
    wait_for(lambda: backend.get_task(jid, "short").status is TaskStatus.COMPLETED)
    assert batch_server.job(jid).tasks["short"].requeue_count == 0
    assert backend.get_task(jid, "later").status is TaskStatus.ACTIVE
    assert batch_server.job(jid).state == "disabled"
    backend.disable_job(jid, "wait")  # again: Batch accepts it, nothing changes

    backend.enable_job(jid)
    (enabled,) = calls(batch_server, f"/jobs/{jid}/enable")
    assert (enabled.method, enabled.status, enabled.body) == ("POST", 202, b"")
    assert signed_and_versioned(enabled)
    wait_for(lambda: backend.get_task(jid, "later").status is TaskStatus.COMPLETED)


def test_enabling_an_active_job_is_success_though_batch_refuses_it(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = started_job(backend, TaskSpec(id="a", argv=("true",)))
    backend.enable_job(jid)
    assert [r.status for r in calls(batch_server, f"/jobs/{jid}/enable")] == [409]


@pytest.mark.parametrize("mode", ["terminate", "REQUEUE", "", "requeue; rm -rf /"])
def test_disable_modes_other_than_requeue_and_wait_are_refused_before_sending(
        backend: AzureBatchBackend, batch_server: BatchRestServer, mode: str) -> None:
    with pytest.raises(ValidationError):
        backend.disable_job("job-1", mode)
    assert batch_server.records() == []


def test_control_of_a_missing_or_finished_job_maps_to_not_found_and_conflict(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    with pytest.raises(NotFoundError) as missing:
        backend.disable_job("no-such-job", "requeue")
    assert missing.value.details == {"status": 404, "code": "JobNotFound", "operation": "disable job"}
    jid = started_job(backend, TaskSpec(id="a", argv=("true",)))
    backend.terminate_job(jid)
    for control in (lambda: backend.disable_job(jid, "wait"), lambda: backend.enable_job(jid),
                    lambda: backend.set_job_priority(jid, 5)):
        with pytest.raises(ConflictError):
            control()


# Priority


def test_set_job_priority_patches_only_the_priority(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = started_job(backend, TaskSpec(id="a", argv=LONG))
    backend.set_job_priority(jid, -1000)
    backend.set_job_priority(jid, 1000)
    patches = [r for r in batch_server.records() if r.method == "PATCH" and r.path == f"/jobs/{jid}"]
    assert [json.loads(r.body) for r in patches] == [{"priority": -1000}, {"priority": 1000}]
    assert all(r.status == 200 and signed_and_versioned(r) for r in patches)
    assert batch_server.job(jid).body["priority"] == 1000


@pytest.mark.parametrize("priority", [1001, -1001, True, 2.5])
def test_priority_outside_batch_range_is_refused_before_sending(
        backend: AzureBatchBackend, batch_server: BatchRestServer, priority: int) -> None:
    with pytest.raises(ValidationError):
        backend.set_job_priority("job-1", priority)
    assert batch_server.records() == []


# Where a task runs


def test_task_node_is_none_until_the_task_runs_then_the_node_from_node_info(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    nodes = batch_server.nodes(POOL_ID)
    for node in nodes:
        backend.disable_node_scheduling(node.id, "maintenance")
    jid = started_job(backend, TaskSpec(id="t", argv=LONG))
    assert backend.task_node(jid, "t") is None  # no node takes tasks
    backend.enable_node_scheduling(nodes[1].id)
    wait_for(running(backend, jid, "t"))
    assert backend.task_node(jid, "t") == nodes[1].id
    looks = [r for r in batch_server.records() if "nodeInfo" in r.query.get("$select", "")]
    expected = ("GET", f"/jobs/{jid}/tasks/t", "id,nodeInfo")
    assert [(r.method, r.path, r.query["$select"]) for r in looks] == [expected] * 2
    assert all(signed_and_versioned(r) for r in looks)
    with pytest.raises(NotFoundError):
        backend.task_node(jid, "no-such-task")


# Task files


def test_read_task_file_asks_the_size_then_gets_only_the_last_bytes(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = started_job(backend, TaskSpec(id="render", argv=LONG))
    wait_for(running(backend, jid, "render"))
    log_text = b"".join(b"frame %05d done\n" % i for i in range(1000))
    batch_server.write_task_file(jid, "render", "stdout.txt", log_text)
    batch_server.clear_records()

    assert backend.read_task_file(jid, "render", "stdout.txt", 100) == log_text[-100:]
    head, get = batch_server.records()
    path = f"/jobs/{jid}/tasks/render/files/stdout.txt"
    assert (head.method, head.path, head.status) == ("HEAD", path, 200)
    assert (get.method, get.path, get.status) == ("GET", path, 200)
    assert header(get, "ocp-range") == f"bytes={len(log_text) - 100}-{len(log_text) - 1}"
    assert signed_and_versioned(head) and signed_and_versioned(get)

    assert backend.read_task_file(jid, "render", "stdout.txt", 10 * len(log_text)) == log_text


def test_read_task_file_reads_nested_paths_and_empty_files(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = started_job(backend, TaskSpec(id="render", argv=LONG))
    wait_for(running(backend, jid, "render"))
    batch_server.write_task_file(jid, "render", "wd/frames/shot 010_0001.png", b"\x89PNG-data")
    assert backend.read_task_file(jid, "render", "wd/frames/shot 010_0001.png", 4) == b"data"
    batch_server.clear_records()
    assert backend.read_task_file(jid, "render", "stderr.txt", 4096) == b""
    assert [r.method for r in batch_server.records()] == ["HEAD"]  # nothing to range over
    with pytest.raises(ValidationError):
        backend.read_task_file(jid, "render", "wd/frames", 10)  # a directory


def test_missing_task_file_task_or_files_not_yet_on_a_node_are_not_found(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = started_job(backend, TaskSpec(id="render", argv=LONG),
                      TaskSpec(id="waits", argv=("true",), depends_on=("render",)))
    wait_for(running(backend, jid, "render"))
    for task_id, path in (("render", "nope.txt"), ("gone", "stdout.txt"), ("waits", "stdout.txt")):
        with pytest.raises(NotFoundError):
            backend.read_task_file(jid, task_id, path, 10)
    with pytest.raises(NotFoundError):
        backend.read_task_file("no-such-job", "render", "stdout.txt", 10)
    assert [r.status for r in batch_server.records() if r.method == "HEAD"] == [404, 404, 409, 404]


@pytest.mark.parametrize("path", ["../other-task/stdout.txt", "/etc/passwd", "wd/../../x", "..", "",
                                  "wd\\..\\x", "a\0b"])
def test_task_file_paths_that_leave_the_task_directory_are_refused_before_sending(
        backend: AzureBatchBackend, batch_server: BatchRestServer, path: str) -> None:
    with pytest.raises(ValidationError):
        backend.read_task_file("job-1", "t", path, 10)
    assert batch_server.records() == []


@pytest.mark.parametrize("tail", [0, -1, 17 * 1024 * 1024])
def test_tail_sizes_out_of_range_are_refused(backend: AzureBatchBackend, batch_server: BatchRestServer,
                                             tail: int) -> None:
    with pytest.raises(ValidationError):
        backend.read_task_file("job-1", "t", "stdout.txt", tail)
    assert batch_server.records() == []


# Node scheduling


def test_disable_node_scheduling_lets_running_tasks_finish_and_sends_no_new_ones(
        backend: AzureBatchBackend, batch_server: BatchRestServer, caplog: pytest.LogCaptureFixture) -> None:
    jid = started_job(backend, TaskSpec(id="long", argv=LONG))
    wait_for(running(backend, jid, "long"))
    node = backend.task_node(jid, "long")
    assert node is not None
    with caplog.at_level(logging.WARNING):
        backend.disable_node_scheduling(node, "GPU driver errors in chunk-0007")
    assert "GPU driver errors in chunk-0007" in caplog.text and node in caplog.text

    (sent,) = calls(batch_server, f"/pools/{POOL_ID}/nodes/{node}/disablescheduling")
    assert (sent.method, sent.status) == ("POST", 200)
    assert json.loads(sent.body) == {"nodeDisableSchedulingOption": "taskcompletion"}
    assert signed_and_versioned(sent)
    assert backend.get_task(jid, "long").status is TaskStatus.RUNNING  # not requeued
    assert {n.id: n.scheduling for n in batch_server.nodes(POOL_ID)}[node] == "disabled"
    backend.disable_node_scheduling(node, "again")  # already disabled: done
    assert [r.status for r in calls(batch_server, "/disablescheduling")] == [200, 409]

    backend.enable_node_scheduling(node)
    backend.enable_node_scheduling(node)
    enables = calls(batch_server, f"/pools/{POOL_ID}/nodes/{node}/enablescheduling")
    assert [(r.status, r.body) for r in enables] == [(200, b""), (409, b"")]
    assert {n.id: n.scheduling for n in batch_server.nodes(POOL_ID)}[node] == "enabled"


def test_node_scheduling_of_unknown_or_malformed_nodes(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    batch_server.nodes(POOL_ID)
    with pytest.raises(NotFoundError) as raised:
        backend.enable_node_scheduling("tvmps_nosuchnode_d")
    assert raised.value.details["code"] == "NodeNotFound"  # type: ignore[index]
    for bad in ("../pools/x", "node id", "", "x" * 129):
        with pytest.raises(ValidationError):
            backend.disable_node_scheduling(bad, "reason")
    for reason in ("", "   ", "line\nbreak", "x" * 501):
        with pytest.raises(ValidationError):
            backend.disable_node_scheduling("tvmps_nosuchnode_d", reason)
    assert len(batch_server.records()) == 1


# Errors at the edge


@pytest.mark.parametrize(("status", "code", "error"), [
    (503, "ServerBusy", TransientError), (500, "InternalError", TransientError),
    (403, "InsufficientPermissions", PermanentError),
])
def test_service_errors_on_the_new_calls_map_like_every_other_call(
        batch_server: BatchRestServer, status: int, code: str, error: type[Exception]) -> None:
    backend = make_backend(batch_server, retry_total=0)
    jid = started_job(backend, TaskSpec(id="long", argv=LONG))
    wait_for(running(backend, jid, "long"))
    node = backend.task_node(jid, "long")
    assert node is not None
    batch_server.write_task_file(jid, "long", "stdout.txt", b"hello")
    controls: list[tuple[str, Callable[[], object]]] = [
        ("/disable", lambda: backend.disable_job(jid, "requeue")),
        ("/enable", lambda: backend.enable_job(jid)),
        (f"/jobs/{jid}", lambda: backend.set_job_priority(jid, 1)),
        ("/files/", lambda: backend.read_task_file(jid, "long", "stdout.txt", 10)),
        ("/tasks/long", lambda: backend.task_node(jid, "long")),
        ("/disablescheduling", lambda: backend.disable_node_scheduling(node, "test")),
        ("/enablescheduling", lambda: backend.enable_node_scheduling(node)),
    ]
    for path, control in controls:
        batch_server.fail_next(1, status=status, code=code, path_contains=path)
        with pytest.raises(error) as raised:
            control()
        if error is PermanentError:
            assert not isinstance(raised.value, TransientError | NotFoundError | ConflictError)
    backend.close()


def test_a_range_read_that_fails_midway_is_transient(batch_server: BatchRestServer) -> None:
    backend = make_backend(batch_server, retry_total=0)
    jid = started_job(backend, TaskSpec(id="long", argv=LONG))
    wait_for(running(backend, jid, "long"))
    batch_server.write_task_file(jid, "long", "stdout.txt", b"x" * 1000)
    backend.read_task_file(jid, "long", "stdout.txt", 10)
    batch_server.fail_next(1, status=503, path_contains="/files/")
    batch_server.clear_records()
    with pytest.raises(TransientError):
        backend.read_task_file(jid, "long", "stdout.txt", 10)
    backend.close()


def test_calls_signed_with_another_key_are_refused(batch_server: BatchRestServer) -> None:
    owner = make_backend(batch_server)
    jid = started_job(owner, TaskSpec(id="long", argv=LONG))
    intruder = AzureBatchBackend(batch_server.url, POOL_ID,
                                 AzureNamedKeyCredential(batch_server.account, base64.b64encode(b"guess").decode()),
                                 storage_blob_url="https://x.blob.core.windows.net", retry_total=0)
    node = batch_server.nodes(POOL_ID)[0].id
    for attack in (lambda: intruder.disable_job(jid, "requeue"), lambda: intruder.set_job_priority(jid, 1000),
                   lambda: intruder.read_task_file(jid, "long", "stdout.txt", 10),
                   lambda: intruder.disable_node_scheduling(node, "taking over")):
        with pytest.raises(PermanentError) as raised:
            attack()
        assert raised.value.code == "unauthorized"
    assert batch_server.job(jid).state == "active" and batch_server.job(jid).body.get("priority", 0) == 0
    assert all(n.scheduling == "enabled" for n in batch_server.nodes(POOL_ID))
    intruder.close()
    owner.close()
