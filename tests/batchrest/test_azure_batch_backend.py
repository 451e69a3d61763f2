"""AzureBatchBackend against the Batch REST test server, over HTTP, with the real SDK."""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import pytest
from azure.batch import models as bm

from shared.adapters.azure_batch_backend import AzureBatchBackend, command_line
from shared.errors import ConflictError, NotFoundError, PermanentError, TransientError, ValidationError
from shared.tasks import OutputFile, ResourceFile, TaskResult, TaskSpec, TaskStatus, UploadCondition
from stack.services import free_port
from tests.batchrest.backend import IDENTITY, POOL_ID, STORAGE_URL, make_backend
from tests.batchrest.server import BatchRestServer, RequestRecord, running_server

ONE_MB = 1024 * 1024
WEIRD_ARGV = (
    sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))",
    "shot 010/frame #1.png", "it's", 'say "hi"', "$HOME", "`id`", "$(id)", "a;b", "a && b", "a|b",
    "*.png", "~", "back\\slash", "new\nline", "tab\there", "", "ünïcødé", "--flag=x y", "'",
)


def job_id() -> str:
    return f"job-{uuid.uuid4().hex[:16]}"


def collections(server: BatchRestServer) -> list[RequestRecord]:
    return [r for r in server.records() if r.path.endswith("/addtaskcollection")]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# Jobs


def test_create_job_sends_pool_priority_dependencies_and_no_action(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid, priority=250)
    assert batch_server.job(jid).body == {
        "id": jid,
        "poolInfo": {"poolId": POOL_ID},
        "priority": 250,
        "usesTaskDependencies": True,
        "constraints": {"maxTaskRetryCount": 0},
        "onAllTasksComplete": "noaction",
        "onTaskFailure": "noaction",
    }


def test_create_job_again_is_success_though_the_service_answers_job_exists(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid)
    backend.create_job(jid)
    assert [r.status for r in batch_server.records() if r.path == "/jobs"] == [201, 409]


