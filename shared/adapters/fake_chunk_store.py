"""In-memory ChunkStore for unit tests: etags change on every write and replace checks them,
like CosmosChunkStore. Thread-safe, so tests can race writers on it."""

from __future__ import annotations

import copy
import itertools
import threading

from shared.chunk_pages import page_id
from shared.errors import ConflictError, NotFoundError
from shared.ports import ChunkPage


class FakeChunkStore:
    def __init__(self) -> None:
        self.pages: dict[str, dict[int, ChunkPage]] = {}  # job id → page number → page
        self._versions = itertools.count(1)
        self._lock = threading.Lock()
        self.writes = 0  # how many create/replace calls succeeded, for tests and benchmarks

    def _stored(self, page: ChunkPage) -> ChunkPage:
        body = {k: v for k, v in copy.deepcopy(page).items() if not k.startswith("_")}
        body["_etag"] = f'"{next(self._versions):08x}-0000-0000-0000-000000000000"'
        self.pages.setdefault(body["jobId"], {})[int(body["page"])] = body
        self.writes += 1
        return copy.deepcopy(body)

    def create_page(self, page: ChunkPage) -> ChunkPage:
        with self._lock:
            if int(page["page"]) in self.pages.get(page["jobId"], {}):
                raise ConflictError(f"create chunk page {page['id']}: already exists")
            if page["id"] != page_id(page["jobId"], int(page["page"])):
                raise ValueError(f"page id {page['id']!r} does not match its job and number")
            return self._stored(page)

    def get_page(self, job_id: str, number: int) -> ChunkPage:
        with self._lock:
            try:
                return copy.deepcopy(self.pages[job_id][number])
            except KeyError:
                raise NotFoundError(f"chunk page {number} of job {job_id}: not found") from None

    def replace_page(self, page: ChunkPage, *, etag: str) -> ChunkPage:
        with self._lock:
            current = self.pages.get(page["jobId"], {}).get(int(page["page"]))
            if current is None:
                raise NotFoundError(f"replace chunk page {page['id']}: not found")
            if current["_etag"] != etag:
                raise ConflictError(f"replace chunk page {page['id']}: changed since it was read")
            return self._stored(page)

    def list_pages(self, job_id: str) -> list[ChunkPage]:
        with self._lock:
            return [copy.deepcopy(p) for _, p in sorted(self.pages.get(job_id, {}).items())]

    def ping(self) -> None:
        return None
