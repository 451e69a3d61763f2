"""A job's chunks on the ChunkStore: read them all, store new ones, change some by id.

The chunks are plain JSON dicts (planning.Chunk.to_json plus the watch fields: failure,
frameSeconds, attemptLog, heartbeatAt); planning's pure functions work on the Chunk lists
made from them. A change touches only the pages of the chunks it changes: each is replaced
etag-checked on its own and, on a conflict, read again and changed again. The job
document's summary (chunk_pages.record_pages) is the caller's to update with the pages
written, in the same update_job as the rest of its change.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.chunk_pages import PAGE_SIZE, new_page, split_into_pages
from shared.errors import ConflictError, NotFoundError, TransientError
from shared.job_document import ChunkStatus
from shared.ports import ChunkPage, ChunkStore

DEFAULT_ATTEMPTS = 8
Json = dict[str, Any]
ChunkMutation = Callable[[Json], Any]  # changes one chunk in place; its return value is ignored
_PLANNED_ID = re.compile(r"chunk-([0-9]{1,6})")  # planning.plan_chunks's ids


@dataclass
class ChunkUpdate:
    pages: list[ChunkPage]                                  # the pages looked at, as stored now
    written: list[ChunkPage] = field(default_factory=list)  # those this update replaced

    @property
    def chunks(self) -> list[Json]:
        return [c for p in self.pages for c in p["chunks"]]


def read_pages(store: ChunkStore, job_id: str) -> list[ChunkPage]:
    return store.list_pages(job_id)


def read_chunks(store: ChunkStore, job_id: str) -> list[Json]:
    """Every chunk of the job, in plan order."""
    return [c for p in store.list_pages(job_id) for c in p["chunks"]]


def find_chunk(store: ChunkStore, job_id: str, chunk_id: str) -> Json | None:
    """One chunk by id: first on the page its plan number puts it (chunk-0421: the 421st chunk,
    page 2), so a log request reads one page, not all; then, for ids planned otherwise, everywhere."""
    match = _PLANNED_ID.fullmatch(chunk_id)
    if match is not None and int(match.group(1)) >= 1:
        try:
            page = store.get_page(job_id, (int(match.group(1)) - 1) // PAGE_SIZE)
        except NotFoundError:
            page = {"chunks": []}
        found = next((c for c in page["chunks"] if c["id"] == chunk_id), None)
        if found is not None:
            return found
    return next((c for c in read_chunks(store, job_id) if c["id"] == chunk_id), None)


def write_chunks(store: ChunkStore, job_id: str, chunks: Sequence[Json], *,
                 attempts: int = DEFAULT_ATTEMPTS) -> list[ChunkPage]:
    """Append chunks after those the job has (a plan: all of them; chunks planned later: the
    rest); ids already stored are skipped, so a step that runs twice stores them once.
    Returns the pages written (to record on the job document)."""
    last: ConflictError | None = None
    for _ in range(attempts):
        pages = store.list_pages(job_id)
        known = {c["id"] for p in pages for c in p["chunks"]}
        fresh = [c for c in chunks if c["id"] not in known]
        if not fresh:
            return []
        try:
            return _append(store, job_id, pages, fresh)
        except ConflictError as exc:  # another writer appended meanwhile: look again
            last = exc
    raise TransientError(f"chunks of job {job_id} kept changing under {attempts} concurrent appends",
                         code="update_contention") from last


def _append(store: ChunkStore, job_id: str, pages: list[ChunkPage], fresh: list[Json]) -> list[ChunkPage]:
    written: list[ChunkPage] = []
    if pages and len(pages[-1]["chunks"]) < PAGE_SIZE:
        tail = pages[-1]
        room = PAGE_SIZE - len(tail["chunks"])
        filled = {**tail, "chunks": [*tail["chunks"], *fresh[:room]], "rev": int(tail["rev"]) + 1}
        written.append(store.replace_page(filled, etag=tail["_etag"]))
        fresh = fresh[room:]
    number = int(pages[-1]["page"]) + 1 if pages else 0
    for offset, group in enumerate(split_into_pages(fresh)):
        written.append(store.create_page(new_page(job_id, number + offset, group)))
    return written


def update_chunks(store: ChunkStore, job_id: str, mutate: ChunkMutation, *,
                  pages: Sequence[ChunkPage] | None = None, only: Collection[int] | None = None,
                  attempts: int = DEFAULT_ATTEMPTS) -> ChunkUpdate:
    """Apply `mutate` to every chunk of the pages given (read here if None; `only`: just these
    page numbers) and replace each page it changed, If-Match its etag; a page that changed
    meanwhile is read again and mutated again, up to `attempts` times."""
    current = list(pages) if pages is not None else store.list_pages(job_id)
    if only is not None:
        current = [p for p in current if int(p["page"]) in only]
    result = ChunkUpdate(pages=[])
    for page in current:
        stored, wrote = _update_page(store, job_id, page, mutate, attempts)
        result.pages.append(stored)
        if wrote:
            result.written.append(stored)
    return result


def _update_page(store: ChunkStore, job_id: str, page: ChunkPage, mutate: ChunkMutation,
                 attempts: int) -> tuple[ChunkPage, bool]:
    last: ConflictError | None = None
    for _ in range(attempts):
        draft = copy.deepcopy(page["chunks"])
        for chunk in draft:
            mutate(chunk)
        if draft == page["chunks"]:
            return page, False
        try:
            return store.replace_page({**page, "chunks": draft, "rev": int(page["rev"]) + 1},
                                      etag=page["_etag"]), True
        except ConflictError as exc:
            last = exc
            page = store.get_page(job_id, int(page["page"]))
    raise TransientError(f"chunk page {page['page']} of job {job_id} kept changing under {attempts} "
                         "concurrent updates", code="update_contention") from last


def send_back(store: ChunkStore, job_id: str, pages: Sequence[ChunkPage], chunk_ids: Collection[str],
              status: str) -> list[ChunkPage]:
    """The chunks named that are in `status` go back to pending (a requeue, a heal); only the pages
    holding them are written. Returns the pages written (to record on the job document)."""
    wanted = set(chunk_ids)

    def again(c: Json) -> None:
        if c["id"] in wanted and c["status"] == status:
            c["status"] = ChunkStatus.PENDING.value
    holding = [p for p in pages if any(c["id"] in wanted for c in p["chunks"])]
    return update_chunks(store, job_id, again, pages=holding).written
