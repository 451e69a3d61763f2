"""Job control over the real steps and the simulated node: retry runs, pause and resume,
scheduled starts, priority, preview frame order, and reconciling a job whose orchestration ended."""

from __future__ import annotations

import itertools
from typing import Any

import azure.durable_functions as df
import pytest

from orchestrators.render_job import bp
from shared import names
from shared.errors import ConflictError, ValidationError
from shared.job_chunks import read_chunks
from shared.pipeline import control, steps
from tests.pipeline.control_harness import ReplayClient, gather, run_job, upload
from tests.pipeline.test_pipeline_steps import bundle_zip, make_services

SMALL = {"frames": "1-30", "chunkSize": 10, "resolution": "64x36", "video": None}


@pytest.fixture(scope="module")
def functions() -> list[Any]:
    app = df.DFApp()
    app.register_functions(bp)
    return app.get_functions()


def added_ids(svc: Any, batch_job: str) -> list[str]:
    return [task.id for job, task in svc.backend.added if job == batch_job]


def failed_job(functions: list[Any], manifest: dict[str, Any] | None = None) -> tuple[Any, str, ReplayClient]:
    svc = make_services(fail_ids=("chunk-0002", "chunk-0002-r1", "chunk-0002-r2"))
    job_id, request = upload(svc, bundle_zip(manifest or SMALL))
    client = ReplayClient()
    run = run_job(functions, svc, request, client)
    assert run.status == "Completed" and svc.jobs.get(job_id)["status"] == "failed"
    return svc, job_id, client


def test_a_retry_renders_again_only_the_chunks_that_failed_in_a_run_of_its_own(functions):
    svc, job_id, client = failed_job(functions)
    svc.backend.fail_ids.clear()
    doc = gather(control.retry_job(svc, client, job_id, None))[0]
    assert doc["status"] == "rendering" and doc["run"] == 2
    run = run_job(functions, svc, client.started[job_id], client)
    assert run.status == "Completed", run.error
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed" and doc["error"] is None
    assert [(r["run"], r["status"]) for r in doc["runs"]] == [(1, "failed"), (2, "completed")]
    assert doc["runs"][0]["error"]["code"] == "frames_failed"
    # Frames rendered in run 1 are not rendered again: run 2's Batch job ran one chunk, from attempt 1.
    assert added_ids(svc, names.batch_job_id(job_id, 2)) == ["chunk-0002"]
    attempts = {c["id"]: c["attempts"] for c in read_chunks(svc.chunks, job_id)}
    assert attempts == {"chunk-0001": 1, "chunk-0002": 1, "chunk-0003": 1}
    assert "RenderPipeline.Job.Requeued" in svc.events.types()
    assert svc.events.types()[-1] == "RenderPipeline.Job.Completed"
    assert f"{job_id}:run2:render:0" in client.replay.runs  # the new run's waits have ids of their own


def test_retry_with_all_renders_every_chunk_and_named_chunks_only_those(functions):
    svc, job_id, client = failed_job(functions)
    svc.backend.fail_ids.clear()
    gather(control.retry_job(svc, client, job_id, {"chunks": ["chunk-0003"]}))
    run_job(functions, svc, client.started[job_id], client)
    assert added_ids(svc, names.batch_job_id(job_id, 2)) == ["chunk-0003"]
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "failed"  # chunk-0002 was not retried, so its frames are still missing
    gather(control.retry_job(svc, client, job_id, {"all": True}))
    run_job(functions, svc, client.started[job_id], client)
    assert added_ids(svc, names.batch_job_id(job_id, 3)) == ["chunk-0001", "chunk-0002", "chunk-0003"]
    assert svc.jobs.get(job_id)["status"] == "completed"


def test_a_late_update_from_an_earlier_run_never_touches_the_current_one(functions):
    svc, job_id, client = failed_job(functions)
    gather(control.retry_job(svc, client, job_id, None))
    before = svc.jobs.get(job_id)
    chunks_before = read_chunks(svc.chunks, job_id)
    late = {"jobId": job_id, "run": 1}
    steps.fail_job(svc, {**late, "error": {"code": "frames_failed", "message": "late"}})
    steps.finalize_job(svc, {**late, "outputs": {"videoUrl": "http://late"}})
    assert steps.add_render_tasks(svc, {**late, "attempt": 0}) == {"added": 0}
    steps.collect_render_results(svc, {**late, "attempt": 0})
    after = svc.jobs.get(job_id)
    assert after["status"] == "rendering" and after["run"] == 2
    assert read_chunks(svc.chunks, job_id) == chunks_before and after.get("outputs") == before.get("outputs")


