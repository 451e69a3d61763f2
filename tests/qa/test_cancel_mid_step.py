"""POST /cancel lands while an activity runs (terminating an orchestration does not stop a
running activity): the cancelled job document never changes again and gets no new work."""

from __future__ import annotations

from shared.job_chunks import read_chunks
from shared.job_document import JobSource, SourceKind, upload_job_id
from shared.jobs import cancel
from shared.pipeline import steps
from tests.pipeline.test_pipeline_steps import bundle_zip
from tests.qa.fakes import make_services

MANIFEST = {"frames": "1-20", "fps": 24, "resolution": "64x36", "chunkSize": 10}


def _registered(manifest=MANIFEST):
    svc = make_services()
    info = svc.blobs.upload("scenes", "a/shot.zip", bundle_zip(manifest))
    url = svc.blobs.url("scenes", "a/shot.zip")
    job_id = upload_job_id(url, info.etag)
    source = JobSource(kind=SourceKind.BLOB, container="scenes", blob_name="a/shot.zip", blob_url=url,
                       etag=info.etag)
    steps.register_job(svc, {"jobId": job_id, "source": source.to_json(), "request": {}})
    return svc, job_id


def _content(doc):
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def test_a_cancel_during_validation_leaves_the_document_as_cancelled():
    svc, job_id = _registered()
    cancelled = _content(cancel(svc.jobs, job_id))
    steps.validate_bundle_step(svc, {"jobId": job_id})
    assert _content(svc.jobs.get(job_id)) == cancelled


def test_no_batch_job_or_tasks_are_created_for_a_job_cancelled_before_its_step_ran():
    svc, job_id = _registered({"frames": "1-20"})  # needs an inspection
    steps.validate_bundle_step(svc, {"jobId": job_id})
    cancel(svc.jobs, job_id)
    assert steps.start_batch_job(svc, {"jobId": job_id}) == {"inspect": False}
    assert job_id not in svc.backend.jobs and svc.backend.added == []


def test_planning_after_a_cancel_records_nothing_and_publishes_no_started():
    svc, job_id = _registered()
    steps.validate_bundle_step(svc, {"jobId": job_id})
    steps.start_batch_job(svc, {"jobId": job_id})
    cancelled = _content(cancel(svc.jobs, job_id))
    steps.plan_job(svc, {"jobId": job_id})
    assert _content(svc.jobs.get(job_id)) == cancelled
    assert "RenderPipeline.Job.Started" not in svc.events.types()


def test_late_render_stitch_and_finalize_steps_leave_a_cancelled_job_alone():
    svc, job_id = _registered()
    for step in (steps.validate_bundle_step, steps.start_batch_job, steps.plan_job):
        step(svc, {"jobId": job_id})
    cancelled = _content(cancel(svc.jobs, job_id))
    assert steps.add_render_tasks(svc, {"jobId": job_id, "attempt": 0}) == {"added": 0}
    assert steps.add_stitch_task(svc, {"jobId": job_id}) == {"added": 0}
    steps.finalize_job(svc, {"jobId": job_id, "outputs": {"videoUrl": "http://x/v.mp4", "frameCount": 20}})
    assert _content(svc.jobs.get(job_id)) == cancelled
    assert [task.id for _, task in svc.backend.added] == ["inspect"]  # added before the cancel: no render, no stitch


def test_a_requeue_after_a_cancel_does_not_reset_chunks():
    svc, job_id = _registered()
    svc.backend.fail_ids = {"chunk-0001"}
    for step in (steps.validate_bundle_step, steps.start_batch_job, steps.plan_job, steps.add_render_tasks):
        step(svc, {"jobId": job_id, "attempt": 0})
    steps.poll_tasks(svc, {"jobId": job_id, "phase": "render"})
    cancelled = _content(cancel(svc.jobs, job_id))
    chunks = read_chunks(svc.chunks, job_id)
    assert any(c["status"] == "failed" for c in chunks)
    steps.collect_render_results(svc, {"jobId": job_id, "attempt": 0})
    assert _content(svc.jobs.get(job_id)) == cancelled
    assert read_chunks(svc.chunks, job_id) == chunks  # the failed chunk was not sent round again


def test_a_batch_job_created_while_the_cancel_ran_is_terminated_at_once():
    svc, job_id = _registered({"frames": "1-20"})
    steps.validate_bundle_step(svc, {"jobId": job_id})
    create = svc.backend.create_job

    def create_then_cancel(job: str, *, priority: int = 0) -> None:
        create(job, priority=priority)
        cancel(svc.jobs, job_id)  # the cancel's terminate_job ran before the Batch job existed

    svc.backend.create_job = create_then_cancel  # type: ignore[method-assign]
    assert steps.start_batch_job(svc, {"jobId": job_id}) == {"inspect": False}
    assert svc.backend.jobs[job_id].terminated and svc.backend.added == []
