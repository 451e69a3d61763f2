"""A job without chunkSize through the whole render_job orchestration, over the real steps and a
simulated node whose markers time each frame: probes first, then the rest sized from them."""

from __future__ import annotations

import json
from collections.abc import Sequence
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
from shared.chunk_pages import record_pages
from shared.config import Settings
from shared.frames import FrameSet
from shared.job_chunks import read_chunks, write_chunks
from shared.pipeline import steps
from shared.planning import chunks_to_json, plan_probe_chunks
from shared.tasks import TaskSpec
from tests.pipeline.replay import Replay
from tests.pipeline.sim import SimulatedBackend
from tests.pipeline.test_orchestration import Activities, run_job
from tests.pipeline.test_pipeline_steps import INSPECTION, bundle_zip, run_upload

SECONDS_PER_FRAME = 2.0


class TimedBackend(SimulatedBackend):
    """Markers that say how long each frame took, as the node's task runner writes them."""

    def _leave_outputs(self, task: TaskSpec, ok: bool, exit_code: int) -> None:
        super()._leave_outputs(task, ok, exit_code)
        marker = next((o for o in task.output_files if o.pattern == "marker.json"), None)
        frames = next((task.argv[i + 1] for i, a in enumerate(task.argv[:-1]) if a == "--frames"), None)
        if marker is None or frames is None:
            return
        data = json.loads(self.blobs.download(marker.container, marker.prefix))
        numbers = [int(x) for part in frames.split(",") for x in _expand(part)]
        data["frameSeconds"] = {str(f): SECONDS_PER_FRAME for f in numbers}
        self.blobs.upload(marker.container, marker.prefix, json.dumps(data).encode(), overwrite=True)


def _expand(part: str) -> Sequence[int]:
    if "-" in part:
        first, last = part.split("-")
        return range(int(first), int(last) + 1)
    return [int(part)]


@pytest.fixture(scope="module")
def functions() -> list[Any]:
    app = df.DFApp()
    app.register_functions(bp)
    return app.get_functions()


def auto_services(target: int = 30, **backend: Any) -> Services:
    settings = Settings.from_env({"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
                                  "COSMOS_ENDPOINT": "https://cosmos.invalid/", "LOCALBATCH_URL": "http://lb.invalid",
                                  "TASK_SLOTS_PER_NODE": "2", "TARGET_TASK_SECONDS": str(target),
                                  "NODE_CORES": "2"})
    assert settings.default_chunk_size is None  # the default: sized automatically
    blobs = FakeBlobStore()
    blobs.ensure_container("scenes")
    blobs.ensure_container("renders")
    sim = TimedBackend(blobs, **{"inspection": INSPECTION, **backend})
    return Services(settings=settings, blobs=blobs, jobs=FakeJobStore(), chunks=FakeChunkStore(), backend=sim,
                    events=RecordingEventPublisher(), now=lambda: "2026-11-26T12:00:00.000Z")


def test_a_job_without_chunk_size_renders_probes_then_chunks_sized_to_the_target(functions):
    svc = auto_services(target=30)
    job_id, run = run_upload(functions, svc, bundle_zip())  # frames 1-24 from the .blend
    assert run.status == "Completed", run.error
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed" and doc["spec"]["chunkSize"] == "auto"
    added = [task.id for _, task in svc.backend.added]
    # Two probes (one per slot: the first and the last frame), then the 22 frames left in whole
    # waves of 2: 30 s / 2 s a frame → ~15 frames a task → 2 chunks of 11.
    assert added == [names.INSPECT_TASK_ID, "probe-0001", "probe-0002", "chunk-0001", "chunk-0002", "stitch"]
    frames = {c["id"]: c["frames"] for c in read_chunks(svc.chunks, job_id)}
    assert frames == {"probe-0001": "1", "probe-0002": "24", "chunk-0001": "2-12", "chunk-0002": "13-23"}
    assert doc["sizing"]["secondsPerFrame"] == SECONDS_PER_FRAME and doc["sizing"]["chunkSize"] == 11
    assert doc["progress"]["framesDone"] == doc["progress"]["framesTotal"] == 24
    assert doc["outputs"]["videoFrames"] == 24
    render = next(task for _, task in svc.backend.added if task.id == "chunk-0001")
    assert render.argv[render.argv.index("-t") + 1] == "1"  # 2 cores shared by 2 slots


def test_the_probe_wave_and_the_sized_wave_wait_under_instance_ids_of_their_own(functions):
    svc = auto_services(target=30)
    job_id, run = run_upload(functions, svc, bundle_zip())
    assert run.status == "Completed", run.error
    waits = [e.get("InstanceId") for e in run.history if e.get("InstanceId")]
    assert waits == [f"{job_id}:inspect", f"{job_id}:probe:0", f"{job_id}:render:0", f"{job_id}:stitch"]


def test_a_fixed_chunk_size_renders_as_before_without_probes_or_sizing(functions):
    svc = auto_services(target=30)
    job_id, run = run_upload(functions, svc, bundle_zip({"chunkSize": 12}))
    assert run.status == "Completed", run.error
    assert [task.id for _, task in svc.backend.added] == [names.INSPECT_TASK_ID, "chunk-0001", "chunk-0002",
                                                          "stitch"]
    assert "sizing" not in svc.jobs.get(job_id)


