"""A job's chunks on the ChunkStore (the in-memory fake): appends, updates that touch only the
pages they change, and concurrent writers whose changes and progress all survive."""

from __future__ import annotations

import threading

import pytest

from shared.adapters.fake_chunk_store import FakeChunkStore
from shared.adapters.fake_job_store import FakeJobStore
from shared.chunk_pages import PAGE_SIZE
from shared.errors import TransientError
from shared.frames import FrameSet
from shared.job_chunks import find_chunk, read_chunks, read_pages, update_chunks, write_chunks
from shared.job_document import JobSource, SourceKind, job_document
from shared.jobs import apply_chunk_pages, update_job
from shared.planning import chunks_to_json, plan_chunks

SOURCE = JobSource(SourceKind.BLOB, "scenes", "a.zip", "http://x/scenes/a.zip", etag="0x1")


def planned(frames: str, size: int = 1) -> list[dict]:
    return chunks_to_json(plan_chunks(FrameSet.parse(frames), size))


def test_writing_chunks_twice_stores_them_once_and_later_chunks_fill_the_last_page_first():
    store = FakeChunkStore()
    first = planned("1-250")
    assert [len(p["chunks"]) for p in write_chunks(store, "job-1", first)] == [PAGE_SIZE, 50]
    assert write_chunks(store, "job-1", first) == []  # the step ran twice
    later = planned("251-600")
    for n, chunk in enumerate(later, 251):
        chunk["id"] = f"chunk-{n:04d}"
    written = write_chunks(store, "job-1", later)
    assert [(p["page"], len(p["chunks"]), p["rev"]) for p in written] == [(1, 200, 2), (2, 200, 1)]
    assert [c["id"] for c in read_chunks(store, "job-1")] == [c["id"] for c in first + later]
    assert read_chunks(store, "job-2") == []


def test_an_update_replaces_only_the_pages_whose_chunks_it_changes():
    store = FakeChunkStore()
    write_chunks(store, "job-1", planned("1-1000"))  # five pages
    before = {p["page"]: p["_etag"] for p in read_pages(store, "job-1")}
    writes = store.writes
    update = update_chunks(store, "job-1", lambda c: c.update(status="succeeded") if c["id"] == "chunk-0450" else None)
    assert [p["page"] for p in update.written] == [2] and store.writes == writes + 1
    after = {p["page"]: p["_etag"] for p in read_pages(store, "job-1")}
    assert [n for n in before if before[n] != after[n]] == [2]
    assert update_chunks(store, "job-1", lambda c: None).written == []  # no change, no write
    assert store.writes == writes + 1


def test_a_page_that_keeps_changing_gives_up_as_transient():
    store = FakeChunkStore()
    write_chunks(store, "job-1", planned("1-3"))
    stale = read_pages(store, "job-1")

    def meddle(chunk: dict) -> None:  # another writer gets in before every replace
        current = store.get_page("job-1", 0)
        store.replace_page({**current, "rev": current["rev"] + 1}, etag=current["_etag"])
        chunk["status"] = "running"
    with pytest.raises(TransientError) as err:
        update_chunks(store, "job-1", meddle, pages=stale, attempts=3)
    assert err.value.code == "update_contention"


def test_concurrent_chunk_updates_all_land_and_the_progress_adds_up():
    """Many writers, each finishing its own chunks, racing on the same pages and on the job
    document: every change survives its etag conflicts, and the summary counts every one."""
    chunks, jobs = FakeChunkStore(), FakeJobStore()
    doc = job_document("job-1", SOURCE, now="T0", renders_container="renders")
    doc["status"] = "rendering"
    jobs.create(doc)
    write_chunks(chunks, "job-1", planned("1-260"))  # two pages
    update_job(jobs, "job-1", lambda d: apply_chunk_pages(d, read_pages(chunks, "job-1")))
    ids = [c["id"] for c in read_chunks(chunks, "job-1")]
    workers = 12
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def finish_one(chunk_id: str) -> None:
        def done(c: dict) -> None:
            if c["id"] == chunk_id:
                c.update(status="succeeded", attempts=1)
        update = update_chunks(chunks, "job-1", done, only={ids.index(chunk_id) // PAGE_SIZE}, attempts=200)
        update_job(jobs, "job-1", lambda d: apply_chunk_pages(d, update.written), attempts=200)

    def finish(mine: list[str]) -> None:
        try:
            start.wait()
            for chunk_id in mine:  # one update per chunk: the most conflicts
                finish_one(chunk_id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
    # Worker n takes every n-th chunk, so all of them write to both pages at once.
    threads = [threading.Thread(target=finish, args=(ids[n::workers],)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(c["status"] == "succeeded" for c in read_chunks(chunks, "job-1"))
    progress = jobs.get("job-1")["progress"]
    assert progress["framesDone"] == progress["framesTotal"] == 260 and progress["chunksDone"] == 260


def test_a_chunk_is_found_on_the_page_its_number_names_reading_only_that_page():
    store = FakeChunkStore()
    chunks = planned("1-450")
    chunks[-1]["id"] = "extra-1"  # an id not from plan_chunks: found by reading every page
    write_chunks(store, "job-1", chunks)
    reads: list[int] = []
    get_page, list_pages = store.get_page, store.list_pages
    store.get_page = lambda job, n: reads.append(n) or get_page(job, n)  # type: ignore[method-assign]
    store.list_pages = lambda job: reads.append(-1) or list_pages(job)  # type: ignore[method-assign]
    assert find_chunk(store, "job-1", "chunk-0421")["frames"] == "421"  # type: ignore[index]
    assert reads == [2]
    assert find_chunk(store, "job-1", "extra-1") is not None and reads == [2, -1]
    assert find_chunk(store, "job-1", "chunk-9999") is None and find_chunk(store, "job-1", "chunk-0000") is None
