"""Recent answers of the polled read routes (GET /api/jobs and /api/jobs/{jobId}), kept for
API_CACHE_SECONDS so that many viewers of one job cost one document read a second, not one each.

A dashboard polls every 2 s and most of its polls find nothing changed (304s); each one still
costs devhost a Cosmos point read and an orchestration status call (docs/BENCHMARKS.md,
"Dashboard load"). An answer here is at most API_CACHE_SECONDS old, and never older than this
process's own last write: every job write through `Services.jobs` (an API call's or an
activity's, which run in the same host) drops every answer (a change of one job can move it in
any listing). Writes from elsewhere (another host instance) show within API_CACHE_SECONDS. A
read that raced a write is not kept: it may hold the document from before the write.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from shared.ports import JobDocument, JobStore

MAX_ANSWERS = 1024  # a bound on memory: the oldest go first


class AnswerCache:
    def __init__(self, ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic,
                 max_answers: int = MAX_ANSWERS) -> None:
        self.ttl, self._clock, self._max = ttl_seconds, clock, max_answers
        self._lock = threading.Lock()
        self._answers: OrderedDict[Hashable, tuple[float, int, Any]] = OrderedDict()
        self.generation = 0  # moves with every write: an answer read before it is not kept

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            entry = self._answers.get(key)
            if entry is None:
                return None
            stored_at, generation, answer = entry
            if generation != self.generation or self._clock() - stored_at >= self.ttl:
                del self._answers[key]
                return None
            return answer

    def put(self, key: Hashable, answer: Any, generation: int) -> None:
        """Keep `answer`, read when the cache was at `generation`, unless a write came since."""
        with self._lock:
            if generation != self.generation:
                return
            self._answers[key] = (self._clock(), generation, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self._max:
                self._answers.popitem(last=False)

    def forget_all(self) -> None:
        with self._lock:
            self.generation += 1
            self._answers.clear()


async def answer(cache: AnswerCache | None, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
    """The cached answer for `key`, else `compute()`'s, kept unless a write came while it ran.
    Callers get a copy of the top level, so changing it leaves the cached one alone."""
    if cache is not None and (kept := cache.get(key)) is not None:
        return dict(kept)
    generation = cache.generation if cache is not None else 0
    fresh = await compute()
    if cache is not None:
        cache.put(key, fresh, generation)
    return dict(fresh)


class ForgettingJobStore:
    """A JobStore whose writes drop the cached answers (the read routes' cache above)."""

    def __init__(self, inner: JobStore, cache: AnswerCache) -> None:
        self.inner, self.cache = inner, cache

    def create(self, doc: JobDocument) -> JobDocument:
        try:
            return self.inner.create(doc)
        finally:
            self.cache.forget_all()

    def get(self, job_id: str) -> JobDocument:
        return self.inner.get(job_id)

    def replace(self, doc: JobDocument, *, etag: str) -> JobDocument:
        try:
            return self.inner.replace(doc, etag=etag)
        finally:
            self.cache.forget_all()

    def list(self, *, status: str | None = None, top: int = 50, continuation: str | None = None,
             name_prefix: str | None = None) -> tuple[list[JobDocument], str | None]:
        return self.inner.list(status=status, top=top, continuation=continuation, name_prefix=name_prefix)

    def ping(self) -> None:
        self.inner.ping()