def test_retry_answers_409_with_the_status_for_a_running_job_and_400_naming_the_field(functions):
    svc, job_id, client = failed_job(functions)
    gather(control.retry_job(svc, client, job_id, None))
    conflict = gather(control.retry_job(svc, client, job_id, None))[0]
    assert isinstance(conflict, ConflictError) and conflict.details == {"status": "rendering"}
    assert "rendering" in conflict.message
    for body, field in (({"chunks": "chunk-0001"}, "chunks"), ({"all": "yes"}, "all"), ({"every": True}, "every"),
                        ([1], "body"), ({"chunks": ["chunk-0001"], "all": True}, "chunks")):
        bad = gather(control.retry_job(svc, client, job_id, body))[0]
        assert isinstance(bad, ValidationError) and bad.field == field, body


def test_many_concurrent_retries_start_exactly_one_new_run(functions):
    svc, job_id, client = failed_job(functions)
    results = gather(*[control.retry_job(svc, client, job_id, None) for _ in range(12)])
    started = [r for r in results if isinstance(r, dict)]
    assert len(started) == 1 and all(isinstance(r, ConflictError) for r in results if r not in started)
    doc = svc.jobs.get(job_id)
    assert doc["run"] == 2 and len(doc["runs"]) == 2


# ---------------------------------------------------------------- pause and resume (a 30-day pause: test_long_pause.py)


def stuck_job(functions: list[Any], job_id: str) -> tuple[Any, ReplayClient]:
    """A rendered job's document copied as `job_id`, left rendering, with an empty Batch job."""
    svc = make_services()
    source_id, request = upload(svc, bundle_zip(SMALL))
    client = ReplayClient()
    run_job(functions, svc, request, client)
    doc = svc.jobs.get(source_id)
    doc.update(status="rendering", id=job_id)
    doc.pop("_etag")
    svc.jobs.create(doc)
    svc.backend.create_job(job_id)
    return svc, client


def test_pause_and_resume_mid_render_converge_however_many_come_at_once(functions):
    from tests.pipeline.control_harness import Locked

    svc, client = stuck_job(functions, "job-live")  # a job left mid-render
    svc.jobs, svc.backend = Locked(svc.jobs), Locked(svc.backend)  # type: ignore[misc]
    calls = []
    for n in range(30):
        calls.append(control.pause_job(svc, "job-live", {"mode": "requeue" if n % 2 else "wait"}))
        calls.append(control.resume_job(svc, client, "job-live", None))
    results = gather(*calls)
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, ConflictError)]
    final = svc.jobs.get("job-live")
    disabled = svc.backend._inner.jobs["job-live"].disabled
    assert final["status"] in ("paused", "rendering")
    assert disabled == (final["status"] == "paused")  # the Batch job agrees with the document
    statuses = [s["status"] for s in final["history"]["statuses"]]
    assert all(a != b for a, b in itertools.pairwise(statuses))  # every move was a real one
    cancelled = gather(control.pause_job(svc, "job-live", None), _cancel(svc, client, "job-live"),
                       control.resume_job(svc, client, "job-live", None))
    assert svc.jobs.get("job-live")["status"] == "cancelled" and svc.backend._inner.jobs["job-live"].terminated
    assert all(isinstance(r, dict | ConflictError) for r in cancelled)


async def _cancel(svc: Any, client: ReplayClient, job_id: str) -> Any:
    from shared.pipeline import jobs_api

    return await jobs_api.cancel_job(svc, client, job_id)  # type: ignore[arg-type]


