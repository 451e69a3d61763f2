"""The whole render_job orchestration over the real steps, with in-memory adapters and a
simulated render node: what lands in the job document, the backend and the renders container."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import azure.durable_functions as df
import pytest

from orchestrators.render_job import bp
from shared import names
from shared.adapters.fake_blob_store import FakeBlobStore
from shared.adapters.fake_chunk_store import FakeChunkStore
from shared.adapters.fake_event_publisher import RecordingEventPublisher
from shared.adapters.fake_job_store import FakeJobStore
from shared.bootstrap import Services
from shared.chunk_pages import PAGE_SIZE
from shared.config import Settings
from shared.job_chunks import read_chunks
from shared.job_document import JobSource, SourceKind, upload_job_id
from shared.pipeline import runs, steps
from tests.pipeline.replay import Replay
from tests.pipeline.sim import SimulatedBackend

BLEND = b"BLENDER-v500" + b"\0" * 64
INSPECTION = {"active_scene": "Scene", "blender_version": "5.0.1", "scenes": [{
    "name": "Scene", "frame_start": 1, "frame_end": 24, "frame_step": 1, "fps": 24, "fps_base": 1.0,
    "resolution_x": 320, "resolution_y": 180, "resolution_percentage": 100, "engine": "CYCLES"}]}
ACTIVITIES = {
    names.REGISTER_JOB: steps.register_job, names.VALIDATE_BUNDLE: steps.validate_bundle_step,
    names.START_BATCH_JOB: steps.start_batch_job, names.PLAN_JOB: steps.plan_job,
    names.ADD_RENDER_TASKS: steps.add_render_tasks, names.POLL_TASKS: steps.poll_tasks,
    names.COLLECT_RENDER_RESULTS: steps.collect_render_results, names.ADD_STITCH_TASK: steps.add_stitch_task,
    names.VERIFY_OUTPUTS: steps.verify_outputs, names.FINALIZE_JOB: steps.finalize_job,
    names.FAIL_JOB: steps.fail_job, names.START_RENDERING: runs.start_rendering,
    names.START_RUN: runs.start_run, names.REQUEUE_CHUNKS: runs.requeue_chunks, names.SIZE_CHUNKS: steps.size_chunks,
}


@pytest.fixture(scope="module")
def functions() -> list[Any]:
    app = df.DFApp()
    app.register_functions(bp)
    return app.get_functions()


def make_services(fail_ids: tuple[str, ...] = (), **backend: Any) -> Services:
    settings = Settings.from_env({"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
                                  "COSMOS_ENDPOINT": "https://cosmos.invalid/", "LOCALBATCH_URL": "http://lb.invalid",
                                  "DEFAULT_CHUNK_SIZE": "10"})
    blobs = FakeBlobStore()
    blobs.ensure_container("scenes")
    blobs.ensure_container("renders")
    sim = SimulatedBackend(blobs, fail_ids=fail_ids, **{"inspection": INSPECTION, **backend})
    return Services(settings=settings, blobs=blobs, jobs=FakeJobStore(), chunks=FakeChunkStore(), backend=sim,
                    events=RecordingEventPublisher(), now=lambda: "2026-11-26T12:00:00.000Z")


def bundle_zip(manifest: dict[str, Any] | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("shot010.blend", BLEND)
        archive.writestr("textures/wood.png", b"png")
        if manifest is not None:
            archive.writestr("render.json", json.dumps(manifest))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _bound(step: Any, svc: Services) -> Any:
    return lambda payload: step(svc, payload)


def run_upload(functions: list[Any], svc: Services, data: bytes, name: str = "artist-a/shot010.zip") -> tuple[
        str, Any]:
    info = svc.blobs.upload("scenes", name, data)
    url = svc.blobs.url("scenes", name)
    job_id = upload_job_id(url, info.etag)
    source = JobSource(kind=SourceKind.BLOB, container="scenes", blob_name=name, blob_url=url, etag=info.etag)
    table = {n: _bound(f, svc) for n, f in ACTIVITIES.items()}
    replay = Replay(functions, table)
    run = replay.run(names.RENDER_JOB, {"jobId": job_id, "source": source.to_json(), "request": {},
                                        "pollSeconds": 5}, job_id)
    return job_id, run


def test_an_upload_renders_every_chunk_stitches_and_completes(functions):
    svc = make_services()
    uploaded = bundle_zip()
    job_id, run = run_upload(functions, svc, uploaded)
    assert run.status == "Completed", run.error
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed"
    assert doc["spec"]["frames"] == "1-24"           # from the .blend, via the inspect task
    assert doc["spec"]["resolution"] == {"width": 320, "height": 180}
    chunks = read_chunks(svc.chunks, job_id)
    assert [c["id"] for c in chunks] == ["chunk-0001", "chunk-0002", "chunk-0003"] and doc["chunkCount"] == 3
    assert all(c["status"] == "succeeded" and c["attempts"] == 1 for c in chunks)
    assert doc["progress"]["framesDone"] == doc["progress"]["framesTotal"] == 24
    assert doc["outputs"]["videoBlob"] == f"{job_id}/video.mp4"
    assert doc["outputs"]["videoFrames"] == 24
    frames = sorted(b.name for b in svc.blobs.list("renders", f"{job_id}/frames/"))
    assert frames[0] == f"{job_id}/frames/shot010_0001.png" and len(frames) == 24
    assert svc.events.types() == ["RenderPipeline.Job.Queued", "RenderPipeline.Job.Started",
                                  "RenderPipeline.Job.Completed"]
    assert svc.blobs.download("scenes", "artist-a/shot010.zip") == uploaded  # the upload is untouched


def test_a_render_json_overrides_the_blend_which_is_still_inspected_first(functions):
    svc = make_services()
    manifest = {"frames": "1001-1012", "fps": 25, "resolution": "96x54", "chunkSize": 4,
                "video": {"name": "shot010.mp4", "crf": 20}}
    job_id, run = run_upload(functions, svc, bundle_zip(manifest))
    assert run.status == "Completed"
    doc = svc.jobs.get(job_id)
    assert doc["spec"]["frames"] == "1001-1012" and doc["spec"]["chunkSize"] == 4
    task_ids = [task.id for _, task in svc.backend.added]
    # The inspection checks the .blend opens and has the scene, even when the manifest says it all.
    assert task_ids == [names.INSPECT_TASK_ID, "chunk-0001", "chunk-0002", "chunk-0003", "stitch"]
    stitch = svc.backend.added[-1][1]
    assert "-start_number" in stitch.argv and "1001" in stitch.argv
    assert doc["outputs"]["videoBlob"] == f"{job_id}/shot010.mp4"


def test_a_chunk_that_fails_once_is_rerendered_and_the_job_completes(functions):
    svc = make_services(fail_ids=("chunk-0002",))
    job_id, run = run_upload(functions, svc, bundle_zip())
    assert run.status == "Completed"
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed"
    chunk = next(c for c in read_chunks(svc.chunks, job_id) if c["id"] == "chunk-0002")
    assert chunk["attempts"] == 2 and chunk["status"] == "succeeded"
    assert doc["history"]["requeues"] == 1
    assert "chunk-0002-r1" in [task.id for _, task in svc.backend.added]


def test_frames_that_fail_every_attempt_fail_the_job_naming_the_frames(functions):
    svc = make_services(fail_ids=("chunk-0002", "chunk-0002-r1", "chunk-0002-r2"))
    job_id, _ = run_upload(functions, svc, bundle_zip())
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "frames_failed"
    assert "11-20" in doc["error"]["message"]
    assert doc["error"]["details"]["chunks"][0]["attempts"] == 3
    assert names.STITCH_TASK_ID not in [task.id for _, task in svc.backend.added]
    assert svc.events.types()[-1] == "RenderPipeline.Job.Failed"
    assert svc.backend.jobs[job_id].terminated


@pytest.mark.parametrize(("data", "code"), [
    (b"not a bundle at all", "bundle_not_zip_or_blend"),
    (bundle_zip(extra={"../escape.txt": b"x"}), "bundle_unsafe_path"),
    (bundle_zip(manifest={"frames": "20-10"}), "manifest_invalid"),
    (bundle_zip(manifest={"resolution": "3x3"}), "manifest_invalid"),  # no task for a frame Blender cannot make
])
def test_a_bad_bundle_fails_the_job_with_a_clear_error(functions, data, code):
    svc = make_services()
    job_id, _ = run_upload(functions, svc, data)
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == code, doc["error"]
    assert doc["error"]["message"]
    assert svc.backend.added == []


def test_a_video_with_the_wrong_frame_count_fails_verification(functions):
    svc = make_services(video_frames=10)
    job_id, _ = run_upload(functions, svc, bundle_zip())
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "video_frame_count"


def test_running_a_step_twice_changes_nothing_more(functions):
    svc = make_services()
    job_id, _ = run_upload(functions, svc, bundle_zip())
    before = svc.jobs.get(job_id)
    chunks_before = read_chunks(svc.chunks, job_id)
    added = len(svc.backend.added)
    steps.add_render_tasks(svc, {"jobId": job_id, "attempt": 0})
    steps.finalize_job(svc, {"jobId": job_id, "outputs": before["outputs"]})
    after = svc.jobs.get(job_id)
    assert len(svc.backend.added) == added
    assert after["status"] == "completed" and read_chunks(svc.chunks, job_id) == chunks_before
    assert svc.events.types().count("RenderPipeline.Job.Completed") == 2  # same event id: a duplicate


def test_a_missing_scene_in_the_blend_is_a_clear_error(functions):
    svc = make_services()
    job_id, _ = run_upload(functions, svc, bundle_zip({"scene": "Nope"}))
    doc = svc.jobs.get(job_id)
    assert doc["error"]["code"] == "scene_not_found"
    assert "Scene" in doc["error"]["message"]


def test_a_10000_frame_job_keeps_every_instance_history_small(functions):
    svc = make_services()
    manifest = {"frames": "1-10000", "fps": 24, "resolution": "64x36", "chunkSize": 10, "video": None}
    job_id, run = run_upload(functions, svc, bundle_zip(manifest))
    assert run.status == "Completed", run.error
    doc = svc.jobs.get(job_id)
    assert len(read_chunks(svc.chunks, job_id)) == 1000 and doc["progress"]["framesDone"] == 10000
    assert len([task for _, task in svc.backend.added if task.id != names.INSPECT_TASK_ID]) == 1000
    # The chunks live in their pages, not in any orchestration's history.
    assert run.max_history < 100


def test_a_bundle_overwritten_before_validation_fails_its_job_and_leaves_the_new_upload_alone(functions):
    svc = make_services()
    first = svc.blobs.upload("scenes", "artist-a/shot010.zip", bundle_zip())
    url = svc.blobs.url("scenes", "artist-a/shot010.zip")
    job_id = upload_job_id(url, first.etag)
    source = JobSource(kind=SourceKind.BLOB, container="scenes", blob_name="artist-a/shot010.zip", blob_url=url,
                       etag=first.etag)
    steps.register_job(svc, {"jobId": job_id, "source": source.to_json(), "request": {}})
    newer = bundle_zip({"frames": "1-2", "fps": 24, "resolution": "64x36"})
    svc.blobs.upload("scenes", "artist-a/shot010.zip", newer, overwrite=True)
    result = steps.validate_bundle_step(svc, {"jobId": job_id})
    assert result["ok"] is False
    assert result["error"]["code"] == "bundle_changed"
    assert svc.blobs.download("scenes", "artist-a/shot010.zip") == newer


def test_a_10000_chunk_job_runs_end_to_end_and_no_update_rewrites_the_chunk_list(functions):
    """10,000 frames at chunk size 1: 10,000 render tasks plus the stitch, through the real
    orchestration over the simulated backend. Every chunk write replaces one page of at most
    PAGE_SIZE chunks; the job document holds the counts, not the chunks."""
    svc = make_services()
    replaced: list[int] = []
    replace_page = svc.chunks.replace_page

    def counted(page: dict, *, etag: str) -> dict:
        replaced.append(len(page["chunks"]))
        return replace_page(page, etag=etag)
    svc.chunks.replace_page = counted  # type: ignore[method-assign]
    manifest = {"frames": "1-10000", "fps": 24, "resolution": "64x36", "chunkSize": 1, "video": {"name": "v.mp4"}}
    job_id, run = run_upload(functions, svc, bundle_zip(manifest))
    assert run.status == "Completed", run.error
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed" and doc["chunkCount"] == 10_000 and doc["chunkPageCount"] == 50
    assert doc["progress"]["framesDone"] == doc["progress"]["chunksDone"] == 10_000
    chunks = read_chunks(svc.chunks, job_id)
    assert len(chunks) == 10_000 and all(c["status"] == "succeeded" for c in chunks)
    added = [task.id for _, task in svc.backend.added]
    assert len(added) == 10_002 and added[-1] == "stitch"  # inspect, 10,000 renders, the stitch
    assert replaced and max(replaced) <= PAGE_SIZE
    assert len(json.dumps(doc)) < 64_000  # counts per page, never the chunks
    assert run.max_history < 100
