"""Job document operations: idempotent create, etag retries, forward-only status."""

from __future__ import annotations

import pytest

from shared.adapters.fake_chunk_store import FakeChunkStore
from shared.adapters.fake_job_store import FakeJobStore
from shared.errors import ConflictError, NotFoundError, PermanentError, TransientError, ValidationError
from shared.frames import FrameSet
from shared.job_chunks import read_chunks, update_chunks, write_chunks
from shared.job_document import ChunkStatus, ErrorInfo, JobSource, JobStatus, SourceKind, job_document
from shared.job_spec import JobSpec, Resolution
from shared.jobs import (
    apply_chunk_pages,
    apply_outputs,
    apply_spec,
    apply_status,
    cancel,
    count_requeues,
    create_job_document,
    set_status,
    update_job,
)
from shared.planning import chunks_to_json, plan_chunks, with_chunk_result

SOURCE = JobSource(SourceKind.BLOB, "scenes", "a.zip", "http://x/scenes/a.zip", etag="0x1")


def clock(*stamps: str):
    values = iter(stamps)
    return lambda: next(values)


def new_doc(job_id: str = "job-1", created: str = "2026-01-01T00:00:00Z") -> dict:
    return job_document(job_id, SOURCE, now=created, renders_container="renders")


@pytest.fixture
def store() -> FakeJobStore:
    return FakeJobStore()


def test_create_is_idempotent(store):
    first, created = create_job_document(store, new_doc())
    again, created_again = create_job_document(store, {**new_doc(), "status": "failed"})
    assert created and not created_again
    assert again == first and again["status"] == "queued"


def test_update_writes_a_changed_copy_and_stamps_it(store):
    create_job_document(store, new_doc())
    doc = update_job(store, "job-1", lambda d: apply_status(d, "validating", now="T1"), now=lambda: "T1")
    assert doc["status"] == "validating" and doc["timestamps"]["updatedAt"] == "T1"
    assert doc["timestamps"]["startedAt"] == "T1"
    assert [h["status"] for h in doc["history"]["statuses"]] == ["queued", "validating"]


def test_update_that_changes_nothing_writes_nothing(store):
    create_job_document(store, new_doc())
    writes = store.writes
    update_job(store, "job-1", lambda d: None)
    assert store.writes == writes


def test_update_retries_on_etag_conflict(store):
    create_job_document(store, new_doc())
    calls = []

    def mutate(doc):
        calls.append(doc["status"])
        if len(calls) == 1:  # another writer gets in between our read and our replace
            racer = store.get("job-1")
            racer["progress"]["framesDone"] = 7
            store.replace(racer, etag=racer["_etag"])
        doc["spec"] = {"x": len(calls)}

    doc = update_job(store, "job-1", mutate)
    assert len(calls) == 2
    assert doc["progress"]["framesDone"] == 7 and doc["spec"] == {"x": 2}


def test_update_gives_up_after_bounded_conflicts(store):
    create_job_document(store, new_doc())

    def always_raced(doc):
        racer = store.get("job-1")
        racer["spec"] = {"n": (racer.get("spec") or {}).get("n", 0) + 1}
        store.replace(racer, etag=racer["_etag"])
        doc["error"] = {"code": "x"}

    with pytest.raises(TransientError) as err:
        update_job(store, "job-1", always_raced, attempts=3)
    assert err.value.code == "update_contention" and isinstance(err.value.__cause__, ConflictError)
    assert store.get("job-1")["spec"] == {"n": 3}


def test_update_of_a_missing_job(store):
    with pytest.raises(NotFoundError):
        update_job(store, "job-x", lambda d: None)