def test_pause_requeue_sends_running_tasks_back_and_resume_runs_them(functions):
    from shared.adapters.fake_render_backend import FakeRenderBackend, ManualClock
    from shared.tasks import TaskSpec, TaskStatus

    clock = ManualClock()
    backend = FakeRenderBackend(clock=clock)
    backend.create_job("j")
    backend.add_tasks("j", [TaskSpec(id="a", argv=("sleep", "10")), TaskSpec(id="b", argv=("sleep", "10"))])
    assert {s.status for s in backend.list_tasks("j")} == {TaskStatus.RUNNING}
    backend.disable_job("j", "requeue")
    clock.advance(20)
    assert {s.status for s in backend.list_tasks("j")} == {TaskStatus.ACTIVE}  # back in the queue, not retried
    assert all(s.retry_count == 0 for s in backend.list_tasks("j"))
    backend.enable_job("j")
    clock.advance(10)
    assert {s.status for s in backend.list_tasks("j")} == {TaskStatus.COMPLETED}
    backend.add_tasks("j", [TaskSpec(id="c", argv=("sleep", "10"))])
    backend.disable_job("j", "wait")  # the running task finishes; nothing new starts
    backend.add_tasks("j", [TaskSpec(id="d", argv=("sleep", "1"))])
    clock.advance(10)
    states = {s.id: s.status for s in backend.list_tasks("j")}
    assert states["c"] == TaskStatus.COMPLETED and states["d"] == TaskStatus.ACTIVE


def test_priority_changes_the_document_and_the_batch_job_and_refuses_bad_values(functions):
    svc = make_services()
    job_id, request = upload(svc, bundle_zip(SMALL))
    client = ReplayClient()
    # A paused job whose Batch job exists (held): priority changes while it waits.
    svc.backend.create_job(job_id)
    svc.backend.disable_job(job_id, "wait")
    from shared.job_document import JobSource, job_document

    svc.jobs.create({**job_document(job_id, JobSource.from_json(request["source"]), now="T",
                                    renders_container="renders"), "status": "paused",
                     "pause": {"mode": "wait", "resumeTo": "rendering"}})
    updated = control.set_priority(svc, job_id, {"priority": 700})
    assert updated["manifest"]["priority"] == 700 and svc.backend.jobs[job_id].priority == 700
    assert svc.backend.jobs[job_id].disabled  # still paused: the PATCH resumed nothing
    for body, field in (({"priority": 1001}, "priority"), ({"priority": True}, "priority"),
                        ({"priority": "5"}, "priority"), ({}, "priority"), ({"priority": 1, "x": 2}, "x")):
        with pytest.raises(ValidationError) as bad:
            control.set_priority(svc, job_id, body)
        assert bad.value.field == field
    gather(_cancel(svc, client, job_id))
    with pytest.raises(ConflictError) as finished:
        control.set_priority(svc, job_id, {"priority": 1})
    assert finished.value.details == {"status": "cancelled"}


# ---------------------------------------------------------------- scheduled start


def test_a_scheduled_job_is_planned_at_once_and_renders_only_after_its_time(functions):
    svc = make_services()  # its clock says 2026-11-26T12:00:00Z
    job_id, request = upload(svc, bundle_zip({**SMALL, "notBefore": "2026-11-26T15:30:00+01:00"}))
    client = ReplayClient()
    seen: dict[str, Any] = {}

    def look() -> None:
        seen.setdefault("doc", svc.jobs.get(job_id))
        seen.setdefault("chunks", read_chunks(svc.chunks, job_id))
        seen.setdefault("tasks", [t.id for _, t in svc.backend.added])
    from tests.pipeline.control_harness import table
    from tests.pipeline.replay import Replay

    client.replay = Replay(functions, table(svc))
    client.replay.on_quiet = look
    run = run_job(functions, svc, request, client)
    assert run.status == "Completed", run.error
    assert seen["doc"]["status"] == "scheduled" and seen["doc"]["notBefore"] == "2026-11-26T14:30:00Z"
    assert len(seen["chunks"]) == 3 == seen["doc"]["chunkCount"]  # planned before the wait
    assert seen["tasks"] == [names.INSPECT_TASK_ID]  # but nothing rendered
    timers = [e for e in client.replay.runs[job_id].history if e["EventType"] == 10]
    assert timers and timers[0]["FireAt"].startswith("2026-11-26T14:30:00")
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed"
    assert [s["status"] for s in doc["history"]["statuses"]][:4] == ["queued", "validating", "scheduled", "rendering"]


