"""CosmosChunkStore against the local Cosmos-protocol server: pages by job, etag-checked
replaces, and writers racing on the same pages and job document through the real SDK."""

from __future__ import annotations

import threading

import pytest

from shared.adapters.cosmos_chunk_store import CosmosChunkStore
from shared.adapters.cosmos_job_store import CosmosJobStore, ensure_cosmos_container
from shared.chunk_pages import PAGE_SIZE, new_page
from shared.errors import ConflictError, NotFoundError
from shared.frames import FrameSet
from shared.job_chunks import read_chunks, read_pages, update_chunks, write_chunks
from shared.job_document import JobSource, SourceKind, job_document
from shared.jobs import apply_chunk_pages, update_job
from shared.planning import chunks_to_json, plan_chunks

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

SOURCE = JobSource(SourceKind.HTTP, "scenes", "a.zip", "http://x/scenes/a.zip", submitter="test")


@pytest.fixture
def store(settings) -> CosmosChunkStore:
    ensure_cosmos_container(settings)
    ensure_cosmos_container(settings)  # start-up runs it every time: existing is fine
    return CosmosChunkStore.from_settings(settings)


def planned(frames: str) -> list[dict]:
    return chunks_to_json(plan_chunks(FrameSet.parse(frames), 1))


def test_pages_are_per_job_in_order_and_replaced_only_with_the_current_etag(store):
    write_chunks(store, "job-a", planned("1-450"))
    write_chunks(store, "job-b", planned("1-3"))
    pages = read_pages(store, "job-a")
    assert [(p["page"], len(p["chunks"])) for p in pages] == [(0, PAGE_SIZE), (1, PAGE_SIZE), (2, 50)]
    assert [c["id"] for c in read_chunks(store, "job-b")] == ["chunk-0001", "chunk-0002", "chunk-0003"]
    first = store.get_page("job-a", 1)
    second = store.replace_page({**first, "rev": first["rev"] + 1}, etag=first["_etag"])
    assert second["_etag"] != first["_etag"]
    with pytest.raises(ConflictError):
        store.replace_page({**first, "rev": 9}, etag=first["_etag"])
    with pytest.raises(ConflictError):
        store.create_page(new_page("job-a", 0, []))
    with pytest.raises(NotFoundError):
        store.get_page("job-a", 3)
    store.ping()


def test_racing_writers_on_the_real_server_keep_every_chunk_and_the_progress(settings, store):
    jobs = CosmosJobStore.from_settings(settings)
    doc = job_document("job-race", SOURCE, now="2026-01-01T00:00:00Z", renders_container="renders")
    doc["status"] = "rendering"
    jobs.create(doc)
    write_chunks(store, "job-race", planned("1-240"))  # two pages
    update_job(jobs, "job-race", lambda d: apply_chunk_pages(d, read_pages(store, "job-race")))
    ids = [c["id"] for c in read_chunks(store, "job-race")]
    workers, errors = 6, []
    start = threading.Barrier(workers)

    def finish(mine: list[str]) -> None:
        try:
            start.wait()
            wanted = set(mine)  # each writer's chunks lie on both pages: their replaces collide
            update = update_chunks(store, "job-race", lambda c: c.update(status="succeeded")
                                   if c["id"] in wanted else None, attempts=50)
            update_job(jobs, "job-race", lambda d: apply_chunk_pages(d, update.written), attempts=50)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
    threads = [threading.Thread(target=finish, args=(ids[n::workers],)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(c["status"] == "succeeded" for c in read_chunks(store, "job-race"))
    stored = jobs.get("job-race")
    assert stored["progress"]["chunksDone"] == stored["progress"]["framesDone"] == 240
    assert {k: v[0] for k, v in stored["chunkPages"].items()} == {
        str(p["page"]): p["rev"] for p in read_pages(store, "job-race")}
