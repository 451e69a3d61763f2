"""The API validates what it is sent: clear 400s, 404 for unknown jobs, nothing half-stored."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from localbatch.launcher import LocalBatchProcess
from shared.adapters.local_batch_backend import LocalBatchBackend
from shared.errors import NotFoundError, PermanentError, TransientError, ValidationError
from shared.tasks import TaskSpec
from stack.services import free_port


def post(process: LocalBatchProcess, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(process.url + path, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "x-localbatch-key": process.key})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


BAD_TASKS = [
    ({"id": "a"}, "argv"),
    ({"id": "a", "argv": []}, "argv"),
    ({"id": "a", "argv": "true"}, "argv"),
    ({"id": "../a", "argv": ["true"]}, "id"),
    ({"id": "a", "argv": ["true"], "colour": "red"}, "colour"),
    ({"id": "a", "argv": ["true"], "maxRetries": -1}, "maxRetries"),
    ({"id": "a", "argv": ["true"], "maxWallClockSeconds": 0}, "maxWallClockSeconds"),
    ({"id": "a", "argv": ["true"], "dependsOn": ["a"]}, "dependsOn"),
    ({"id": "a", "argv": ["true"], "dependsOnRanges": [[5, 1]]}, "dependsOnRanges"),
    ({"id": "a", "argv": ["true"], "environment": {"A=B": "x"}}, "environment"),
    ({"id": "a", "argv": ["true"],
      "resourceFiles": [{"container": "scenes", "path": "../escape.blend", "blob": "x"}]},
     "resourceFiles[0].path"),
    ({"id": "a", "argv": ["true"],
      "resourceFiles": [{"container": "scenes", "path": "/etc/passwd", "blob": "x"}]},
     "resourceFiles[0].path"),
    ({"id": "a", "argv": ["true"],
      "resourceFiles": [{"container": "scenes", "path": "x", "blob": "x", "prefix": "y"}]},
     "resourceFiles[0]"),
    ({"id": "a", "argv": ["true"],
      "resourceFiles": [{"container": "Not_A_Container", "path": "x", "blob": "x"}]},
     "resourceFiles[0].container"),
    ({"id": "a", "argv": ["true"],
      "outputFiles": [{"pattern": "../../*.png", "container": "renders", "prefix": "p/"}]},
     "outputFiles[0].pattern"),
    ({"id": "a", "argv": ["true"],
      "outputFiles": [{"pattern": "*.png", "container": "renders", "prefix": "p/", "condition": "always"}]},
     "outputFiles[0].condition"),
]


@pytest.mark.parametrize(("task", "field"), BAD_TASKS)
def test_malformed_task_is_rejected_with_the_field_named(shared_localbatch: LocalBatchProcess,
                                                         backend: LocalBatchBackend, unique_name: str,
                                                         task: dict[str, Any], field: str) -> None:
    backend.create_job(unique_name)
    status, body = post(shared_localbatch, f"/jobs/{unique_name}/tasks",
                        json.dumps({"tasks": [task]}).encode())
    assert status == 400
    assert body["error"]["field"] == field
    assert backend.list_tasks(unique_name) == []


def test_one_bad_task_rejects_the_whole_call(backend: LocalBatchBackend, shared_localbatch: LocalBatchProcess,
                                             unique_name: str) -> None:
    backend.create_job(unique_name)
    status, _ = post(shared_localbatch, f"/jobs/{unique_name}/tasks",
                     json.dumps({"tasks": [{"id": "ok", "argv": ["true"]}, {"id": "bad"}]}).encode())
    assert status == 400
    assert backend.list_tasks(unique_name) == []


def test_body_that_is_not_json_is_a_400(shared_localbatch: LocalBatchProcess, backend: LocalBatchBackend,
                                        unique_name: str) -> None:
    backend.create_job(unique_name)
    status, body = post(shared_localbatch, f"/jobs/{unique_name}/tasks", b"{not json")
    assert status == 400
    assert "JSON" in body["error"]["message"]
    status, _ = post(shared_localbatch, "/jobs", json.dumps({"id": "x", "priority": "high"}).encode())
    assert status == 400


def test_adapter_maps_errors(backend: LocalBatchBackend, unique_name: str) -> None:
    with pytest.raises(NotFoundError):
        backend.task_counts(unique_name)
    with pytest.raises(ValidationError):
        backend.create_job("not a valid id")
    backend.create_job(unique_name)
    with pytest.raises(ValidationError):
        backend.add_tasks(unique_name, [TaskSpec(id="t", argv=("true",), max_retries=-3)])


def test_adapter_reports_an_unreachable_server_as_transient() -> None:
    with pytest.raises(TransientError):
        LocalBatchBackend(f"http://127.0.0.1:{free_port()}", key="k" * 32, timeout=2).create_job("job")


def test_repeated_job_keeps_its_first_priority(shared_localbatch: LocalBatchProcess, unique_name: str) -> None:
    first = post(shared_localbatch, "/jobs", json.dumps({"id": unique_name, "priority": 5}).encode())
    again = post(shared_localbatch, "/jobs", json.dumps({"id": unique_name, "priority": 9}).encode())
    assert first[0] == 201 and again[0] == 200
    assert again[1]["priority"] == 5


def test_adapter_reports_an_unreachable_server_as_transient_on_control_and_watch_calls() -> None:
    backend = LocalBatchBackend(f"http://127.0.0.1:{free_port()}", key="k" * 32, timeout=2)
    calls = [lambda: backend.disable_job("job", "requeue"), lambda: backend.enable_job("job"),
             lambda: backend.set_job_priority("job", 1), lambda: backend.task_node("job", "t"),
             lambda: backend.read_task_file("job", "t", "stdout.txt", 10),
             lambda: backend.disable_node_scheduling("node", "maintenance"),
             lambda: backend.enable_node_scheduling("node")]
    for call in calls:
        with pytest.raises(TransientError):
            call()


def test_adapter_with_a_wrong_key_is_refused_on_control_calls(shared_localbatch: LocalBatchProcess,
                                                              backend: LocalBatchBackend, unique_name: str) -> None:
    backend.create_job(unique_name)
    intruder = LocalBatchBackend(shared_localbatch.url, key="guess" * 8)
    for attack in (lambda: intruder.disable_job(unique_name, "requeue"),
                   lambda: intruder.set_job_priority(unique_name, 1000),
                   lambda: intruder.read_task_file(unique_name, "t", "stdout.txt", 10),
                   lambda: intruder.disable_node_scheduling("node", "taking over")):
        with pytest.raises(PermanentError) as raised:
            attack()
        assert raised.value.code == "unauthorized"
    assert post(shared_localbatch, "/jobs", json.dumps({"id": unique_name}).encode())[1]["priority"] == 0
    assert post(shared_localbatch, "/jobs", json.dumps({"id": unique_name}).encode())[1]["state"] == "active"
