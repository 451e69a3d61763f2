"""A bench-only Functions app: the real render_job orchestrations and the real activity
handlers (shared.pipeline.steps), bound to in-memory fakes and a simulated render node
whose tasks succeed at once. `python -m devhost --app-dir bench/apps/scale` runs it, so
bench/orchestration_scale.py measures devhost's real Durable runtime and nothing renders.

Routes (anonymous, loopback only):
  POST /api/bench/jobs/{frames}[?chunkSize=N]  uploads a bundle of that many frames and starts render_job
  GET  /api/bench/stats          CPU seconds spent inside the activity handlers, per activity, and the
                                 document writes (job documents, chunk pages) and their bytes
"""

from __future__ import annotations

import io
import itertools
import json
import sys
import threading
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # devhost chdirs into this app; the project's packages live at the root

import azure.durable_functions as df  # noqa: E402
import azure.functions as func  # noqa: E402

from orchestrators.render_job import bp as render_job  # noqa: E402
from shared import names  # noqa: E402
from shared.adapters.fake_blob_store import FakeBlobStore  # noqa: E402
from shared.adapters.fake_chunk_store import FakeChunkStore  # noqa: E402
from shared.adapters.fake_event_publisher import RecordingEventPublisher  # noqa: E402
from shared.adapters.fake_job_store import FakeJobStore  # noqa: E402
from shared.adapters.fake_render_backend import FakeRenderBackend  # noqa: E402
from shared.bootstrap import Services  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.job_document import JobSource, SourceKind, upload_job_id  # noqa: E402
from shared.pipeline import steps  # noqa: E402
from shared.tasks import TaskResult, TaskSpec  # noqa: E402
from tests.pipeline.sim import SimulatedBackend  # noqa: E402

CHUNK_SIZE = 10
MAX_FRAMES = 100_000



# Request units of one write by item size, as Cosmos DB documents them (learn.microsoft.com/azure/
# cosmos-db/understand-request-unit-consumption, "Document size": KB → RU); between two sizes the
# cost is interpolated, above the last it grows in proportion. An estimate: indexing and the number
# of properties move real charges (the chunks container indexes only /page).
WRITE_RU = ((1, 4.95), (2, 6.29), (4, 6.67), (8, 7.04), (16, 9.52), (32, 11.23), (64, 22.67), (128, 48.19),
            (256, 98.29), (512, 184.57), (1024, 625.0), (2048, 1250.0))


def write_ru(size_bytes: int) -> float:
    kb = max(size_bytes / 1024, 1.0)
    for (low, low_ru), (high, high_ru) in itertools.pairwise(WRITE_RU):
        if kb <= high:
            return low_ru + (high_ru - low_ru) * (kb - low) / (high - low)
    return WRITE_RU[-1][1] * kb / WRITE_RU[-1][0]


class _WriteCounter:
    """Counts the bytes and estimated request units of each document a store writes."""

    bytes_written = 0
    ru_estimate = 0.0
    largest = 0

    def _count(self, doc: dict[str, Any]) -> None:
        size = len(json.dumps(doc))
        self.bytes_written += size
        self.ru_estimate += write_ru(size)
        self.largest = max(self.largest, size)


class _CountingJobStore(FakeJobStore, _WriteCounter):
    def _stored(self, doc: dict[str, Any]) -> dict[str, Any]:
        self._count(doc)
        return super()._stored(doc)


class _CountingChunkStore(FakeChunkStore, _WriteCounter):
    def _stored(self, page: dict[str, Any]) -> dict[str, Any]:
        self._count(page)
        return super()._stored(page)


class _Backend(SimulatedBackend):
    """SimulatedBackend without its per-task get_task (each one re-scans every task of the job:
    quadratic in the tasks added at once, which would be the harness's cost, not the pipeline's)."""

    def add_tasks(self, job_id: str, tasks: Sequence[TaskSpec]) -> None:
        FakeRenderBackend.add_tasks(self, job_id, tasks)
        states = {s.id: s for s in self.list_tasks(job_id)}
        for task in tasks:
            state = states[task.id]
            self._leave_outputs(task, state.result == TaskResult.SUCCESS, state.exit_code or 0)


