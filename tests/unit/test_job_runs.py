"""The status machine's control moves: pause and resume, scheduled, retry runs, stale runs."""

from __future__ import annotations

import pytest

from shared.errors import ConflictError, ValidationError
from shared.frames import FrameSet
from shared.job_document import JobSource, JobStatus, SourceKind, job_document
from shared.jobs import (
    MAX_STATUS_HISTORY,
    apply_pause,
    apply_priority,
    apply_resume,
    apply_retry,
    apply_status,
    is_stale_run,
)
from shared.planning import chunks_to_json, plan_chunks

SOURCE = JobSource(SourceKind.BLOB, "scenes", "a.zip", "http://x/scenes/a.zip", etag="0x1")


def planned_chunks() -> list[dict]:
    return chunks_to_json(plan_chunks(FrameSet.parse("1-30"), 10))


def rendering_doc() -> dict:
    doc = job_document("job-1", SOURCE, now="T0", renders_container="renders")
    doc["chunkCount"] = 3
    apply_status(doc, JobStatus.VALIDATING, now="T1")
    apply_status(doc, JobStatus.RENDERING, now="T2")
    return doc


def test_a_paused_job_resumes_where_it_was_and_later_steps_move_only_its_resume_point():
    doc = job_document("job-1", SOURCE, now="T0", renders_container="renders")
    apply_status(doc, JobStatus.VALIDATING, now="T1")
    apply_pause(doc, "requeue", now="T2")
    assert doc["status"] == "paused" and doc["pause"] == {"mode": "requeue", "resumeTo": "validating", "since": "T2"}
    assert not apply_status(doc, JobStatus.SCHEDULED, now="T3")   # the plan, done while paused
    assert not apply_status(doc, JobStatus.RENDERING, now="T4")   # its time came while paused
    assert not apply_status(doc, JobStatus.VALIDATING, now="T5")  # a late retry of an older step
    assert doc["status"] == "paused" and doc["pause"]["resumeTo"] == "rendering"
    apply_resume(doc, now="T6")
    assert doc["status"] == "rendering" and "pause" not in doc


def test_pause_resume_and_priority_refuse_the_wrong_status_naming_it():
    doc = rendering_doc()
    with pytest.raises(ConflictError) as err:
        apply_resume(doc, now="T")
    assert err.value.details == {"status": "rendering"}
    apply_pause(doc, "wait", now="T3")
    with pytest.raises(ConflictError) as again:
        apply_pause(doc, "wait", now="T4")
    assert again.value.details == {"status": "paused"}
    apply_status(doc, JobStatus.CANCELLED, now="T5")  # cancel works on a paused job
    assert doc["status"] == "cancelled" and "pause" not in doc
    for move in (lambda: apply_pause(doc, "wait", now="T6"), lambda: apply_priority(doc, 5)):
        with pytest.raises(ConflictError) as finished:
            move()
        assert finished.value.details == {"status": "cancelled"}


def test_scheduled_sits_between_validating_and_rendering_and_never_goes_back():
    doc = job_document("job-1", SOURCE, now="T0", renders_container="renders")
    apply_status(doc, JobStatus.VALIDATING, now="T1")
    assert apply_status(doc, JobStatus.SCHEDULED, now="T2")
    assert not apply_status(doc, JobStatus.VALIDATING, now="T3")
    assert apply_status(doc, JobStatus.RENDERING, now="T4")
    assert not apply_status(doc, JobStatus.SCHEDULED, now="T5")
    assert doc["status"] == "rendering"


def test_a_retry_starts_a_new_run_keeping_succeeded_chunks_and_the_old_runs_outcome():
    doc, chunks = rendering_doc(), planned_chunks()
    chunks[0].update(status="succeeded", attempts=1)
    chunks[1].update(status="failed", attempts=3, failure={"exitCode": 1})
    apply_status(doc, JobStatus.FAILED, now="T3")
    run = apply_retry(doc, now="T4", chunks=chunks)
    assert run == 2 and doc["run"] == 2 and doc["status"] == "rendering" and doc["error"] is None
    assert [(c["status"], c["attempts"]) for c in chunks] == [("succeeded", 1), ("pending", 0), ("pending", 0)]
    assert "failure" not in chunks[1]
    assert doc["runs"][0]["status"] == "failed" and doc["runs"][0]["endedAt"] == "T3"
    assert doc["runs"][1] == {"run": 2, "startedAt": "T4", "endedAt": None, "status": None, "error": None}
    assert is_stale_run(doc, 1) and not is_stale_run(doc, 2)


def test_retry_refuses_unfinished_jobs_unknown_chunks_and_completed_jobs_without_all():
    doc, chunks = rendering_doc(), planned_chunks()
    with pytest.raises(ConflictError) as err:
        apply_retry(doc, now="T", chunks=chunks)
    assert err.value.details == {"status": "rendering"}
    apply_status(doc, JobStatus.COMPLETED, now="T3")
    for chunk in chunks:
        chunk.update(status="succeeded", attempts=1)
    with pytest.raises(ConflictError):
        apply_retry(doc, now="T4", chunks=chunks)
    assert apply_retry(doc, now="T4", chunks=chunks, everything=True) == 2
    assert all(c["status"] == "pending" for c in chunks)
    apply_status(doc, JobStatus.CANCELLED, now="T5")
    with pytest.raises(ValidationError) as bad:
        apply_retry(doc, now="T6", chunks=chunks, chunk_ids=["chunk-0001", "chunk-9999"])
    assert bad.value.field == "chunks" and "chunk-9999" in bad.value.message


def test_a_job_that_failed_before_planning_retries_from_the_start():
    doc = job_document("job-1", SOURCE, now="T0", renders_container="renders")
    apply_status(doc, JobStatus.FAILED, now="T1")
    apply_retry(doc, now="T2")
    assert doc["status"] == "queued" and doc["run"] == 2


def test_many_pause_cycles_keep_the_status_history_bounded():
    doc = rendering_doc()
    for n in range(3 * MAX_STATUS_HISTORY):
        apply_pause(doc, "wait", now=f"P{n}")
        apply_resume(doc, now=f"R{n}")
    statuses = doc["history"]["statuses"]
    assert len(statuses) == MAX_STATUS_HISTORY
    assert statuses[-1] == {"status": "rendering", "at": f"R{3 * MAX_STATUS_HISTORY - 1}"}
