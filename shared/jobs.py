"""Job document operations on the JobStore port: create once, update with optimistic
concurrency, move status forward only.

Status rules (job_document.JobStatus holds the table):
- a terminal job (completed, failed, cancelled) never changes again, so a cancel
  wins over any late update from a render or stitch activity;
- a stale update (moving back, e.g. "rendering" after "stitching", as a retried
  activity may send) is ignored;
- any other move the table does not allow raises PermanentError("invalid_transition").
The mutators below (apply_*) change a document in place and leave terminal jobs alone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from shared.errors import ConflictError, PermanentError, TransientError
from shared.job_document import Chunk, ErrorInfo, JobStatus
from shared.job_spec import JobSpec
from shared.planning import chunks_from_json, chunks_to_json, progress
from shared.ports import JobDocument, JobStore

DEFAULT_ATTEMPTS = 8
Mutation = Callable[[JobDocument], Any]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def create_job_document(store: JobStore, doc: JobDocument) -> tuple[JobDocument, bool]:
    """Create the document, or return the one already there: (document, created)."""
    try:
        return store.create(doc), True
    except ConflictError:
        return store.get(doc["id"]), False


def update_job(store: JobStore, job_id: str, mutate: Mutation, *, attempts: int = DEFAULT_ATTEMPTS,
               now: Callable[[], str] = utc_now) -> JobDocument:
    """Read, mutate a copy, replace if-match the etag read; on a conflict read again and redo.

    `mutate` changes the copy in place (or returns a new dict; any other return value is
    ignored, so `lambda d: apply_status(d, ...)` works). When it changes nothing,
    nothing is written and the stored document is returned.
    """
    last: ConflictError | None = None
    for _ in range(attempts):
        current = store.get(job_id)
        draft = copy.deepcopy(current)
        result = mutate(draft)
        changed = result if isinstance(result, dict) else draft  # apply_* return bools: in place
        if _content(changed) == _content(current):
            return current
        changed.setdefault("timestamps", {})["updatedAt"] = now()
        try:
            return store.replace(changed, etag=current["_etag"])
        except ConflictError as exc:
            last = exc
    raise TransientError(f"job {job_id} kept changing under {attempts} concurrent updates",
                         code="update_contention") from last


def _content(doc: JobDocument) -> JobDocument:
    """The document without system properties (_etag, _ts…) and without updatedAt."""
    body = {k: v for k, v in doc.items() if not k.startswith("_")}
    stamps = body.get("timestamps")
    if isinstance(stamps, dict):
        body["timestamps"] = {k: v for k, v in stamps.items() if k != "updatedAt"}
    return body


# ---------------------------------------------------------------- mutators


def status_of(doc: JobDocument) -> JobStatus:
    return JobStatus(doc["status"])


def apply_status(doc: JobDocument, status: JobStatus | str, *, now: str,
                 error: ErrorInfo | None = None) -> bool:
    """Move the job to status; returns whether it moved (see the module's rules)."""
    target = JobStatus(status)
    current = status_of(doc)
    if current.is_terminal or target == current or target.rank < current.rank:
        return False
    if not current.can_become(target):
        raise PermanentError(f"job {doc.get('id')} cannot go from {current} to {target}",
                             code="invalid_transition")
    doc["status"] = target.value
    stamps = doc.setdefault("timestamps", {})
    if target in (JobStatus.VALIDATING, JobStatus.RENDERING) and not stamps.get("startedAt"):
        stamps["startedAt"] = now
    if target.is_terminal:
        stamps["finishedAt"] = now
    if error is not None:
        doc["error"] = error.to_json()
    history = doc.setdefault("history", {})
    history.setdefault("statuses", []).append({"status": target.value, "at": now})
    return True


def apply_spec(doc: JobDocument, spec: JobSpec) -> None:
    if status_of(doc).is_terminal:
        return
    doc["spec"] = spec.to_json()
    doc.setdefault("progress", {})["framesTotal"] = len(spec.frames)


def apply_chunks(doc: JobDocument, chunks: Iterable[Chunk]) -> None:
    """Replace the chunk list (plan, requeue, results) and recompute progress."""
    if status_of(doc).is_terminal:
        return
    doc["chunks"] = chunks_to_json(chunks)
    doc["progress"] = progress(chunks_from_json(doc["chunks"]))


def apply_chunk_updates(doc: JobDocument, updates: Iterable[Chunk]) -> None:
    """Merge changed chunks into the stored list by id; unknown ids are ignored."""
    if status_of(doc).is_terminal:
        return
    by_id = {c.id: c for c in updates}
    merged = [by_id.get(c.id, c) for c in chunks_from_json(doc.get("chunks") or [])]
    apply_chunks(doc, merged)


def count_requeues(doc: JobDocument, count: int) -> None:
    if status_of(doc).is_terminal:
        return
    history = doc.setdefault("history", {})
    history["requeues"] = int(history.get("requeues", 0)) + count


def apply_outputs(doc: JobDocument, *, video_url: str | None) -> None:
    """Outputs are recorded before the job completes; a terminal job keeps what it has."""
    if status_of(doc).is_terminal:
        return
    doc.setdefault("outputs", {})["videoUrl"] = video_url


# ---------------------------------------------------------------- conveniences


def set_status(store: JobStore, job_id: str, status: JobStatus | str, *, error: ErrorInfo | None = None,
               now: Callable[[], str] = utc_now) -> JobDocument:
    stamp = now()
    return update_job(store, job_id, lambda d: apply_status(d, status, now=stamp, error=error),
                      now=lambda: stamp)


def cancel(store: JobStore, job_id: str, *, reason: str = "cancelled by request",
           now: Callable[[], str] = utc_now) -> JobDocument:
    """Cancel unless already finished; returns the document either way."""
    return set_status(store, job_id, JobStatus.CANCELLED, error=ErrorInfo("cancelled", reason), now=now)
