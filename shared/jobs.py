"""Job document operations on the JobStore port: create once, update with optimistic
concurrency, move status forward only.

Status rules (job_document.JobStatus holds the table):
- a terminal job (completed, failed, cancelled) never changes again, so a cancel
  wins over any late update from a render or stitch activity;
- a stale update (moving back, e.g. "rendering" after "stitching", as a retried
  activity may send) is ignored;
- any other move the table does not allow raises PermanentError("invalid_transition");
- a paused job stays paused: a forward move (the plan done, the stitch added) only moves
  where resume goes (`pause.resumeTo`); ending it (fail, cancel) works as from any status;
- a retry (apply_retry) is the one way out of failed or cancelled: a new run, numbered in
  `run`, each run's outcome kept in `runs`. Steps of an earlier run pass their run number
  and change nothing (is_stale_run), so a late update never touches the current run.
The mutators below (apply_*) change a document in place and leave terminal jobs alone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from shared.chunk_pages import record_pages
from shared.errors import ConflictError, PermanentError, TransientError, ValidationError
from shared.job_document import ChunkStatus, ErrorInfo, JobStatus, current_run
from shared.job_spec import JobSpec
from shared.ports import JobDocument, JobStore

DEFAULT_ATTEMPTS = 8
MAX_STATUS_HISTORY = 100  # pause/resume cycles must not grow the document without bound
MAX_RUNS = 50             # each retry adds one; a job retried more often than this is a new job
PAUSE_MODES = ("wait", "requeue")
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


def is_stale_run(doc: JobDocument, run: int | None) -> bool:
    """Whether an update from run `run` (None: from before runs existed) comes too late."""
    return run is not None and run != current_run(doc)


def apply_status(doc: JobDocument, status: JobStatus | str, *, now: str,
                 error: ErrorInfo | None = None) -> bool:
    """Move the job to status; returns whether it moved (see the module's rules)."""
    target = JobStatus(status)
    current = status_of(doc)
    if current == JobStatus.PAUSED and not target.is_terminal:
        _move_resume_point(doc, target)
        return False
    if current.is_terminal or target == current or target.rank < current.rank:
        return False
    if not current.can_become(target):
        raise PermanentError(f"job {doc.get('id')} cannot go from {current} to {target}",
                             code="invalid_transition")
    _record_status(doc, target, now)
    stamps = doc.setdefault("timestamps", {})
    if target in (JobStatus.VALIDATING, JobStatus.RENDERING) and not stamps.get("startedAt"):
        stamps["startedAt"] = now
    if target.is_terminal:
        stamps["finishedAt"] = now
    if error is not None:
        doc["error"] = error.to_json()
    if target.is_terminal:
        _end_run(doc, target, now)
    return True


def _record_status(doc: JobDocument, target: JobStatus, now: str) -> None:
    doc["status"] = target.value
    statuses = doc.setdefault("history", {}).setdefault("statuses", [])
    statuses.append({"status": target.value, "at": now})
    del statuses[:-MAX_STATUS_HISTORY]


def _move_resume_point(doc: JobDocument, target: JobStatus) -> None:
    pause = doc.setdefault("pause", {})
    resume_to = JobStatus(pause.get("resumeTo") or JobStatus.QUEUED.value)
    if target.rank > resume_to.rank and target != JobStatus.PAUSED:
        pause["resumeTo"] = target.value


def _end_run(doc: JobDocument, status: JobStatus, now: str) -> None:
    runs = doc.setdefault("runs", [{"run": current_run(doc), "startedAt": None}])
    entry = next((r for r in runs if r.get("run") == current_run(doc)), None)
    if entry is None:
        entry = {"run": current_run(doc), "startedAt": None}
        runs.append(entry)
    entry.update(endedAt=now, status=status.value, error=doc.get("error"))
    doc.pop("pause", None)


def apply_pause(doc: JobDocument, mode: str, *, now: str) -> bool:
    """Pause the job. ConflictError (with the status) if it cannot be paused (paused already,
    or finished)."""
    current = status_of(doc)
    if not current.can_pause:
        raise ConflictError(f"job {doc.get('id')} is {current.value}; only a job that has not "
                            "finished can be paused", code="invalid_status", details={"status": current.value})
    doc["pause"] = {"mode": mode, "resumeTo": current.value, "since": now}
    _record_status(doc, JobStatus.PAUSED, now)
    return True


def apply_resume(doc: JobDocument, *, now: str) -> bool:
    """Resume a paused job where it was; ConflictError (with the status) if it is not paused."""
    current = status_of(doc)
    if current != JobStatus.PAUSED:
        raise ConflictError(f"job {doc.get('id')} is {current.value}, not paused",
                            code="invalid_status", details={"status": current.value})
    pause = doc.pop("pause", None) or {}
    _record_status(doc, JobStatus(pause.get("resumeTo") or JobStatus.QUEUED.value), now)
    return True


def apply_priority(doc: JobDocument, priority: int) -> bool:
    current = status_of(doc)
    if current.is_terminal:
        raise ConflictError(f"job {doc.get('id')} is {current.value}; a finished job's priority is fixed",
                            code="invalid_status", details={"status": current.value})
    # `priority` records the change itself: validation rebuilds the manifest from the request
    # (which stays as submitted, so a repeated POST is still the same request) and keeps it.
    doc["priority"] = priority
    doc.setdefault("manifest", {})["priority"] = priority
    if isinstance(doc.get("spec"), dict):
        doc["spec"]["priority"] = priority
    return True


def apply_retry(doc: JobDocument, *, now: str, chunks: list[dict[str, Any]] | None = None,
                chunk_ids: Iterable[str] | None = None, everything: bool = False) -> int:
    """Start a new run: the chunks to render again (failed ones, the chunks named, or all; of
    `chunks`, the job's chunk list, changed in place) go back to pending with attempts 0;
    succeeded chunks keep their frames. Returns the run. The caller stores the chunks
    (shared.job_chunks) and records their pages on the document.

    ConflictError (with the status) unless the job failed or was cancelled (or, with
    `everything`, completed); ValidationError naming `chunks` for an id the job lacks."""
    current = status_of(doc)
    if not (current.can_retry or (everything and current == JobStatus.COMPLETED)):
        allowed = "failed, cancelled or (with all) completed" if everything else "failed or cancelled"
        raise ConflictError(f"job {doc.get('id')} is {current.value}; only a {allowed} job can be retried",
                            code="invalid_status", details={"status": current.value})
    chunks = chunks if chunks is not None else []
    again = chunks_to_retry(chunks, chunk_ids, everything)
    for chunk in chunks:
        if chunk["id"] in again:
            reset_for_retry(chunk)
    run = current_run(doc) + 1
    doc["run"] = run
    runs = doc.setdefault("runs", [])
    runs.append({"run": run, "startedAt": now, "endedAt": None, "status": None, "error": None})
    del runs[:-MAX_RUNS]
    doc["error"] = None
    doc.pop("pause", None)
    doc.setdefault("timestamps", {})["finishedAt"] = None
    # Unplanned (it failed validating): the new run starts from the beginning.
    planned = bool(chunks) or bool(doc.get("chunkCount"))
    _record_status(doc, JobStatus.RENDERING if planned else JobStatus.QUEUED, now)
    return run


def chunks_to_retry(chunks: Iterable[dict[str, Any]], chunk_ids: Iterable[str] | None = None,
                    everything: bool = False) -> frozenset[str]:
    """The ids a retry renders again; ValidationError naming `chunks` for an id the job lacks."""
    chunks = list(chunks)
    if everything:
        return frozenset(c["id"] for c in chunks)
    if chunk_ids is None:
        return frozenset(c["id"] for c in chunks if c["status"] != ChunkStatus.SUCCEEDED.value)
    known = {c["id"] for c in chunks}
    wanted = list(chunk_ids)
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ValidationError(f"the job has no chunk {unknown[0]!r}", field="chunks")
    return frozenset(wanted)


def reset_for_retry(chunk: dict[str, Any]) -> None:
    chunk.update(status=ChunkStatus.PENDING.value, attempts=0, seconds=None)
    chunk.pop("failure", None)


def apply_spec(doc: JobDocument, spec: JobSpec) -> None:
    if status_of(doc).is_terminal:
        return
    doc["spec"] = spec.to_json()
    doc.setdefault("progress", {})["framesTotal"] = len(spec.frames)


def apply_chunk_pages(doc: JobDocument, pages: Iterable[dict[str, Any]]) -> None:
    """Take the counts of chunk pages just written (shared.job_chunks) into the job's summary
    and progress (chunk_pages.record_pages); a terminal job keeps what it has."""
    if status_of(doc).is_terminal:
        return
    record_pages(doc, pages)


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
