"""Steering a job through the HTTP API: retry, pause, resume, priority, and reconciling a job
whose orchestration ended without recording it.

The job document is the single truth of what a job should be; each handler first changes it
(with optimistic concurrency, so of many concurrent requests each sees the one before) and then
makes the Batch job agree with whatever the document says by then (converge_backend), so
concurrent pause/resume/cancel/retry calls leave one consistent state however they interleave.
The adapters block, so they run in a thread; the durable client's calls stay on the loop.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df

from shared import names
from shared.bootstrap import Services
from shared.chunk_pages import record_pages
from shared.errors import ConflictError, NotFoundError, PermanentError, TransientError, ValidationError
from shared.job_chunks import read_chunks, update_chunks
from shared.job_document import ErrorInfo, JobSource, JobStatus, current_run
from shared.jobs import (
    PAUSE_MODES,
    apply_pause,
    apply_priority,
    apply_resume,
    apply_retry,
    apply_status,
    chunks_to_retry,
    reset_for_retry,
    update_job,
)
from shared.pipeline import answer_cache
from shared.pipeline.jobs_api import find_job, public_job
from shared.pipeline.lifecycle import publish
from shared.pipeline.submission import orchestration_input

log = logging.getLogger(__name__)

Json = dict[str, Any]
CONVERGE_ROUNDS = 10
FINISHED_RUNTIME = ("Completed", "Failed", "Terminated", "Canceled")
ORCHESTRATION_STOP_SECONDS = 10.0  # how long a retry waits for the previous run's orchestration to end
STOP_POLL_SECONDS = 0.2
MAX_RETRY_CHUNKS = 5_000


# ---------------------------------------------------------------- bodies


def _object(body: Any, allowed: set[str]) -> Json:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object", field="body")
    unknown = sorted(str(k) for k in body if k not in allowed)
    if unknown:
        raise ValidationError(f"unknown key {unknown[0][:100]!r}", field=unknown[0][:100])
    return body


def pause_mode(body: Any) -> str:
    mode = _object(body, {"mode"}).get("mode", "wait")
    if mode not in PAUSE_MODES:
        raise ValidationError(f"mode must be one of {', '.join(PAUSE_MODES)}", field="mode")
    return str(mode)


def priority_of(body: Any) -> int:
    data = _object(body, {"priority"})
    value = data.get("priority")
    if "priority" not in data or isinstance(value, bool) or not isinstance(value, int) \
            or not -1000 <= value <= 1000:
        raise ValidationError("priority must be an integer -1000..1000", field="priority")
    return value


def retry_request(body: Any) -> tuple[list[str] | None, bool]:
    """(chunk ids to render again or None for every unfinished one, whether to render all)."""
    data = _object(body, {"chunks", "all"})
    everything = data.get("all", False)
    if not isinstance(everything, bool):
        raise ValidationError("all must be true or false", field="all")
    chunks = data.get("chunks")
    if chunks is None:
        return None, everything
    if everything:
        raise ValidationError("give either chunks or all, not both", field="chunks")
    if (not isinstance(chunks, list) or not chunks or len(chunks) > MAX_RETRY_CHUNKS
            or not all(isinstance(c, str) and 0 < len(c) <= 64 for c in chunks)):
        raise ValidationError(f"chunks must be a list of 1..{MAX_RETRY_CHUNKS} chunk ids", field="chunks")
    return list(dict.fromkeys(chunks)), False


# ---------------------------------------------------------------- the Batch job follows the document


def _tolerant(call: Callable[[], None], job_id: str, what: str) -> None:
    try:
        call()
    except NotFoundError:
        pass  # no Batch job yet: the step that creates it applies the document's state
    except ConflictError:
        pass  # the Batch job has ended (a cancel or failure in flight): the document follows
    except PermanentError as exc:
        if exc.code != "not_supported":
            raise
        log.warning("job %s: the render backend cannot %s; the pipeline adds no new task while the job "
                    "is paused", job_id, what)


def converge_backend(svc: Services, job_id: str) -> Json:
    """Sets the run's Batch job to what the document says (disabled while paused, enabled
    otherwise, its priority), until the document did not change meanwhile."""
    for _ in range(CONVERGE_ROUNDS):
        doc = svc.jobs.get(job_id)
        if JobStatus(doc["status"]).is_terminal:
            return doc
        _apply_to_backend(svc, doc)
        again = svc.jobs.get(job_id)
        if again.get("_etag") == doc.get("_etag"):
            return again
    raise TransientError(f"job {job_id} kept changing while its Batch job was updated", code="update_contention")


def _apply_to_backend(svc: Services, doc: Json) -> None:
    job_id = doc["id"]
    batch_job = names.batch_job_id(job_id, current_run(doc))
    if doc["status"] == JobStatus.PAUSED.value:
        mode = (doc.get("pause") or {}).get("mode") or "wait"
        _tolerant(lambda: svc.backend.disable_job(batch_job, mode), job_id, "pause a job")
    else:
        _tolerant(lambda: svc.backend.enable_job(batch_job), job_id, "resume a job")
    priority = (doc.get("manifest") or {}).get("priority")
    if isinstance(priority, int):
        _tolerant(lambda: svc.backend.set_job_priority(batch_job, priority), job_id, "change priority")


# ---------------------------------------------------------------- pause, resume, priority


def _pause_state(svc: Services, job_id: str, mode: str) -> Json:
    doc = update_job(svc.jobs, job_id, lambda d: apply_pause(d, mode, now=svc.now()))
    doc = converge_backend(svc, job_id)
    if doc["status"] == JobStatus.PAUSED.value:
        publish(svc, "Paused", doc)
    return doc


def pause_for(svc: Services, job_id: str, mode: str) -> Json:
    """Pauses a job from inside the pipeline (a budget reached); the API's pause_job is the same."""
    return _pause_state(svc, job_id, mode)


