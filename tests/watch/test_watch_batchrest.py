"""Watching on Azure Batch, against the Batch REST test server: the log tail of a running task is
its task file on the node (a ranged read), a task that cannot reach storage is followed through its
heartbeat file, and a node with three failed attempts in a row has its scheduling disabled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared.adapters.azure_batch_backend import AzureBatchBackend
from shared.adapters.fake_blob_store import FakeBlobStore
from shared.adapters.fake_chunk_store import FakeChunkStore
from shared.adapters.fake_event_publisher import RecordingEventPublisher
from shared.adapters.fake_job_store import FakeJobStore
from shared.bootstrap import Services
from shared.config import Settings
from shared.job_chunks import read_chunks
from shared.pipeline import steps, watch_reads
from shared.pipeline.jobs_api import health
from shared.tasks import TaskSpec, TaskStatus
from tests.batchrest.backend import POOL_ID, make_backend
from tests.batchrest.server import BatchRestServer
from tests.batchrest.test_azure_batch_backend import wait_for
from tests.watch.fakes import AZURE, rendering_job

LONG = ("sleep", "60")


@pytest.fixture
def svc(batch_server: BatchRestServer) -> Iterator[Services]:
    backend = make_backend(batch_server)
    blobs = FakeBlobStore()
    blobs.ensure_container("renders")
    try:
        yield Services(settings=Settings.from_env(AZURE), blobs=blobs, jobs=FakeJobStore(),
                       chunks=FakeChunkStore(), backend=backend,
                       events=RecordingEventPublisher(),
                       now=lambda: datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    finally:
        backend.close()


def batch(svc: Services) -> AzureBatchBackend:
    assert isinstance(svc.backend, AzureBatchBackend)
    return svc.backend


def job_with_tasks(svc: Services, tasks: dict[str, tuple[str, ...]], frames: str = "1-15") -> str:
    job_id = f"job-{uuid.uuid4().hex[:16]}"
    rendering_job(svc, job_id, frames=frames, chunk_size=5)  # creates the Batch job too
    batch(svc).add_tasks(job_id, [TaskSpec(id=t, argv=argv) for t, argv in tasks.items()])
    return job_id


def test_a_running_tasks_log_tail_is_its_task_file_read_by_range(svc, batch_server):
    job_id = job_with_tasks(svc, {"chunk-0001": LONG})
    wait_for(lambda: batch(svc).get_task(job_id, "chunk-0001").status is TaskStatus.RUNNING)
    text = b"".join(b"Fra:1 Mem:20M | Sample %d/4096\n" % i for i in range(4096))
    batch_server.write_task_file(job_id, "chunk-0001", "stdout.txt", text)
    batch_server.clear_records()
    answer = watch_reads.task_log(svc, None, job_id, "chunk-0001", "stdout", "2")
    assert answer["source"] == "node"
    assert answer["text"] == "Fra:1 Mem:20M | Sample 4094/4096\nFra:1 Mem:20M | Sample 4095/4096\n"
    reads = [r for r in batch_server.records() if "/files/" in r.path]
    assert [(r.method, r.path) for r in reads] == [("HEAD", f"/jobs/{job_id}/tasks/chunk-0001/files/stdout.txt"),
                                                   ("GET", f"/jobs/{job_id}/tasks/chunk-0001/files/stdout.txt")]


def test_a_running_task_is_followed_through_its_heartbeat_file_on_the_node(svc, batch_server):
    job_id = job_with_tasks(svc, {"chunk-0001": LONG})
    wait_for(lambda: batch(svc).get_task(job_id, "chunk-0001").status is TaskStatus.RUNNING)
    batch_server.write_task_file(job_id, "chunk-0001", "wd/heartbeat.json",
                                 b'{"frameSeconds": {"1": 4.5, "2": 5.5}}')
    steps.poll_tasks(svc, {"jobId": job_id, "phase": "render"})
    doc = svc.jobs.get(job_id)
    first = read_chunks(svc.chunks, job_id)[0]
    assert first["frameSeconds"] == {"1": 4.5, "2": 5.5}
    assert first["attemptLog"][0]["node"] in {n.id for n in batch_server.nodes(POOL_ID)}
    assert doc["progress"]["secondsPerFrame"] == 5.0 and doc["progress"]["framesRunning"] == 1


def test_three_failed_attempts_on_a_node_disable_its_scheduling_in_batch(svc, batch_server):
    nodes = batch_server.nodes(POOL_ID)
    for node in nodes[1:]:  # every attempt lands on the one node left
        batch(svc).disable_node_scheduling(node.id, "kept out by the test")
    bad = nodes[0].id
    job_id = job_with_tasks(svc, {f"chunk-000{n}": ("false",) for n in (1, 2, 3)})
    wait_for(lambda: all(batch(svc).get_task(job_id, f"chunk-000{n}").status is TaskStatus.COMPLETED
                         for n in (1, 2, 3)))
    batch_server.clear_records()
    steps.poll_tasks(svc, {"jobId": job_id, "phase": "render"})
    disables = [r for r in batch_server.records() if r.path.endswith(f"/nodes/{bad}/disablescheduling")]
    assert [(r.method, r.status) for r in disables] == [("POST", 200)]
    assert {n.id: n.scheduling for n in batch_server.nodes(POOL_ID)}[bad] == "disabled"
    assert "RenderPipeline.Node.Disabled" in svc.events.types()
    _, body = health(svc)
    assert [n["nodeId"] for n in body["nodes"]["disabled"]] == [bad]