def test_a_probe_that_fails_once_is_rendered_again_before_the_rest_is_sized(functions):
    svc = auto_services(target=30, fail_ids=("probe-0002",))
    job_id, run = run_upload(functions, svc, bundle_zip())
    assert run.status == "Completed", run.error
    added = [task.id for _, task in svc.backend.added]
    assert added.index("probe-0002-r1") < added.index("chunk-0001")
    assert svc.jobs.get(job_id)["progress"]["framesDone"] == 24


def test_progress_counts_the_whole_shot_while_only_the_probes_are_planned():
    """Before sizing only the probes are stored; the ETA and the dashboard still need 24 frames, not 2."""
    store = FakeChunkStore()
    probes = plan_probe_chunks(FrameSet.parse("1-24"), 2)
    pages = write_chunks(store, "job-probes", chunks_to_json(probes))
    doc: dict[str, Any] = {"id": "job-probes", "framesPlanned": 24}
    assert record_pages(doc, pages)
    assert doc["chunkCount"] == 2 and doc["progress"]["framesTotal"] == 24
    assert record_pages(bare := {"id": "job-probes"}, pages) and bare["progress"]["framesTotal"] == 2


def test_sizing_twice_adds_nothing(functions):
    svc = auto_services(target=30)
    job_id, run = run_upload(functions, svc, bundle_zip())
    assert run.status == "Completed", run.error
    before = read_chunks(svc.chunks, job_id)
    assert steps.size_chunks(svc, {"jobId": job_id})["chunks"] == 0
    assert read_chunks(svc.chunks, job_id) == before


# ---------------------------------------------------------------- the flow alone (answers stubbed)


def test_the_flow_is_probes_then_sizing_then_the_sized_rounds(functions):
    acts = Activities()
    acts.answers[names.PLAN_JOB] = {"ok": True, "video": True, "chunks": 2, "sizeChunks": True}
    acts.answers[names.SIZE_CHUNKS] = {"ok": True, "chunks": 2, "chunkSize": 23}
    replay, run = run_job(functions, acts)
    assert run.status == "Completed"
    assert acts.names_called() == [
        names.REGISTER_JOB, names.VALIDATE_BUNDLE, names.START_BATCH_JOB, names.PLAN_JOB,
        names.ADD_RENDER_TASKS, names.COLLECT_RENDER_RESULTS, names.SIZE_CHUNKS,
        names.ADD_RENDER_TASKS, names.COLLECT_RENDER_RESULTS, names.ADD_STITCH_TASK,
        names.VERIFY_OUTPUTS, names.FINALIZE_JOB]
    assert set(replay.runs) == {"job-1", "job-1:inspect", "job-1:probe:0", "job-1:render:0", "job-1:stitch"}
    # The probe wait polls as a render wait does (task states onto chunks, frame times).
    assert {p["phase"] for n, p in acts.calls if n == names.POLL_TASKS} == {"inspect", "render", "stitch"}


def test_a_later_run_of_an_unsized_job_probes_and_sizes_too(functions):
    acts = Activities()
    acts.answers[names.START_RUN] = {"planned": True, "video": False, "sizeChunks": True}
    acts.answers[names.SIZE_CHUNKS] = {"ok": True, "chunks": 2, "chunkSize": 23}
    replay = Replay(functions, acts.table())
    run = replay.run(names.RENDER_JOB, {"jobId": "job-1", "pollSeconds": 5, "run": 2}, "job-1")
    assert run.status == "Completed"
    assert acts.names_called() == [names.START_RUN, names.ADD_RENDER_TASKS, names.COLLECT_RENDER_RESULTS,
                                   names.SIZE_CHUNKS, names.ADD_RENDER_TASKS, names.COLLECT_RENDER_RESULTS,
                                   names.VERIFY_OUTPUTS, names.FINALIZE_JOB]
    assert set(replay.runs) == {"job-1", "job-1:run2:probe:0", "job-1:run2:render:0"}


def test_probes_that_keep_failing_fail_the_job_before_anything_is_sized(functions):
    acts = Activities()
    acts.answers[names.PLAN_JOB] = {"ok": True, "video": True, "chunks": 2, "sizeChunks": True}
    acts.answers[names.SIZE_CHUNKS] = {"ok": True, "chunks": 0}
    acts.answers[names.COLLECT_RENDER_RESULTS] = {"retry": False, "error": {"code": "frames_failed",
                                                                             "message": "frames 1 failed"}}
    _, run = run_job(functions, acts)
    assert run.output["status"] == "failed" and run.output["error"]["code"] == "frames_failed"
    assert names.SIZE_CHUNKS not in acts.names_called()


def test_cancel_and_the_history_route_know_the_probe_waits():
    from shared.pipeline.jobs_api import wait_instances

    listed = wait_instances("job-1", max_retries=2)
    assert {"job-1:probe:0", "job-1:probe:1", "job-1:probe:2"} <= set(listed)
    assert "job-1:run2:probe:0" in wait_instances("job-1", max_retries=2, run=2)
