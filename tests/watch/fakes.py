"""Services of fakes for the watch tests: a backend whose node and task-file calls of the
RenderBackend port (task_node, read_task_file, disable_node_scheduling) the test sets per task
and records, on a manual clock, and a job document planned and rendering, as the pipeline leaves it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shared.adapters.fake_blob_store import FakeBlobStore
from shared.adapters.fake_chunk_store import FakeChunkStore
from shared.adapters.fake_event_publisher import RecordingEventPublisher
from shared.adapters.fake_job_store import FakeJobStore
from shared.adapters.fake_render_backend import FakeRenderBackend, ManualClock
from shared.bootstrap import Services
from shared.chunk_pages import record_pages
from shared.config import Settings
from shared.errors import NotFoundError
from shared.frames import FrameSet
from shared.job_chunks import read_chunks, write_chunks
from shared.job_document import JobSource, SourceKind, job_document
from shared.job_spec import JobSpec, Resolution
from shared.pipeline import layout
from shared.planning import chunks_to_json, plan_chunks, start_attempts
from shared.tasks import TaskSpec

LOCAL = {"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true", "COSMOS_ENDPOINT": "https://cosmos.invalid/",
         "LOCALBATCH_URL": "http://lb.invalid"}
AZURE = {"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true", "COSMOS_ENDPOINT": "https://cosmos.invalid/",
         "RENDER_BACKEND": "azure_batch", "BATCH_ACCOUNT_URL": "https://b.invalid", "BATCH_POOL_ID": "render"}


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WatchedBackend(FakeRenderBackend):
    """FakeRenderBackend with the node calls under the test's hand: `nodes` says where each task
    ran, `files` are what tasks have on their nodes, every read and disable is recorded."""

    def __init__(self, clock: ManualClock, fail_ids: Sequence[str] = ()) -> None:
        super().__init__(fail_ids=fail_ids, clock=clock)
        self.nodes: dict[str, str] = {}                                 # task id → node id
        self.files: dict[tuple[str, str, str], bytes] = {}              # (job, task, path) → bytes
        self.reads: list[tuple[str, str, str, int]] = []
        self.disabled: list[tuple[str, str]] = []

    def task_node(self, job_id: str, task_id: str) -> str | None:
        self.get_task(job_id, task_id)
        return self.nodes.get(task_id)

    def read_task_file(self, job_id: str, task_id: str, path: str, tail_bytes: int) -> bytes:
        self.reads.append((job_id, task_id, path, tail_bytes))
        try:
            return self.files[(job_id, task_id, path)][-tail_bytes:]
        except KeyError:
            raise NotFoundError(f"no {path} for task {task_id}") from None

    def disable_node_scheduling(self, node_id: str, reason: str) -> None:
        self.disabled.append((node_id, reason))


def make_services(env: dict[str, str] | None = None, fail_ids: Sequence[str] = ()) -> tuple[Services, ManualClock]:
    clock = ManualClock(1_764_590_400.0)  # 2025-12-01T12:00:00Z
    blobs = FakeBlobStore()
    blobs.ensure_container("scenes")
    blobs.ensure_container("renders")
    svc = Services(settings=Settings.from_env(env or LOCAL), blobs=blobs, jobs=FakeJobStore(), chunks=FakeChunkStore(),
                   backend=WatchedBackend(clock, fail_ids), events=RecordingEventPublisher(),
                   now=lambda: iso(clock()))
    return svc, clock


def rendering_job(svc: Services, job_id: str = "job-watch", *, frames: str = "1-20", chunk_size: int = 5,
                  manifest: dict[str, Any] | None = None, max_retries: int = 2) -> dict[str, Any]:
    """A job planned into chunks, each with its first attempt queued (as add_render_tasks leaves it);
    returns the document with its chunks (as `chunks`, which the stored document keeps in pages)."""
    source = JobSource(SourceKind.HTTP, "scenes", "shot.blend", "http://blobs.invalid/scenes/shot.blend", "0x1")
    doc = job_document(job_id, source, now=svc.now(), renders_container="renders")
    spec = JobSpec(frames=FrameSet.parse(frames), fps=24, resolution=Resolution(64, 36), chunk_size=chunk_size,
                   max_retries=max_retries)
    chunks = plan_chunks(spec.frames, chunk_size)
    doc.update(status="rendering", spec=spec.to_json(), manifest=manifest or {"frames": frames},
               bundle={"kind": "blend", "blendPath": "shot.blend"},
               input={"container": "renders", "blob": f"{job_id}/input/shot.blend", "eTag": "0x1", "size": 10})
    doc["timestamps"]["startedAt"] = svc.now()
    pages = write_chunks(svc.chunks, job_id, chunks_to_json(start_attempts(chunks, [c.id for c in chunks])))
    record_pages(doc, pages)
    svc.jobs.create(doc)
    svc.backend.create_job(job_id)
    return with_chunks(svc, doc)


def with_chunks(svc: Services, doc: dict[str, Any]) -> dict[str, Any]:
    """The job document with its chunks read from their pages, for tests that look at both."""
    return {**doc, "chunks": read_chunks(svc.chunks, doc["id"])}


def run_tasks(svc: Services, job_id: str, seconds: dict[str, float]) -> None:
    """Add tasks that run for the given seconds on the manual clock (FakeRenderBackend's `sleep`)."""
    svc.backend.add_tasks(job_id, [TaskSpec(id=t, argv=("sleep", str(s))) for t, s in seconds.items()])


def put_json(svc: Services, blob: str, body: Any) -> None:
    svc.blobs.upload("renders", blob, json.dumps(body).encode(), overwrite=True)


def heartbeat(svc: Services, job_id: str, task_id: str, frame_seconds: dict[int, float]) -> None:
    put_json(svc, layout.heartbeat_blob(job_id, task_id), {
        "taskId": task_id, "status": "running", "framesDone": list(frame_seconds),
        "frameSeconds": {str(f): s for f, s in frame_seconds.items()}, "currentFrame": None,
        "updatedAt": svc.now(), "startedAt": svc.now()})


def marker(svc: Services, job_id: str, task_id: str, frame_seconds: dict[int, float], *, ok: bool = True,
           reason: str | None = None) -> None:
    put_json(svc, layout.marker_blob(job_id, task_id), {
        "taskId": task_id, "status": "succeeded" if ok else "failed", "reason": reason,
        "frameSeconds": {str(f): s for f, s in frame_seconds.items()},
        "blender": {"version": "5.0.1", "buildHash": "a3db93c5b259"}, "ffmpeg": {"version": "7.0.2-static"}})