def test_priority_out_of_range_is_rejected_before_sending(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    with pytest.raises(ValidationError):
        backend.create_job(job_id(), priority=1001)
    with pytest.raises(ValidationError):
        backend.create_job("bad id with spaces")
    assert batch_server.records() == []


def test_complete_when_tasks_done_lets_batch_terminate_the_job(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid)
    backend.add_tasks(jid, [TaskSpec(id="a", argv=("true",))])
    backend.complete_when_tasks_done(jid)
    assert batch_server.job(jid).body["onAllTasksComplete"] == "terminatejob"
    backend.list_tasks(jid)  # the server advances its simulation when looked at
    assert batch_server.job(jid).state == "completed"
    assert batch_server.job(jid).terminate_reason == "AllTasksComplete"
    backend.complete_when_tasks_done(jid)  # a completed job: nothing left to do


def test_terminate_job_twice_succeeds(backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid)
    backend.terminate_job(jid)
    backend.terminate_job(jid)
    terminates = [r for r in batch_server.records() if r.path.endswith("/terminate")]
    assert [r.status for r in terminates] == [202, 409]
    with pytest.raises(ConflictError):
        backend.add_tasks(jid, [TaskSpec(id="late", argv=("true",))])


# Adding tasks


def test_ten_thousand_tasks_go_in_parallel_collections_of_at_most_100(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid)
    batch_server.delay("/addtaskcollection", 0.02)  # long enough for requests to overlap
    tasks = [TaskSpec(id=f"t{i:05d}", argv=("true",)) for i in range(10_000)]
    backend.add_tasks(jid, tasks)

    sent = collections(batch_server)
    assert len(sent) == math.ceil(10_000 / 100)
    assert all(r.status == 200 and r.task_count is not None and r.task_count <= 100 for r in sent)
    assert all(r.size < ONE_MB for r in sent)
    assert sum(r.task_count or 0 for r in sent) == 10_000
    assert max(r.in_flight for r in sent) > 1, "task collections were sent one at a time"
    assert len(batch_server.job(jid).tasks) == 10_000

    batch_server.clear_records()
    states = backend.list_tasks(jid)
    assert sorted(s.id for s in states) == [t.id for t in tasks]
    pages = [r for r in batch_server.records() if r.path == f"/jobs/{jid}/tasks"]
    assert len(pages) == 10  # Batch pages lists by 1000


def test_adding_tasks_again_is_success_though_the_service_answers_task_exists(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid)
    tasks = [TaskSpec(id=f"t{i}", argv=("true",)) for i in range(5)]
    backend.add_tasks(jid, tasks)
    backend.add_tasks(jid, tasks)
    assert [r.status for r in collections(batch_server)] == [200, 200]
    assert len(batch_server.job(jid).tasks) == 5


def test_a_collection_the_service_finds_too_large_is_split_until_it_fits() -> None:
    with running_server(max_body_bytes=40_000) as server:
        backend = make_backend(server)
        jid = job_id()
        backend.create_job(jid)
        padding = "x" * 1500  # ~1.5 kB per task: 100 tasks are ~160 kB
        tasks = [TaskSpec(id=f"t{i}", argv=("true",), environment={"PAD": padding}) for i in range(100)]
        backend.add_tasks(jid, tasks)

        sent = collections(server)
        assert sent[0].status == 413
        assert all(r.size < 40_000 for r in sent if r.status == 200)
        assert sum(r.task_count or 0 for r in sent if r.status == 200) == 100
        assert sorted(server.job(jid).tasks) == sorted(t.id for t in tasks)

        with pytest.raises(ValidationError):
            backend.add_tasks(jid, [TaskSpec(id="huge", argv=("true",), environment={"PAD": "x" * 50_000})])
        backend.close()


def test_tasks_the_service_failed_to_add_are_sent_again(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid)
    batch_server.fail_next_tasks(3)
    backend.add_tasks(jid, [TaskSpec(id=f"t{i}", argv=("true",)) for i in range(10)])
    sent = collections(batch_server)
    assert [r.task_count for r in sent] == [10, 3]
    assert len(batch_server.job(jid).tasks) == 10


def test_a_task_the_service_rejects_raises_validation_error(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid)
    batch_server.job(jid).body["usesTaskDependencies"] = False  # as if created by another client
    with pytest.raises(ValidationError) as raised:
        backend.add_tasks(jid, [TaskSpec(id="a", argv=("true",)),
                                TaskSpec(id="b", argv=("true",), depends_on=("a",))])
    assert raised.value.details == [{"taskId": "b", "code": "TaskDependenciesNotSpecifiedOnJob",
                                     "message": "The job does not use task dependencies."}]


@pytest.mark.parametrize("task", [
    TaskSpec(id="has space", argv=("true",)),
    TaskSpec(id="x" * 65, argv=("true",)),
    TaskSpec(id="t", argv=()),
    TaskSpec(id="t", argv=("echo", "nul\0byte")),
    TaskSpec(id="t", argv=("true",), environment={"BAD-NAME": "v"}),
    TaskSpec(id="t", argv=("true",), max_retries=-1),
    TaskSpec(id="t", argv=("true",), max_wall_clock_seconds=0),
    TaskSpec(id="t", argv=("true",), depends_on_ranges=((5, 1),)),
    TaskSpec(id="t", argv=("true",), resource_files=(ResourceFile("c", "p", blob="b", prefix="x/"),)),
])
def test_invalid_tasks_are_rejected_before_anything_is_sent(
        backend: AzureBatchBackend, batch_server: BatchRestServer, task: TaskSpec) -> None:
    with pytest.raises(ValidationError):
        backend.add_tasks("job-1", [task])
    assert batch_server.records() == []


def test_duplicate_task_ids_in_one_call_are_rejected(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    with pytest.raises(ValidationError):
        backend.add_tasks("job-1", [TaskSpec(id="a", argv=("true",)), TaskSpec(id="a", argv=("false",))])
    assert batch_server.records() == []


# What a task looks like to Batch


def test_command_line_hands_argv_to_bash_exactly(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid)
    backend.add_tasks(jid, [TaskSpec(id="weird", argv=WEIRD_ARGV)])
    received = batch_server.task_body(jid, "weird")["commandLine"]

    outer = shlex.split(received)  # Batch splits the line into words itself
    assert outer[:2] == ["/bin/bash", "-c"] and len(outer) == 3
    assert shlex.split(outer[2]) == list(WEIRD_ARGV)
    # and bash, given those words, runs exactly argv
    ran = subprocess.run(outer, capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(ran.stdout) == list(WEIRD_ARGV[3:])


def test_command_line_of_a_plain_argv_is_readable() -> None:
    assert command_line(["blender", "-b", "scene.blend", "-f", "1"]) == \
        "/bin/bash -c 'blender -b scene.blend -f 1'"


def test_task_body_carries_files_environment_constraints_and_dependencies(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid)
    spec = TaskSpec(
        id="render-1",
        argv=("blender", "-b", "scene/shot.blend"),
        resource_files=(ResourceFile(container="scenes", path="scene", prefix="shots/a/"),
                        ResourceFile(container="scenes", path="scene/shot.blend", blob="shots/a/shot v1.blend")),
        output_files=(
            OutputFile(pattern="frames/*.png", container="renders", prefix=f"{jid}/frames",
                       condition=UploadCondition.SUCCESS),
            OutputFile(pattern="../std*.txt", container="renders", prefix=f"{jid}/logs/render-1",
                       condition=UploadCondition.FAILURE),
            OutputFile(pattern="marker.json", container="renders", prefix=f"{jid}/chunks/render-1.json"),
        ),
        environment={"BLENDER_USER_SCRIPTS": "/opt/scripts", "FRAMES": "1-10"},
        max_retries=2,
        max_wall_clock_seconds=3725,
        depends_on=("setup",),
        depends_on_ranges=((1, 10),),
    )
    backend.add_tasks(jid, [TaskSpec(id="setup", argv=("true",)), spec])
    body = batch_server.task_body(jid, "render-1")
    identity = {"resourceId": IDENTITY}
    assert body["resourceFiles"] == [
        {"storageContainerUrl": f"{STORAGE_URL}/scenes", "blobPrefix": "shots/a/", "filePath": "scene",
         "identityReference": identity},
        {"httpUrl": f"{STORAGE_URL}/scenes/shots/a/shot%20v1.blend", "filePath": "scene/shot.blend",
         "identityReference": identity},
    ]
    destination = {"containerUrl": f"{STORAGE_URL}/renders", "identityReference": identity}
    assert body["outputFiles"] == [
        {"filePattern": "frames/*.png", "destination": {"container": {**destination, "path": f"{jid}/frames"}},
         "uploadOptions": {"uploadCondition": "tasksuccess"}},
        {"filePattern": "../std*.txt",
         "destination": {"container": {**destination, "path": f"{jid}/logs/render-1"}},
         "uploadOptions": {"uploadCondition": "taskfailure"}},
        {"filePattern": "marker.json",
         "destination": {"container": {**destination, "path": f"{jid}/chunks/render-1.json"}},
         "uploadOptions": {"uploadCondition": "taskcompletion"}},
    ]
    assert body["environmentSettings"] == [{"name": "BLENDER_USER_SCRIPTS", "value": "/opt/scripts"},
                                           {"name": "FRAMES", "value": "1-10"}]
    assert body["constraints"] == {"maxTaskRetryCount": 2, "maxWallClockTime": "PT1H2M5S"}
    assert body["dependsOn"] == {"taskIds": ["setup"], "taskIdRanges": [{"start": 1, "end": 10}]}
    assert body["exitConditions"] == {"default": {"jobAction": "none", "dependencyAction": "block"}}
    assert body["userIdentity"] == {"autoUser": {"scope": "task", "elevationLevel": "nonadmin"}}


def test_every_task_runs_as_its_own_non_admin_user_and_reaches_storage_as_the_pool_identity(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid)
    backend.add_tasks(jid, [TaskSpec(
        id="render", argv=("true",),
        resource_files=(ResourceFile("scenes", "scene.zip", blob="a/shot.zip"),
                        ResourceFile("scenes", "s", prefix="a/")),
        output_files=(OutputFile(pattern="frames/*", container="renders", prefix=f"{jid}/frames"),))])
    body = batch_server.task_body(jid, "render")
    user = bm.UserIdentity(body["userIdentity"])  # read back as the SDK reads it
    assert user.auto_user is not None
    assert (user.auto_user.scope, user.auto_user.elevation_level) == (bm.AutoUserScope.TASK,
                                                                       bm.ElevationLevel.NON_ADMIN)
    assert user.username is None
    references = [f["identityReference"] for f in body["resourceFiles"]]
    references += [o["destination"]["container"]["identityReference"] for o in body["outputFiles"]]
    assert references == [{"resourceId": IDENTITY}] * 3


def test_a_failed_task_is_not_retried_by_batch_unless_its_spec_asks(
        backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    """Each Batch run is one attempt the pipeline counts: no hidden retries."""
    jid = job_id()
    backend.create_job(jid)
    assert batch_server.job(jid).body["constraints"] == {"maxTaskRetryCount": 0}
    backend.add_tasks(jid, [TaskSpec(id="once", argv=("false",)),
                            TaskSpec(id="thrice", argv=("false",), max_retries=2)])
    assert batch_server.task_body(jid, "once")["constraints"] == {"maxTaskRetryCount": 0}
    wait_for(lambda: backend.get_task(jid, "thrice").status is TaskStatus.COMPLETED)
    assert [backend.get_task(jid, t).retry_count for t in ("once", "thrice")] == [0, 2]


def test_prefix_resource_files_expand_to_one_file_per_blob_when_blobs_can_be_listed(
        batch_server: BatchRestServer) -> None:
    blobs = {("scenes", "shots/a/"): ["shots/a/shot.blend", "shots/a/tex/wood.png", "shots/a/../escape"]}
    backend = make_backend(batch_server, identity_resource_id=None,
                           sas_for_container=lambda container: f"sv=2024&sig={container}",
                           list_blobs=lambda container, prefix: blobs[(container, prefix)])
    jid = job_id()
    backend.create_job(jid)
    backend.add_tasks(jid, [TaskSpec(id="t", argv=("true",),
                                     resource_files=(ResourceFile("scenes", "scene", prefix="shots/a/"),))])
    assert batch_server.task_body(jid, "t")["resourceFiles"] == [
        {"httpUrl": f"{STORAGE_URL}/scenes/shots/a/shot.blend?sv=2024&sig=scenes", "filePath": "scene/shot.blend"},
        {"httpUrl": f"{STORAGE_URL}/scenes/shots/a/tex/wood.png?sv=2024&sig=scenes",
         "filePath": "scene/tex/wood.png"},
    ]
    backend.close()


# Reading tasks back


def test_task_states_and_counts_map_from_batch(backend: AzureBatchBackend, batch_server: BatchRestServer) -> None:
    jid = job_id()
    backend.create_job(jid)
    backend.add_tasks(jid, [TaskSpec(id="ok", argv=("true",)), TaskSpec(id="bad", argv=("false",)),
                            TaskSpec(id="long", argv=("sleep", "60")),
                            TaskSpec(id="waits", argv=("true",), depends_on=("long",))])
    wait_for(lambda: backend.get_task(jid, "bad").status is TaskStatus.COMPLETED)
    counts = backend.task_counts(jid)
    assert (counts.active, counts.running, counts.succeeded, counts.failed) == (1, 1, 1, 1)

    bad = backend.get_task(jid, "bad")
    assert (bad.result, bad.exit_code) == (TaskResult.FAILURE, 1)
    assert bad.failure == "The task exited with an exit code representing a failure"
    assert bad.start_time is not None and bad.start_time.endswith("Z")
    long = backend.get_task(jid, "long")
    assert (long.status, long.result, long.end_time) == (TaskStatus.RUNNING, None, None)
    assert backend.get_task(jid, "waits").failure is None  # waiting, not blocked

    backend.terminate_job(jid)
    counts = backend.task_counts(jid)
    # Batch leaves never-run tasks of a terminated job active; the port counts them failed
    assert (counts.active, counts.running, counts.succeeded, counts.failed) == (0, 0, 1, 3)
    assert batch_server.job(jid).tasks["waits"].state == "active"
    assert backend.get_task(jid, "waits").result is TaskResult.FAILURE


def test_unknown_job_and_task_are_not_found(backend: AzureBatchBackend) -> None:
    with pytest.raises(NotFoundError) as raised:
        backend.get_task("no-such-job", "t")
    assert raised.value.details == {"status": 404, "code": "JobNotFound", "operation": "get task"}
    with pytest.raises(NotFoundError):
        backend.terminate_job("no-such-job")


# Errors at the edge


def test_service_busy_is_retried_by_the_sdk_then_transient(batch_server: BatchRestServer) -> None:
    backend = make_backend(batch_server, retry_total=2)
    jid = job_id()
    batch_server.fail_next(1, status=503)
    backend.create_job(jid)  # one 503, then the SDK's retry succeeds
    assert [r.status for r in batch_server.records() if r.path == "/jobs"] == [503, 201]

    batch_server.fail_next(100, status=503, path_contains="/taskcounts")
    with pytest.raises(TransientError) as raised:
        backend.task_counts(jid)
    assert raised.value.details == {"status": 503, "code": "ServerBusy", "operation": "task counts"}
    assert isinstance(raised.value.__cause__, Exception)
    backend.close()


@pytest.mark.parametrize(("status", "code", "error"), [
    (429, "TooManyRequests", TransientError),
    (500, "InternalError", TransientError),
    (400, "InvalidPropertyValue", ValidationError),
    (403, "InsufficientPermissions", PermanentError),
])
def test_http_errors_become_project_errors(batch_server: BatchRestServer, status: int, code: str,
                                           error: type[Exception]) -> None:
    backend = make_backend(batch_server, retry_total=0)
    batch_server.fail_next(1, status=status, code=code)
    with pytest.raises(error) as raised:
        backend.add_tasks("job-1", [TaskSpec(id="t", argv=("true",))])
    if error is PermanentError:
        assert not isinstance(raised.value, ValidationError | TransientError)
    backend.close()


def test_unreachable_service_is_transient() -> None:
    server = BatchRestServer()
    server.port = free_port()  # nothing listens there
    backend = make_backend(server, retry_total=0, connection_timeout=2)
    with pytest.raises(TransientError):
        backend.create_job(job_id())
    backend.close()


def test_an_answer_too_slow_to_arrive_is_transient(batch_server: BatchRestServer) -> None:
    backend = make_backend(batch_server, retry_total=0, read_timeout=0.3)
    jid = job_id()
    backend.create_job(jid)
    batch_server.delay("/taskcounts", 1.0)
    with pytest.raises(TransientError):
        backend.task_counts(jid)
    backend.close()