async def pause_job(svc: Services, job_id: str, body: Any) -> Json:
    mode = pause_mode(body)
    doc = await asyncio.to_thread(find_job, svc, job_id)
    return public_job(await asyncio.to_thread(_pause_state, svc, doc["id"], mode))


def _resume_state(svc: Services, job_id: str) -> tuple[Json, str | None]:
    waiter: list[str | None] = [None]

    def resume(d: Json) -> None:
        waiter[0] = (d.get("pause") or {}).get("waiter")
        apply_resume(d, now=svc.now())
    update_job(svc.jobs, job_id, resume)
    doc = converge_backend(svc, job_id)
    if doc["status"] not in (JobStatus.PAUSED.value, *[s.value for s in JobStatus if s.is_terminal]):
        publish(svc, "Resumed", doc)
    return doc, waiter[0]


async def resume_job(svc: Services, client: df.DurableOrchestrationClient, job_id: str, body: Any) -> Json:
    _object(body, set())
    found = await asyncio.to_thread(find_job, svc, job_id)
    doc, waiter = await asyncio.to_thread(_resume_state, svc, found["id"])
    if waiter:  # the wait polls a paused job every 5 minutes; wake it now
        try:
            await client.raise_event(waiter, names.TASKS_CHANGED, {"resumed": True})
        except Exception as exc:  # it finished meanwhile: nothing to wake
            log.debug("raise %s to %s: %s", names.TASKS_CHANGED, waiter, exc)
    return public_job(doc)


def _priority_state(svc: Services, job_id: str, priority: int) -> Json:
    update_job(svc.jobs, job_id, lambda d: apply_priority(d, priority))
    return converge_backend(svc, job_id)


def set_priority(svc: Services, job_id: str, body: Any) -> Json:
    """PATCH /api/jobs/{jobId}: the job's priority (-1000..1000), in the document and on Batch."""
    priority = priority_of(body)
    doc = find_job(svc, job_id)
    return public_job(_priority_state(svc, doc["id"], priority))


# ---------------------------------------------------------------- retry


async def _await_orchestration_end(client: df.DurableOrchestrationClient, job_id: str) -> None:
    """A failed job's orchestration records the failure just before it returns; a retry waits
    for it to end (and stops it if it lingers), so that the new run can take the instance id."""
    waited, terminated = 0.0, False
    while True:
        status = await client.get_status(job_id)
        runtime = getattr(status, "runtime_status", None)
        name = getattr(runtime, "value", runtime)
        if name is None or name in FINISHED_RUNTIME:
            return
        if not terminated and waited >= ORCHESTRATION_STOP_SECONDS / 2:
            await client.terminate(job_id, "a new run of the job starts")
            terminated = True
        if waited >= ORCHESTRATION_STOP_SECONDS:
            raise TransientError(f"the previous run of job {job_id} has not ended yet; try again",
                                 code="run_still_ending")
        await asyncio.sleep(STOP_POLL_SECONDS)
        waited += STOP_POLL_SECONDS


def _retry_state(svc: Services, job_id: str, chunks: list[str] | None, everything: bool) -> Json:
    """The chunk pages first, then the document: a retry refused (wrong status, unknown chunk)
    writes nothing, and one that stops halfway leaves a failed job that retries again."""
    stored = read_chunks(svc.chunks, job_id)
    apply_retry(copy.deepcopy(svc.jobs.get(job_id)), now=svc.now(), chunks=copy.deepcopy(stored),
                chunk_ids=chunks, everything=everything)  # raises as the real move below would
    again = chunks_to_retry(stored, chunks, everything)
    update = update_chunks(svc.chunks, job_id, lambda c: reset_for_retry(c) if c["id"] in again else None)

    def retry(d: Json) -> None:
        apply_retry(d, now=svc.now(), chunks=update.chunks, chunk_ids=chunks, everything=everything)
        record_pages(d, update.written)
    doc = update_job(svc.jobs, job_id, retry)
    publish(svc, "Requeued", doc)
    return doc


