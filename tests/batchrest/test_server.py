"""The Batch REST test server checks requests and answers as the service does."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from email.utils import formatdate
from typing import Any

import pytest
from azure.batch import models as bm

from tests.batchrest import auth as shared_key
from tests.batchrest import shapes
from tests.batchrest.auth import TEST_KEY
from tests.batchrest.server import API_VERSION, BatchRestServer
from tests.batchrest.simulation import argv_of, seconds_of

JSON = {"Content-Type": "application/json; odata=minimalmetadata"}


def call(server: BatchRestServer, method: str, path: str, body: Any = None, *,
         headers: dict[str, str] | None = None, version: str | None = API_VERSION,
         key: str = TEST_KEY, raw: bool = False) -> tuple[int, dict[str, str], Any]:
    """A request signed with Shared Key, as a Batch client signs it."""
    query = f"api-version={version}" if version else ""
    data = json.dumps(body).encode() if body is not None else None
    sent = {**JSON, "ocp-date": formatdate(usegmt=True), **(headers or {})}
    if data is not None:
        sent["Content-Length"] = str(len(data))
    text = shared_key.string_to_sign(method, path, query, sent, server.account)
    sent.setdefault("Authorization", f"SharedKey {server.account}:{shared_key.signature(text, key)}")
    request = urllib.request.Request(f"{server.url}{path}?{query}", data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            if raw:
                return response.status, dict(response.headers), text
            return response.status, dict(response.headers), json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def job_body(job_id: str = "j1", **extra: Any) -> dict[str, Any]:
    return {"id": job_id, "poolInfo": {"poolId": "pool"}, "usesTaskDependencies": True, **extra}


def test_a_request_signed_with_another_key_is_refused(batch_server: BatchRestServer) -> None:
    other = base64.b64encode(b"another key").decode()
    status, _, answer = call(batch_server, "POST", "/jobs", job_body(), key=other)
    assert (status, answer["code"]) == (403, "AuthenticationFailed")


def test_create_job_answers_201_with_service_headers(batch_server: BatchRestServer) -> None:
    status, headers, _ = call(batch_server, "POST", "/jobs", job_body())
    assert status == 201
    assert headers["DataServiceId"] == f"{batch_server.url}/jobs/j1"
    assert headers["ETag"] and headers["Last-Modified"].endswith("GMT") and headers["request-id"]


def test_errors_have_the_batch_error_shape(batch_server: BatchRestServer) -> None:
    call(batch_server, "POST", "/jobs", job_body())
    status, headers, body = call(batch_server, "POST", "/jobs", job_body())
    assert status == 409
    assert headers["Content-Type"].startswith("application/json")
    assert body["code"] == "JobExists"
    assert body["message"]["lang"] == "en-US" and body["message"]["value"].startswith("The specified job")
    assert "odata.metadata" in body


@pytest.mark.parametrize(("version", "headers", "status", "code"), [
    (None, {}, 400, "MissingRequiredQueryParameter"),
    ("2023-05-01.17.0", {}, 400, "InvalidQueryParameterValue"),
    (API_VERSION, {"Authorization": ""}, 401, "AuthenticationFailed"),
    (API_VERSION, {"Authorization": "SharedKey testaccount:c2lnbmF0dXJl"}, 403, "AuthenticationFailed"),
    (API_VERSION, {"Content-Type": "text/plain"}, 400, "InvalidHeaderValue"),
])
def test_requests_without_version_auth_or_json_are_refused(
        batch_server: BatchRestServer, version: str | None, headers: dict[str, str], status: int,
        code: str) -> None:
    answer = call(batch_server, "POST", "/jobs", job_body(), version=version, headers=headers)
    assert (answer[0], answer[2]["code"]) == (status, code)


@pytest.mark.parametrize("body", [
    {"id": "j1", "pool_info": {"poolId": "pool"}},                  # snake_case name
    {"id": "j1"},                                                     # poolInfo missing
    job_body(priority="high"),                                        # wrong type
    job_body(onAllTasksComplete="terminate"),                         # not in the enum
    job_body(usesTaskDependencies="true"),                            # string for a boolean
])
def test_job_bodies_of_the_wrong_shape_are_refused(batch_server: BatchRestServer, body: dict[str, Any]) -> None:
    status, _, answer = call(batch_server, "POST", "/jobs", body)
    assert (status, answer["code"]) == (400, "InvalidRequestBody")
    assert answer["values"][0]["key"] == "PropertyName"


@pytest.mark.parametrize("task", [
    {"id": "t", "command_line": "true"},
    {"id": "t", "commandLine": "true", "constraints": {"maxWallClockTime": 60}},
    {"id": "t", "commandLine": "true", "constraints": {"maxWallClockTime": "60s"}},
    {"id": "t", "commandLine": "true", "resourceFiles": [{"httpUrl": "https://x/y"}]},
    {"id": "t", "commandLine": "true", "resourceFiles": [{"httpUrl": "https://x/y", "storageContainerUrl": "https://x",
                                                          "filePath": "y"}]},
    {"id": "t", "commandLine": "true", "outputFiles": [{"filePattern": "*", "destination": {"container": {
        "containerUrl": "https://x"}}, "uploadOptions": {"uploadCondition": "success"}}]},
    {"id": "t", "commandLine": "true", "dependsOn": {"taskIdRanges": [{"start": "1", "end": 2}]}},
])
def test_task_bodies_of_the_wrong_shape_are_refused(batch_server: BatchRestServer, task: dict[str, Any]) -> None:
    call(batch_server, "POST", "/jobs", job_body())
    status, _, answer = call(batch_server, "POST", "/jobs/j1/addtaskcollection", {"value": [task]})
    assert (status, answer["code"]) == (400, "InvalidRequestBody")
    assert batch_server.job("j1").tasks == {}


def test_task_collections_over_100_tasks_or_1_mb_are_too_large(batch_server: BatchRestServer) -> None:
    call(batch_server, "POST", "/jobs", job_body())
    many = {"value": [{"id": f"t{i}", "commandLine": "true"} for i in range(101)]}
    assert call(batch_server, "POST", "/jobs/j1/addtaskcollection", many)[:1] == (413,)
    big = {"value": [{"id": "t", "commandLine": "x" * (1024 * 1024)}]}
    status, _, answer = call(batch_server, "POST", "/jobs/j1/addtaskcollection", big)
    assert (status, answer["code"]) == (413, "RequestBodyTooLarge")
    assert batch_server.job("j1").tasks == {}


def test_add_task_collection_answers_per_task(batch_server: BatchRestServer) -> None:
    call(batch_server, "POST", "/jobs", job_body())
    call(batch_server, "POST", "/jobs/j1/addtaskcollection", {"value": [{"id": "a", "commandLine": "true"}]})
    status, _, answer = call(batch_server, "POST", "/jobs/j1/addtaskcollection",
                             {"value": [{"id": "A", "commandLine": "true"}, {"id": "b", "commandLine": "true"}]})
    assert status == 200
    results = {r["taskId"]: r for r in answer["value"]}
    assert results["A"]["status"] == "clienterror" and results["A"]["error"]["code"] == "TaskExists"
    assert results["b"]["status"] == "success" and results["b"]["location"].endswith("/jobs/j1/tasks/b")


def test_unknown_job_is_404_job_not_found(batch_server: BatchRestServer) -> None:
    for method, path in [("GET", "/jobs/nope/tasks"), ("GET", "/jobs/nope/taskcounts"),
                         ("POST", "/jobs/nope/terminate")]:
        status, _, answer = call(batch_server, method, path)
        assert (status, answer["code"]) == (404, "JobNotFound")


def test_requests_are_recorded_with_size_and_task_count(batch_server: BatchRestServer) -> None:
    call(batch_server, "POST", "/jobs", job_body())
    body = {"value": [{"id": f"t{i}", "commandLine": "true"} for i in range(3)]}
    call(batch_server, "POST", "/jobs/j1/addtaskcollection", body)
    record = batch_server.records()[-1]
    assert (record.method, record.path, record.status, record.task_count) == (
        "POST", "/jobs/j1/addtaskcollection", 200, 3)
    assert record.size == len(json.dumps(body).encode())


def test_terminate_completes_the_job_and_ends_running_tasks(batch_server: BatchRestServer) -> None:
    call(batch_server, "POST", "/jobs", job_body())
    call(batch_server, "POST", "/jobs/j1/addtaskcollection",
         {"value": [{"id": "long", "commandLine": "/bin/bash -c 'sleep 60'"},
                    {"id": "next", "commandLine": "true", "dependsOn": {"taskIds": ["long"]}}]})
    assert call(batch_server, "GET", "/jobs/j1/tasks/long")[2]["state"] == "running"
    assert call(batch_server, "POST", "/jobs/j1/terminate", {"terminateReason": "UserTerminate"})[0] == 202
    job = call(batch_server, "GET", "/jobs/j1")[2]
    assert (job["state"], job["executionInfo"]["terminateReason"]) == ("completed", "UserTerminate")
    long = call(batch_server, "GET", "/jobs/j1/tasks/long")[2]
    assert (long["state"], long["executionInfo"]["result"]) == ("completed", "failure")
    assert call(batch_server, "GET", "/jobs/j1/tasks/next")[2]["state"] == "active"  # as Batch leaves it
    assert call(batch_server, "POST", "/jobs/j1/terminate")[2]["code"] == "JobCompleted"


def test_job_disable_needs_a_known_mode_and_enable_needs_a_disabled_job(batch_server: BatchRestServer) -> None:
    call(batch_server, "POST", "/jobs", job_body())
    status, _, answer = call(batch_server, "POST", "/jobs/j1/disable", {"disableTasks": "pause"})
    assert (status, answer["code"]) == (400, "InvalidRequestBody")
    status, _, answer = call(batch_server, "POST", "/jobs/j1/disable", {})
    assert (status, answer["code"]) == (400, "InvalidRequestBody")
    assert call(batch_server, "POST", "/jobs/j1/enable")[2]["code"] == "OperationInvalidForCurrentState"
    assert call(batch_server, "POST", "/jobs/j1/disable", {"disableTasks": "terminate"})[0] == 202
    assert call(batch_server, "GET", "/jobs/j1")[2]["state"] == "disabled"
    assert call(batch_server, "POST", "/jobs/j1/enable")[0] == 202
    assert call(batch_server, "GET", "/jobs/j1")[2]["state"] == "active"


def test_task_files_answer_properties_ranges_and_batch_errors(batch_server: BatchRestServer) -> None:
    call(batch_server, "POST", "/jobs", job_body())
    call(batch_server, "POST", "/jobs/j1/addtaskcollection", {"value": [
        {"id": "long", "commandLine": "/bin/bash -c 'sleep 60'"},
        {"id": "next", "commandLine": "/bin/bash -c true", "dependsOn": {"taskIds": ["long"]}}]})
    task = call(batch_server, "GET", "/jobs/j1/tasks/long")[2]
    assert task["nodeInfo"]["poolId"] == "pool" and task["nodeInfo"]["nodeId"].startswith("tvmps_")
    assert "nodeInfo" not in call(batch_server, "GET", "/jobs/j1/tasks/next")[2]
    batch_server.write_task_file("j1", "long", "stdout.txt", b"0123456789")

    status, headers, _ = call(batch_server, "GET", "/jobs/j1/tasks/long/files/stdout.txt",
                              headers={"ocp-range": "bytes=7-9"}, raw=True)
    assert status == 200 and headers["Content-Length"] == "3"
    assert headers["ocp-batch-file-isdirectory"] == "False" and headers["ocp-batch-file-url"].endswith("stdout.txt")
    for wanted in ("bytes=10-12", "bytes=5-2", "lines=1-2"):
        status, _, answer = call(batch_server, "GET", "/jobs/j1/tasks/long/files/stdout.txt",
                                 headers={"ocp-range": wanted})
        assert (status, answer["code"]) == (416, "InvalidRange")
    assert call(batch_server, "GET", "/jobs/j1/tasks/long/files/none.txt")[2]["code"] == "FileNotFound"
    assert call(batch_server, "GET", "/jobs/j1/tasks/next/files/stdout.txt")[2]["code"] == \
        "OperationInvalidForCurrentState"


def test_node_scheduling_answers_already_in_target_state(batch_server: BatchRestServer) -> None:
    node = batch_server.nodes("pool")[0].id
    path = f"/pools/pool/nodes/{node}"
    assert call(batch_server, "POST", f"{path}/enablescheduling")[2]["code"] == "NodeAlreadyInTargetSchedulingState"
    assert call(batch_server, "POST", f"{path}/disablescheduling", {"nodeDisableSchedulingOption": "later"})[0] == 400
    assert call(batch_server, "POST", f"{path}/disablescheduling", {})[0] == 200  # requeue, Batch's default
    assert call(batch_server, "POST", f"{path}/disablescheduling")[2]["code"] == "NodeAlreadyInTargetSchedulingState"
    assert call(batch_server, "POST", "/pools/other/nodes/x/enablescheduling")[2]["code"] == "PoolNotFound"
    assert call(batch_server, "POST", "/pools/pool/nodes/x/enablescheduling")[2]["code"] == "NodeNotFound"


def test_shapes_use_the_sdk_rest_names() -> None:
    pairs = [(shapes.JOB, bm.BatchJobCreateOptions), (shapes.TASK, bm.BatchTaskCreateOptions),
             (shapes.RESOURCE_FILE, bm.ResourceFile), (shapes.OUTPUT_FILE, bm.OutputFile),
             (shapes.CONTAINER_DESTINATION, bm.OutputFileBlobContainerDestination),
             (shapes.TASK_CONSTRAINTS, bm.BatchTaskConstraints), (shapes.DEPENDS_ON, bm.BatchTaskDependencies),
             (shapes.EXIT_CONDITIONS, bm.ExitConditions), (shapes.EXIT_OPTIONS, bm.ExitOptions),
             (shapes.USER_IDENTITY, bm.UserIdentity), (shapes.JOB_UPDATE, bm.BatchJobUpdateOptions),
             (shapes.ENV, bm.EnvironmentSetting), (shapes.POOL_INFO, bm.BatchPoolInfo),
             (shapes.JOB_DISABLE, bm.BatchJobDisableOptions),
             (shapes.NODE_DISABLE_SCHEDULING, bm.BatchNodeDisableSchedulingOptions)]
    for shape, model in pairs:
        fields = model()._attr_to_rest_field  # the SDK's table: python name -> REST field
        rest_names = {field._rest_name for field in fields.values()}
        assert set(shape) <= rest_names, (model.__name__, set(shape) - rest_names)


def test_simulation_reads_command_lines_and_durations() -> None:
    assert argv_of("/bin/bash -c 'sleep 2'") == ["sleep", "2"]
    assert argv_of("/bin/bash -c 'echo '\"'\"'a b'\"'\"''") == ["echo", "a b"]
    assert argv_of("/bin/bash -c 'unbalanced") == []
    assert seconds_of("PT1H2M5S") == seconds_of("PT01H02M05S") == 3725
    assert seconds_of("P1DT0.5S") == 86400.5
