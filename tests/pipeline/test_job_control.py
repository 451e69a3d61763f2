"""Job control over the real steps and the simulated node: retry runs, pause and resume,
scheduled starts, priority, preview frame order, and reconciling a job whose orchestration ended."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import pytest

from orchestrators.render_job import PAUSED_POLL_SECONDS, WAKES_PER_GENERATION, bp
from shared import names
from shared.errors import ConflictError, ValidationError
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
    assert {c["id"]: c["attempts"] for c in doc["chunks"]} == {"chunk-0001": 1, "chunk-0002": 1, "chunk-0003": 1}
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
    late = {"jobId": job_id, "run": 1}
    steps.fail_job(svc, {**late, "error": {"code": "frames_failed", "message": "late"}})
    steps.finalize_job(svc, {**late, "outputs": {"videoUrl": "http://late"}})
    assert steps.add_render_tasks(svc, {**late, "attempt": 0}) == {"added": 0}
    steps.collect_render_results(svc, {**late, "attempt": 0})
    after = svc.jobs.get(job_id)
    assert after["status"] == "rendering" and after["run"] == 2
    assert after["chunks"] == before["chunks"] and after.get("outputs") == before.get("outputs")


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


# ---------------------------------------------------------------- pause and resume


def test_a_job_submitted_paused_costs_one_poll_per_five_minutes_then_resumes(functions):
    """Eight hours of pause through the SDK's replay (30 days replays 90 times as many generations
    of the same bounded size, which takes minutes here): polls and history per generation stay bounded."""
    svc = make_services()
    job_id, request = upload(svc, bundle_zip({**SMALL, "paused": True}))
    client = ReplayClient()
    pause_seconds = 8 * 3600
    state: dict[str, Any] = {}

    def resume_after_the_pause() -> None:
        replay = client.replay
        assert replay is not None
        state.setdefault("from", replay.clock)
        if (replay.clock - state["from"]).total_seconds() >= pause_seconds and "resumed" not in state:
            state["resumed"] = True
            state["polls"] = polls["n"]
            gather(control.resume_job(svc, client, job_id, None))

    polls = {"n": 0}
    from tests.pipeline.control_harness import table
    from tests.pipeline.replay import Replay

    activities = table(svc)
    inner = activities[names.POLL_TASKS]

    def counted(payload: Any) -> Any:
        polls["n"] += 1
        return inner(payload)
    activities[names.POLL_TASKS] = counted
    client.replay = Replay(functions, activities)
    client.replay.on_quiet = resume_after_the_pause
    run = run_job(functions, svc, request, client)
    assert run.status == "Completed", run.error
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed"
    statuses = [s["status"] for s in doc["history"]["statuses"]]
    assert statuses[:5] == ["queued", "validating", "rendering", "paused", "rendering"]
    # Held on the backend while paused: nothing rendered before the resume.
    assert svc.jobs.get(job_id)["runs"][0]["status"] == "completed"
    # At most one activity call per 5 minutes of pause, and a bounded history per wait.
    assert state["polls"] <= 3 + pause_seconds / PAUSED_POLL_SECONDS  # 3: the inspection's and the first
    wait = client.replay.runs[names.wait_instance_id(job_id, names.RENDER, 0)]
    assert wait.generations >= 2 and wait.generations >= pause_seconds / PAUSED_POLL_SECONDS // WAKES_PER_GENERATION
    assert wait.max_history < 12 * WAKES_PER_GENERATION
    # Resume woke the wait at once rather than at its next 5-minute poll.
    assert any(name == names.TASKS_CHANGED for _, name, _ in client.raised)
    assert "RenderPipeline.Job.Resumed" in svc.events.types()