def _fail_start(svc: Services, job_id: str, run: int) -> None:
    def fail(d: Json) -> None:
        if current_run(d) == run:
            apply_status(d, JobStatus.FAILED, now=svc.now(),
                         error=ErrorInfo("run_not_started", "the new run could not be started; retry again"))
    update_job(svc.jobs, job_id, fail)


async def retry_job(svc: Services, client: df.DurableOrchestrationClient, job_id: str, body: Any) -> Json:
    """POST /api/jobs/{jobId}/retry: a new run of a failed or cancelled job (all: also completed)."""
    chunks, everything = retry_request(body)
    doc = await asyncio.to_thread(find_job, svc, job_id)
    job_id = doc["id"]
    status = JobStatus(doc["status"])
    if not (status.can_retry or (everything and status == JobStatus.COMPLETED)):
        raise ConflictError(f"job {job_id} is {status.value}; only a failed or cancelled job can be retried",
                            code="invalid_status", details={"status": status.value})
    await _await_orchestration_end(client, job_id)
    doc = await asyncio.to_thread(_retry_state, svc, job_id, chunks, everything)
    run = current_run(doc)
    payload = {**orchestration_input(svc, job_id, JobSource.from_json(doc["source"]), doc.get("request")),
               "run": run}
    try:
        await client.start_new(names.RENDER_JOB, job_id, payload)
    except Exception as exc:
        log.warning("job %s: run %s could not start: %s", job_id, run, exc)
        await asyncio.to_thread(_fail_start, svc, job_id, run)
        raise TransientError(f"the new run of job {job_id} could not be started; try again",
                             code="run_not_started") from exc
    return public_job(doc)


# ---------------------------------------------------------------- reconcile


def _reconcile_state(svc: Services, job_id: str, run: int, runtime: str) -> Json:
    status = JobStatus.CANCELLED if runtime in ("Terminated", "Canceled") else JobStatus.FAILED
    error = (ErrorInfo("orchestration_terminated", "the job's orchestration was stopped outside the pipeline")
             if status == JobStatus.CANCELLED else
             ErrorInfo("orchestration_failed", "the job's orchestration ended without finishing the job"))

    def end(d: Json) -> None:
        if current_run(d) == run and not JobStatus(d["status"]).is_terminal:
            apply_status(d, status, now=svc.now(), error=error)
    doc = update_job(svc.jobs, job_id, end)
    if doc["status"] == status.value and current_run(doc) == run:
        try:
            svc.backend.terminate_job(names.batch_job_id(job_id, run))
        except (NotFoundError, ConflictError):
            pass
        publish(svc, "Cancelled" if status == JobStatus.CANCELLED else "Failed", doc)
    return doc


async def reconcile(svc: Services, client: df.DurableOrchestrationClient, doc: Json) -> Json:
    """A job whose orchestration has ended (terminated, failed) while its document still says it
    runs is ended now, with a clear error, and its Batch job terminated. Only when the
    orchestration is certainly this run's: a retry's new run may not have started yet."""
    if JobStatus(doc["status"]).is_terminal:
        return doc
    status = await client.get_status(doc["id"], show_input=True)
    runtime = getattr(status, "runtime_status", None)
    name = getattr(runtime, "value", runtime)
    if name not in FINISHED_RUNTIME:
        return doc
    raw = getattr(status, "input_", None)
    run_of_instance = _run_of(raw)
    if run_of_instance != current_run(doc):
        return doc
    log.warning("job %s: orchestration %s but the job is %s; ending it", doc["id"], name, doc["status"])
    return await asyncio.to_thread(_reconcile_state, svc, doc["id"], run_of_instance, str(name))


def _run_of(raw: Any) -> int | None:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, dict):
        return None
    return int(raw.get("run", 1))


RECONCILE_PER_STATUS = 5  # the health check's pass looks at this many jobs of each unfinished status


async def reconcile_some(svc: Services, client: df.DurableOrchestrationClient) -> int:
    """The health check's bounded pass over unfinished jobs; returns how many it ended."""
    ended = 0
    for status in JobStatus:
        if status.is_terminal:
            continue
        docs, _ = await asyncio.to_thread(svc.jobs.list, status=status.value, top=RECONCILE_PER_STATUS)
        for doc in docs:
            try:
                after = await reconcile(svc, client, doc)
            except Exception as exc:  # the health check reports dependencies; this pass is a bonus
                log.warning("reconciling job %s: %s", doc.get("id"), exc)
                continue
            ended += after["status"] != doc["status"]
    return ended


async def get_job(svc: Services, client: df.DurableOrchestrationClient, job_id: str) -> Json:
    """GET /api/jobs/{jobId}: the job, reconciled with its orchestration first (or the same
    answer given less than API_CACHE_SECONDS ago, with no write by this host since)."""
    async def read() -> Json:
        doc = await asyncio.to_thread(find_job, svc, job_id)
        return public_job(await reconcile(svc, client, doc))
    return await answer_cache.answer(svc.answers, ("job", job_id), read)