def test_a_time_in_the_past_starts_at_once_and_one_too_far_ahead_fails_naming_it(functions):
    svc = make_services()
    job_id, request = upload(svc, bundle_zip({**SMALL, "notBefore": "2026-11-25T00:00:00Z"}))
    client = ReplayClient()
    run = run_job(functions, svc, request, client)
    assert run.status == "Completed"
    assert "scheduled" not in [s["status"] for s in svc.jobs.get(job_id)["history"]["statuses"]]
    assert not [e for e in client.replay.runs[job_id].history if e["EventType"] == 10]
    far, request = upload(svc, bundle_zip({**SMALL, "notBefore": "2027-01-05T00:00:00Z"}), name="b/far.zip")
    run_job(functions, svc, request, ReplayClient())
    error = svc.jobs.get(far)["error"]
    assert error["field"] == "notBefore" and "30 days" in error["message"]
    bad, request = upload(svc, bundle_zip({**SMALL, "notBefore": "2026-11-26T25:00:00Z"}), name="b/bad.zip")
    run_job(functions, svc, request, ReplayClient())
    assert svc.jobs.get(bad)["error"]["field"] == "notBefore"
    assert [t.id for j, t in svc.backend.added if j in (far, bad)] == [names.INSPECT_TASK_ID] * 2


# ---------------------------------------------------------------- frame order, healing, unsafe scenes


def test_preview_order_renders_frames_spread_over_the_shot_first(functions):
    svc = make_services()
    job_id, request = upload(svc, bundle_zip({**SMALL, "frames": "1-100", "frameOrder": "preview"}))
    run_job(functions, svc, request, ReplayClient())
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed" and doc["spec"]["frameOrder"] == "preview"
    first = next(t for _, t in svc.backend.added if t.id == "chunk-0001")
    frames = [int(f) for f in first.argv[first.argv.index("-f") + 1].split(",")]  # one Blender run
    assert frames[0] == 1 and frames[-1] == 100 and 50 in frames and len(frames) == 10
    assert max(b - a for a, b in itertools.pairwise(frames)) <= 13  # spread, not 1-10
    assert doc["progress"]["framesDone"] == 100


def test_frames_the_store_lost_are_rendered_again_instead_of_failing_the_job(functions):
    svc = make_services(lose_frames=("chunk-0002",))
    job_id, request = upload(svc, bundle_zip(SMALL))
    run = run_job(functions, svc, request, ReplayClient())
    assert run.status == "Completed"
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed", doc["error"]
    assert [t.id for _, t in svc.backend.added].count("chunk-0002-r1") == 1
    assert doc["history"]["healed"] == 1


def test_frames_of_more_chunks_than_a_result_names_are_all_rendered_again(functions):
    """Verification names 50 missing chunks in its result (the history stays small); the
    requeue finds the other ones itself, so one healing round renders all 200 again (three
    rounds of 50 would not have been enough)."""
    lost = [f"chunk-{n:04d}" for n in range(1, 201)]
    svc = make_services(lose_frames=lost)
    job_id, request = upload(svc, bundle_zip({**SMALL, "frames": "1-200", "chunkSize": 1}))
    client = ReplayClient()
    run = run_job(functions, svc, request, client)
    assert run.status == "Completed", run.error
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed" and doc["history"]["healed"] == 200
    rerun = [t.id for _, t in svc.backend.added if t.id.endswith("-r1")]
    assert len(rerun) == 200 and all(c["attempts"] == 2 for c in read_chunks(svc.chunks, job_id))
    assert f"{job_id}:render:1" in client.replay.runs and f"{job_id}:render:2" not in client.replay.runs


def test_frames_lost_on_every_render_fail_the_job_frames_missing_within_its_retries(functions):
    svc = make_services(lose_frames=("chunk-0002", "chunk-0002-r1", "chunk-0002-r2", "chunk-0002-r3"))
    job_id, request = upload(svc, bundle_zip({**SMALL, "maxRetries": 2}))
    run_job(functions, svc, request, ReplayClient())
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "failed" and doc["error"]["code"] == "frames_missing"
    assert [t.id for _, t in svc.backend.added if t.id.startswith("chunk-0002")] == [
        "chunk-0002", "chunk-0002-r1", "chunk-0002-r2"]


def test_a_failed_stitch_runs_again(functions):
    svc = make_services(fail_ids=(names.STITCH_TASK_ID,))
    job_id, request = upload(svc, bundle_zip({**SMALL, "video": {"name": "shot.mp4"}}))
    run_job(functions, svc, request, ReplayClient())
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed", doc["error"]
    assert [t.id for _, t in svc.backend.added if t.id.startswith("stitch")] == ["stitch", "stitch-r1"]
    assert doc["outputs"]["videoFrames"] == 30


def _inspection_with(*paths: dict[str, Any]) -> dict[str, Any]:
    from tests.pipeline.test_pipeline_steps import INSPECTION

    return {**INSPECTION, "externalPaths": list(paths)}