_blobs = FakeBlobStore()
_blobs.ensure_container("scenes")
_blobs.ensure_container("renders")
SERVICES = Services(
    settings=Settings.from_env({"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
                                "COSMOS_ENDPOINT": "https://cosmos.invalid/", "LOCALBATCH_URL": "http://lb.invalid",
                                "DEFAULT_CHUNK_SIZE": str(CHUNK_SIZE)}),
    blobs=_blobs, jobs=_CountingJobStore(), chunks=_CountingChunkStore(), backend=_Backend(_blobs),
    events=RecordingEventPublisher())

# The fakes are not thread-safe and devhost runs activities on a pool: one at a time.
_lock = threading.Lock()
_cpu: dict[str, float] = defaultdict(float)
_calls: dict[str, int] = defaultdict(int)

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(render_job)

STEPS: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
    names.REGISTER_JOB: steps.register_job, names.VALIDATE_BUNDLE: steps.validate_bundle_step,
    names.START_BATCH_JOB: steps.start_batch_job, names.PLAN_JOB: steps.plan_job,
    names.ADD_RENDER_TASKS: steps.add_render_tasks, names.POLL_TASKS: steps.poll_tasks,
    names.COLLECT_RENDER_RESULTS: steps.collect_render_results, names.ADD_STITCH_TASK: steps.add_stitch_task,
    names.VERIFY_OUTPUTS: steps.verify_outputs, names.FINALIZE_JOB: steps.finalize_job,
    names.FAIL_JOB: steps.fail_job,
}


def _activity(name: str, step: Callable[[Any, dict[str, Any]], dict[str, Any]]) -> None:
    def handler(payload: dict[str, Any]) -> dict[str, Any]:
        with _lock:
            started = time.thread_time()
            try:
                return step(SERVICES, payload)
            finally:
                _cpu[name] += time.thread_time() - started
                _calls[name] += 1
    handler.__name__ = name
    app.activity_trigger(input_name="payload", activity=name)(handler)


for _name, _step in STEPS.items():
    _activity(_name, _step)


def _bundle(frames: int, chunk_size: int) -> bytes:
    manifest = {"frames": f"1-{frames}", "chunkSize": chunk_size, "fps": 24, "resolution": "320x180",
                "video": {"name": "bench.mp4"}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("shot.blend", b"BLENDER-v500" + b"\0" * 64)
        archive.writestr("render.json", json.dumps(manifest))
    return buffer.getvalue()


@app.route(route="bench/jobs/{frames:int}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def bench_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    frames = int(req.route_params["frames"])
    chunk_size = req.params.get("chunkSize", str(CHUNK_SIZE))
    if not 1 <= frames <= MAX_FRAMES or not chunk_size.isdigit() or not 1 <= int(chunk_size) <= MAX_FRAMES:
        return func.HttpResponse(json.dumps({"error": f"frames and chunkSize must be 1..{MAX_FRAMES}"}),
                                 status_code=400)
    name = f"bench/frames-{frames}-{time.time_ns()}.zip"
    with _lock:
        info = _blobs.upload("scenes", name, _bundle(frames, int(chunk_size)))
    url = _blobs.url("scenes", name)
    job_id = upload_job_id(url, info.etag)
    source = JobSource(kind=SourceKind.BLOB, container="scenes", blob_name=name, blob_url=url, etag=info.etag)
    poll = float(req.params.get("pollSeconds", "1"))
    await client.start_new(names.RENDER_JOB, job_id, {"jobId": job_id, "source": source.to_json(), "request": {},
                                                      "pollSeconds": poll})
    return func.HttpResponse(json.dumps({"jobId": job_id}), status_code=202, mimetype="application/json")


@app.route(route="bench/stats", methods=["GET"])
def bench_stats(req: func.HttpRequest) -> func.HttpResponse:
    with _lock:
        jobs, chunks = SERVICES.jobs, SERVICES.chunks
        assert isinstance(jobs, _CountingJobStore) and isinstance(chunks, _CountingChunkStore)
        body = {"activityCpuSeconds": dict(_cpu), "activityCalls": dict(_calls),
                "jobWrites": jobs.writes, "jobBytesWritten": jobs.bytes_written, "jobWriteRu": jobs.ru_estimate,
                "pageWrites": chunks.writes, "pageBytesWritten": chunks.bytes_written,
                "pageWriteRu": chunks.ru_estimate, "largestPageBytes": chunks.largest}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")
