"""Chunk pages: a job's chunks stored as documents of at most PAGE_SIZE chunks each.

Pure (no I/O, no clock): how chunks split into pages, a page's counts, how a job's summary
adds them up, and the continuation tokens of `GET /api/jobs/{jobId}/chunks`.

Why pages: a Cosmos item holds at most 2 MB and every replace rewrites the whole item, so
a chunk list inside the job document limited a job to a few thousand chunks and made every
chunk update cost as much as the whole list. A page is replaced on its own, etag-checked,
so an update costs one small page per page it touches.

Why 200: a page of 200 one-frame chunks with their attempt logs is 60-100 KB, so a
replace stays a small write, and a 10,000-chunk job is 50 pages (the poll reads them in one
partition query); a worst-case page (100-frame chunks, full attempt logs) stays under 1 MB.

Every page carries `rev`, bumped on each write. The job document keeps each page's counts
with the rev they were taken at (`chunkPages`) and only ever takes a higher rev, so writers
racing on different pages, or finishing out of order, still add up to the right progress.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared.errors import ValidationError
from shared.frames import FrameSet
from shared.job_document import ChunkStatus

PAGE_SIZE = 200
MAX_CHUNKS = 100_000  # = frames.MAX_FRAMES_PER_JOB: chunk size 1 at the longest shot a job may have
STATUSES = tuple(s.value for s in ChunkStatus)  # the order of a page's status counts

Json = dict[str, Any]


def page_id(job_id: str, number: int) -> str:
    """The page's document id: unique across jobs (the job id is a Batch job id, no dots)."""
    return f"{job_id}.{number:05d}"


def split_into_pages(chunks: Sequence[Json], start: int = 0) -> list[list[Json]]:
    """Consecutive runs of PAGE_SIZE chunks (the last one may be shorter)."""
    return [list(chunks[i:i + PAGE_SIZE]) for i in range(start, len(chunks), PAGE_SIZE)]


def new_page(job_id: str, number: int, chunks: Sequence[Json]) -> Json:
    return {"id": page_id(job_id, number), "jobId": job_id, "page": number, "rev": 1, "chunks": list(chunks)}


def frame_count(chunk: Mapping[str, Any]) -> int:
    return len(FrameSet.from_json(chunk["frames"]))


def page_counts(page: Mapping[str, Any]) -> list[int]:
    """[rev, frames, framesDone, then chunks per status in STATUSES order]: compact, since the
    job document holds one of these per page (500 at MAX_CHUNKS)."""
    by_status = dict.fromkeys(STATUSES, 0)
    frames = done = 0
    for chunk in page["chunks"]:
        size = frame_count(chunk)
        frames += size
        by_status[chunk["status"]] += 1
        if chunk["status"] == ChunkStatus.SUCCEEDED.value:
            done += size
    return [int(page["rev"]), frames, done, *(by_status[s] for s in STATUSES)]


def record_pages(doc: Json, pages: Iterable[Mapping[str, Any]]) -> bool:
    """Take the counts of pages as written into the job document, newer revs only, and
    recompute from all pages the chunk counts of `progress`, `chunkCount` and `chunkPageCount`
    (so chunks appended later, job_chunks.write_chunks, count at once); returns whether anything moved."""
    known: dict[str, list[int]] = doc.setdefault("chunkPages", {})
    changed = False
    for page in pages:
        counts = page_counts(page)
        key = str(page["page"])
        if key not in known or known[key][0] < counts[0]:
            known[key] = counts
            changed = True
    if changed:
        totals = summary(known)
        planned = doc.get("framesPlanned")  # the whole shot, while an automatically sized job has only probes
        if isinstance(planned, int) and planned > totals["framesTotal"]:
            totals["framesTotal"] = planned
        doc["progress"] = {**(doc.get("progress") or {}), **totals}
        doc["chunkCount"] = totals["chunksTotal"]
        doc["chunkPageCount"] = 1 + max(int(k) for k in known)
    return changed


def summary(known: Mapping[str, Sequence[int]]) -> Json:
    """The job's chunk counts from its pages' counts (progress fields, as planning.progress names them)."""
    totals = [0] * (2 + len(STATUSES))
    for counts in known.values():
        for i, value in enumerate(counts[1:]):
            totals[i] += value
    by_status = dict(zip(STATUSES, totals[2:], strict=True))
    return {"framesDone": totals[1], "framesTotal": totals[0], "chunksDone": by_status["succeeded"],
            "chunksFailed": by_status["failed"], "chunksTotal": sum(by_status.values()), "chunkStatus": by_status}


def unsettled_pages(doc: Mapping[str, Any]) -> set[int] | None:
    """Pages that still hold a pending, queued or running chunk, from the job's summary;
    None when the summary does not know every page (then read them all)."""
    known = doc.get("chunkPages") or {}
    if len(known) != int(doc.get("chunkPageCount") or 0):
        return None
    columns = [3 + STATUSES.index(s) for s in ("pending", "queued", "running")]
    return {int(k) for k, counts in known.items() if any(counts[c] for c in columns)}


def pages_with(doc: Mapping[str, Any], status: str | None) -> list[int] | None:
    """The page numbers that hold a chunk of `status` (all pages for None), in order; None
    when the summary does not know every page."""
    known = doc.get("chunkPages") or {}
    count = int(doc.get("chunkPageCount") or 0)
    if len(known) != count:
        return None
    if status is None:
        return list(range(count))
    column = 3 + STATUSES.index(status)
    return sorted(int(k) for k, counts in known.items() if counts[column])


# ---------------------------------------------------------------- API continuation tokens


def encode_token(job_id: str, status: str | None, page: int, index: int) -> str:
    """Where the next answer starts: opaque to clients, bound to the job and the filter."""
    raw = json.dumps([job_id, status or "", page, index], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, job_id: str, status: str | None) -> tuple[int, int]:
    """(page, index) of a token this job's listing with this filter handed out; else 400."""
    bad = ValidationError("continuationToken is not a token this listing returned",
                          code="invalid_continuation_token", field="continuationToken")
    if not token or len(token) > 256 or not token.isascii():
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if (not isinstance(data, list) or len(data) != 4 or data[0] != job_id or data[1] != (status or "")
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_CHUNKS for v in data[2:])):
        raise bad
    return data[2], data[3]