def _path(kind: str, owner: str, path: str) -> dict[str, Any]:
    return {"kind": kind, "owner": owner, "path": path, "access": "read", "absolute": True, "escapes": True,
            "unsafe": True}


def test_a_blend_linking_an_unsafe_library_is_refused_before_any_render(functions):
    svc = make_services(inspection=_inspection_with(_path("library", "props.blend", "/srv/other-job/props.blend")))
    job_id, request = upload(svc, bundle_zip(SMALL))
    run_job(functions, svc, request, ReplayClient())
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "failed" and doc["error"]["code"] == "unsafe_scene_path"
    assert "library props.blend" in doc["error"]["message"] and "/srv" not in str(doc["error"])
    assert [t.id for _, t in svc.backend.added] == [names.INSPECT_TASK_ID]


def test_other_unsafe_paths_render_with_warnings_and_render_output_is_no_concern(functions):
    svc = make_services(inspection=_inspection_with(_path("render_output", "Scene", "/tmp/"),
                                                    _path("image", "wood", "/home/artist/wood.png")))
    job_id, request = upload(svc, bundle_zip(SMALL))
    run_job(functions, svc, request, ReplayClient())
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed"
    assert [(w["code"], w["details"]["kind"]) for w in doc["warnings"]] == [("scene_path_neutralised", "image")]
    assert "/home/artist" not in str(doc["warnings"])


def test_a_node_that_cannot_sandbox_the_scene_fails_the_job_without_retries(functions):
    svc = make_services(exit_codes={"chunk-0001": 3})
    job_id, request = upload(svc, bundle_zip(SMALL))
    run_job(functions, svc, request, ReplayClient())
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "failed" and doc["error"]["code"] == "unsafe_scene_path"
    assert "chunk-0001-r1" not in [t.id for _, t in svc.backend.added]


# ---------------------------------------------------------------- reconcile


def test_a_job_whose_orchestration_was_terminated_out_of_band_is_ended_when_read(functions):
    svc, client = stuck_job(functions, "job-stuck")
    client.overrides["job-stuck"] = ("Running", {"run": 1})
    assert gather(control.get_job(svc, client, "job-stuck"))[0]["status"] == "rendering"  # running: as it is
    client.overrides["job-stuck"] = ("Terminated", {"run": 1})
    read = gather(control.get_job(svc, client, "job-stuck"))[0]
    assert read["status"] == "cancelled" and read["error"]["code"] == "orchestration_terminated"
    assert svc.backend.jobs["job-stuck"].terminated


def test_reconcile_leaves_a_retry_whose_new_run_has_not_started_and_health_ends_failed_ones(functions):
    svc = make_services()
    job_id, request = upload(svc, bundle_zip(SMALL))
    client = ReplayClient()
    run_job(functions, svc, request, client)
    base = svc.jobs.get(job_id)
    base.pop("_etag")
    svc.jobs.create({**base, "id": "job-retrying", "status": "rendering", "run": 2})
    svc.jobs.create({**base, "id": "job-crashed", "status": "stitching"})
    client.overrides["job-retrying"] = ("Failed", {"run": 1})
    client.overrides["job-crashed"] = ("Failed", {"run": 1})
    assert gather(control.reconcile_some(svc, client))[0] == 1
    assert svc.jobs.get("job-retrying")["status"] == "rendering"
    crashed = svc.jobs.get("job-crashed")
    assert crashed["status"] == "failed" and crashed["error"]["code"] == "orchestration_failed"


def test_a_priority_changed_before_validation_survives_it_and_a_repeated_post_is_the_same_request(functions):
    import asyncio

    from shared.pipeline import submission

    svc = make_services()
    svc.blobs.upload("scenes", "qa/shot.zip", bundle_zip({**SMALL, "priority": 10}))
    client = ReplayClient()
    body = {"bundle": "qa/shot.zip", "priority": 20}
    first = asyncio.run(submission.submit_http_job(svc, client, body, "shot-7", None))
    control.set_priority(svc, first.job["id"], {"priority": -300})
    run_job(functions, svc, client.started[first.job["id"]], client)
    doc = svc.jobs.get(first.job["id"])
    assert doc["status"] == "completed" and doc["spec"]["priority"] == -300
    assert svc.backend.jobs[first.job["id"]].priority == -300
    again = asyncio.run(submission.submit_http_job(svc, client, body, "shot-7", None))
    assert not again.created and again.job["id"] == first.job["id"]
