"""The polled read routes answer from a recent read: at most API_CACHE_SECONDS old, never older
than this host's own last write, and never a read that raced a write."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.jobs import update_job
from shared.pipeline import control, listing
from shared.pipeline.answer_cache import AnswerCache, ForgettingJobStore
from tests.qa.fakes import FakeDurableClient, make_services


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingStore(ForgettingJobStore):
    reads = 0
    lists = 0

    def get(self, job_id: str) -> Any:
        self.reads += 1
        return super().get(job_id)

    def list(self, **kwargs: Any) -> Any:
        self.lists += 1
        return super().list(**kwargs)


def cached_services() -> tuple[Any, CountingStore, Clock]:
    svc = make_services()
    clock = Clock()
    svc.answers = AnswerCache(1.0, clock=clock)
    store = CountingStore(svc.jobs, svc.answers)
    svc.jobs = store
    for n in range(2):
        store.create({"id": f"job-{n}", "status": "completed", "timestamps": {"createdAt": f"2026-01-0{n + 1}"}})
    return svc, store, clock


def get(svc: Any, job_id: str) -> dict[str, Any]:
    return asyncio.run(control.get_job(svc, FakeDurableClient(), job_id))


def test_a_second_read_within_the_ttl_is_answered_without_the_store_and_a_later_one_reads_again():
    svc, store, clock = cached_services()
    first = get(svc, "job-1")
    reads = store.reads
    assert get(svc, "job-1") == first and store.reads == reads  # the cached answer
    clock.now += 1.0
    assert get(svc, "job-1") == first and store.reads > reads  # past the ttl: read again


def test_a_write_by_this_host_shows_in_the_very_next_answer():
    svc, store, _ = cached_services()
    assert get(svc, "job-0")["status"] == "completed"
    update_job(store, "job-0", lambda d: d.update(status="failed"))
    assert get(svc, "job-0")["status"] == "failed"


def test_an_answer_read_before_a_write_is_not_kept():
    cache = AnswerCache(60.0, clock=Clock())
    generation = cache.generation
    cache.forget_all()  # a write landed while the answer was being read
    cache.put(("job", "job-0"), {"status": "rendering"}, generation)
    assert cache.get(("job", "job-0")) is None
    cache.put(("job", "job-0"), {"status": "failed"}, cache.generation)
    assert cache.get(("job", "job-0")) == {"status": "failed"}


def test_the_listing_is_cached_per_query_and_dropped_by_a_write():
    svc, store, _ = cached_services()

    def page(**kw: Any) -> dict[str, Any]:
        return asyncio.run(listing.list_jobs(svc, FakeDurableClient(), kw.get("status"), kw.get("top"), None))

    first = page(top="10")
    assert [j["id"] for j in first["jobs"]] == ["job-1", "job-0"] and store.lists == 1
    assert page(top="10") == first and store.lists == 1
    assert page(top="1")["jobs"][0]["id"] == "job-1" and store.lists == 2  # another query, its own answer
    store.create({"id": "job-2", "status": "completed", "timestamps": {"createdAt": "2026-01-03"}})
    assert page(top="10")["jobs"][0]["id"] == "job-2" and store.lists == 3


def test_the_cache_holds_a_bounded_number_of_answers():
    cache = AnswerCache(60.0, clock=Clock(), max_answers=3)
    for n in range(5):
        cache.put(("job", n), {"n": n}, cache.generation)
    assert [cache.get(("job", n)) for n in range(5)] == [None, None, {"n": 2}, {"n": 3}, {"n": 4}]


def test_a_caller_that_changes_an_answer_does_not_change_the_cached_one():
    svc, _, _ = cached_services()
    get(svc, "job-1")["status"] = "tampered"
    assert get(svc, "job-1")["status"] == "completed"