def test_terminal_states_are_final_and_cancel_wins(store):
    create_job_document(store, new_doc())
    set_status(store, "job-1", JobStatus.RENDERING, now=clock("T1"))
    cancelled = cancel(store, "job-1", now=clock("T2"))
    assert cancelled["status"] == "cancelled" and cancelled["timestamps"]["finishedAt"] == "T2"
    assert cancelled["error"]["code"] == "cancelled"
    late = set_status(store, "job-1", JobStatus.COMPLETED, now=clock("T3"))
    assert late["status"] == "cancelled" and late["timestamps"]["finishedAt"] == "T2"
    pages = write_chunks(FakeChunkStore(), "job-1", chunks_to_json(plan_chunks(FrameSet.parse("1-10"), 5)))
    doc = update_job(store, "job-1", lambda d: apply_chunk_pages(d, pages))
    assert doc["chunkCount"] == 0 and "chunkPages" not in doc and doc["_etag"] == late["_etag"]  # nothing written


def test_stale_status_updates_are_ignored_and_skips_are_refused():
    doc = new_doc()
    with pytest.raises(PermanentError) as err:
        apply_status(doc, JobStatus.COMPLETED, now="T")  # queued cannot complete directly
    assert err.value.code == "invalid_transition"
    assert apply_status(doc, JobStatus.RENDERING, now="T1")
    assert apply_status(doc, JobStatus.STITCHING, now="T2")
    assert not apply_status(doc, JobStatus.RENDERING, now="T3")  # a retried activity, late
    assert not apply_status(doc, JobStatus.STITCHING, now="T4")
    assert doc["status"] == "stitching"
    assert apply_status(doc, JobStatus.FAILED, now="T5", error=ErrorInfo("stitch_failed", "ffmpeg"))
    assert doc["error"]["code"] == "stitch_failed" and doc["timestamps"]["finishedAt"] == "T5"
    with pytest.raises(ValueError):
        apply_status(doc, "suspended", now="T6")  # no such status


def test_chunk_updates_recompute_progress():
    doc = new_doc()
    spec = JobSpec(frames=FrameSet.parse("1-25"), fps=24, resolution=Resolution(64, 36), chunk_size=10)
    apply_spec(doc, spec)
    assert doc["progress"]["framesTotal"] == 25 and doc["spec"]["frames"] == "1-25"
    chunks = plan_chunks(spec.frames, spec.chunk_size)
    pages = FakeChunkStore()
    apply_chunk_pages(doc, write_chunks(pages, "job-1", chunks_to_json(chunks)))
    assert doc["progress"]["framesDone"] == 0 and doc["progress"]["chunksTotal"] == 3
    done = with_chunk_result(chunks, "chunk-0002", ChunkStatus.SUCCEEDED, 2.0)[1].to_json()
    update = update_chunks(pages, "job-1", lambda c: c.update(done) if c["id"] == done["id"] else None)
    apply_chunk_pages(doc, update.written)
    assert doc["progress"]["framesDone"] == 10 and read_chunks(pages, "job-1")[1]["status"] == "succeeded"
    count_requeues(doc, 2)
    apply_outputs(doc, video_url="http://x/renders/job-1/video.mp4")
    assert doc["history"]["requeues"] == 2 and doc["outputs"]["videoUrl"].endswith("video.mp4")


def test_fake_store_checks_etags_and_pages(store):
    for n in range(5):
        store.create(new_doc(f"job-{n}", created=f"2026-01-01T00:00:0{n}Z"))
    doc = store.get("job-1")
    store.replace(doc, etag=doc["_etag"])
    with pytest.raises(ConflictError):
        store.replace(doc, etag=doc["_etag"])
    page, token = store.list(top=2)
    assert [d["id"] for d in page] == ["job-4", "job-3"] and token
    page, token = store.list(top=2, continuation=token)
    assert [d["id"] for d in page] == ["job-2", "job-1"]
    page, token = store.list(top=2, continuation=token)
    assert [d["id"] for d in page] == ["job-0"] and token is None
    for bad in ({"top": 0}, {"status": "done"}, {"continuation": "garbage"}):
        with pytest.raises(ValidationError):
            store.list(**bad)
