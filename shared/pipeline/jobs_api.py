"""Reading and cancelling jobs for the HTTP API, and the health check."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import azure.durable_functions as df

from shared import names
from shared.bootstrap import Services
from shared.chunk_pages import STATUSES, decode_token, encode_token, pages_with
from shared.errors import ConflictError, NotFoundError, PipelineError, ValidationError
from shared.job_document import JobStatus, current_run, validate_job_id
from shared.job_names import check_name_prefix, name_of
from shared.jobs import cancel
from shared.pipeline import node_health
from shared.pipeline.lifecycle import publish
from shared.pipeline.public_errors import public_error

log = logging.getLogger(__name__)

MAX_TOP = 200
DEFAULT_CHUNK_LIMIT = 200   # one chunk page's worth
MAX_CHUNK_LIMIT = 1000
# Continuation tokens are opaque, but every store's are printable ASCII (Cosmos DB's are JSON)
# and bounded; anything else is refused before the store sees it.
MAX_CONTINUATION_CHARS = 16_384
_CONTINUATION = re.compile(rf"[\x20-\x7e]{{1,{MAX_CONTINUATION_CHARS}}}")
HEALTH_PREFIX = "~health-probe/"


def public_job(doc: dict[str, Any]) -> dict[str, Any]:
    """The job document as the API shows it: system properties dropped, the etag kept, and the
    per-page counts (one entry per chunk page, the summary's bookkeeping) left out."""
    body = {k: v for k, v in doc.items() if not k.startswith("_") and k != "chunkPages"}
    body["name"] = name_of(doc)  # documents written before jobs had names get the derived one
    if "_etag" in doc:
        body["etag"] = doc["_etag"]
    if isinstance(body.get("error"), dict):  # documents written before errors were kept plain
        body["error"] = public_error(body["error"])
    return body


def find_job(svc: Services, job_id: str) -> dict[str, Any]:
    """The job document; an id in other case finds a job submitted with that Idempotency-Key
    (keys are stored in lower case, as Batch job ids ignore case)."""
    job_id = validate_job_id(job_id)
    try:
        return svc.jobs.get(job_id)
    except NotFoundError:
        if job_id == job_id.lower():
            raise
        return svc.jobs.get(job_id.lower())


def get_job(svc: Services, job_id: str) -> dict[str, Any]:
    return public_job(find_job(svc, job_id))


def list_jobs(svc: Services, status: str | None, top: str | None, continuation: str | None,
              name_prefix: str | None = None) -> dict[str, Any]:
    if status is not None and status not in {s.value for s in JobStatus}:
        raise ValidationError(f"status must be one of {', '.join(s.value for s in JobStatus)}", field="status")
    if top is not None and not re.fullmatch(r"[0-9]{1,4}", top):  # int() would take "5_0", " 5", "٥"
        raise ValidationError("top must be an integer", field="top")
    count = int(top) if top is not None else 50
    if not 1 <= count <= MAX_TOP:
        raise ValidationError(f"top must be 1..{MAX_TOP}", field="top")
    # Spaces around a token would reach the store's request header as they are, where its
    # client refuses them (no token the API returned has any).
    if continuation and (not _CONTINUATION.fullmatch(continuation) or continuation != continuation.strip(" ")):
        raise ValidationError("continuationToken is not a token this API returned",
                              code="invalid_continuation_token", field="continuationToken")
    if name_prefix is not None:
        check_name_prefix(name_prefix)
    try:
        docs, token = svc.jobs.list(status=status, top=count, continuation=continuation or None,
                                    name_prefix=name_prefix)
    except ValidationError as exc:  # a token the store rejects is a 400, not page 1, under one code
        if exc.field != "continuationToken":
            raise
        raise ValidationError(exc.message, code="invalid_continuation_token", field="continuationToken") from exc
    return {"jobs": [job_summary(d) for d in docs], "continuationToken": token}


def job_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """A job in a listing, as GET /api/jobs/{id} shows it (documents written before chunk
    pages kept their chunks inline: a listing never carries them)."""
    body = public_job(doc)
    inline = body.pop("chunks", None)
    body.setdefault("chunkCount", len(inline or []))
    return body


def list_chunks(svc: Services, job_id: str, status: str | None, continuation: str | None,
                limit: str | None) -> dict[str, Any]:
    """GET /api/jobs/{jobId}/chunks: a page of the job's chunks in plan order, of one status if
    asked. Reads only the chunk pages the job's summary says hold such chunks, one at a time."""
    doc = find_job(svc, job_id)
    job_id = doc["id"]
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}", field="status")
    if limit is not None and not re.fullmatch(r"[0-9]{1,4}", limit):
        raise ValidationError("limit must be an integer", field="limit")
    count = int(limit) if limit is not None else DEFAULT_CHUNK_LIMIT
    if not 1 <= count <= MAX_CHUNK_LIMIT:
        raise ValidationError(f"limit must be 1..{MAX_CHUNK_LIMIT}", field="limit")
    start_page, start_index = decode_token(continuation, job_id, status) if continuation else (0, 0)
    numbers = pages_with(doc, status)
    if isinstance(doc.get("chunks"), list) and not doc.get("chunkPageCount"):
        pages: Any = [(0, {"chunks": doc["chunks"]})]  # a job stored before chunk pages: its list, inline
    elif numbers is not None:
        pages = ((n, None) for n in numbers)
    else:
        pages = ((int(p["page"]), p) for p in svc.chunks.list_pages(job_id))
    found: list[dict[str, Any]] = []
    for number, page in pages:
        if number < start_page:
            continue
        if page is None:
            try:
                page = svc.chunks.get_page(job_id, number)
            except NotFoundError:
                continue
        chunks = page["chunks"]
        for index in range(start_index if number == start_page else 0, len(chunks)):
            if status is not None and chunks[index]["status"] != status:
                continue
            if len(found) == count:
                return {"chunks": found, "continuationToken": encode_token(job_id, status, number, index)}
            found.append(chunks[index])
    return {"chunks": found, "continuationToken": None}


# Render rounds and stitches a run may start beyond its retries: verification sends missing
# frames round again (orchestrators.render_job.MAX_HEALS) and a failed stitch runs again.
EXTRA_ROUNDS = 3
MAX_STITCHES = 6
MAX_LISTED_PAUSES = 10  # paused waits of a run that cancel stops and history shows


def wait_instances(job_id: str, max_retries: int, run: int = 1) -> list[str]:
    """Every sub-orchestration instance a run of a job may have started."""
    ids = [names.wait_instance_id(job_id, names.INSPECT, 0, run)]
    ids += [names.wait_instance_id(job_id, names.STITCH, s, run) for s in range(MAX_STITCHES)]
    ids += [names.wait_instance_id(job_id, names.RENDER, r, run) for r in range(max_retries + 1 + EXTRA_ROUNDS)]
    ids += [names.wait_instance_id(job_id, names.PROBE, r, run) for r in range(max_retries + 1)]  # auto chunks
    ids += [names.wait_instance_id(job_id, names.PAUSED, p, run) for p in range(MAX_LISTED_PAUSES)]
    return ids


async def cancel_job(svc: Services, client: df.DurableOrchestrationClient, job_id: str) -> dict[str, Any]:
    """Stops the orchestrations, terminates the Batch job and marks the job cancelled.

    The adapters block, so they run in a thread: the event loop stays free for the
    durable client's calls (and, locally, for the host that serves them)."""
    doc = await asyncio.to_thread(find_job, svc, job_id)
    job_id = doc["id"]
    if JobStatus(doc["status"]).is_terminal:
        raise ConflictError(f"job {job_id} is already {doc['status']}", code="job_finished")
    max_retries = int((doc.get("spec") or {}).get("maxRetries", 10))
    run = current_run(doc)
    for instance in [job_id, *wait_instances(job_id, max_retries, run)]:
        try:
            await client.terminate(instance, "cancelled by request")
        except Exception as exc:  # not started, or already finished: nothing to stop
            log.debug("terminate %s: %s", instance, exc)
    return public_job(await asyncio.to_thread(_cancel_job_state, svc, job_id, run))


def _cancel_job_state(svc: Services, job_id: str, run: int = 1) -> dict[str, Any]:
    try:
        svc.backend.terminate_job(names.batch_job_id(job_id, run))
    except (NotFoundError, ConflictError):
        pass  # the Batch job was never created, or has ended
    doc = cancel(svc.jobs, job_id, now=svc.now)
    if doc["status"] == JobStatus.CANCELLED.value:
        publish(svc, "Cancelled", doc)
    return doc


def _event_name(kind: Any) -> Any:
    """History event types as the Durable HTTP API names them (TaskScheduled…), whichever form came."""
    if isinstance(kind, int):
        from azure.durable_functions.models.history import HistoryEventType

        return "".join(part.capitalize() for part in HistoryEventType(kind).name.split("_"))
    return kind


def _status_json(status: Any) -> dict[str, Any]:
    data = {k: v for k, v in status.to_json().items() if v is not None}
    history = data.get("history") or []
    data["history"] = [{**event, "EventType": _event_name(event.get("EventType"))} for event in history
                       if isinstance(event, dict)]
    return data


async def job_history(svc: Services, client: df.DurableOrchestrationClient, job_id: str) -> dict[str, Any]:
    """The orchestration's history, with the history of each wait it started."""
    validate_job_id(job_id)
    status = await client.get_status(job_id, show_history=True, show_history_output=True, show_input=True)
    if getattr(status, "runtime_status", None) is None and job_id != job_id.lower():
        job_id = job_id.lower()  # an Idempotency-Key in other case (find_job)
        status = await client.get_status(job_id, show_history=True, show_history_output=True, show_input=True)
    if getattr(status, "runtime_status", None) is None:
        raise NotFoundError(f"no orchestration for job {job_id}")
    result = _status_json(status)
    subs = []
    run = _run_of_status(status)
    for instance in wait_instances(job_id, 10, run):
        sub = await client.get_status(instance, show_history=True, show_history_output=True)
        if getattr(sub, "runtime_status", None) is not None:
            subs.append(_status_json(sub))
    result["subOrchestrations"] = subs
    return result


def _run_of_status(status: Any) -> int:
    """Which run an orchestration status belongs to (its input's `run`; 1 before retries)."""
    raw = getattr(status, "input_", None)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return 1
    return int(raw.get("run", 1)) if isinstance(raw, dict) else 1


def health(svc: Services) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    probes = {
        "jobStore": svc.jobs.ping,
        # Any valid prefix will do (one page is read); "\x7f" was refused as a blob name by the adapter.
        "blobStore": lambda: next(iter(svc.blobs.list(svc.settings.scenes_container, HEALTH_PREFIX)), None),
        "renderBackend": lambda: svc.backend.task_counts("health-probe"),
    }
    healthy = True
    for name, probe in probes.items():
        try:
            probe()
            checks[name] = {"status": "ok"}
        except NotFoundError:
            checks[name] = {"status": "ok"}  # reachable: it answered "no such thing"
        except PipelineError as exc:
            healthy = False
            checks[name] = {"status": "failing", "error": exc.message}
        except Exception as exc:  # a probe must never take the health endpoint down
            healthy = False
            checks[name] = {"status": "failing", "error": str(exc)}
    body: dict[str, Any] = {"status": "healthy" if healthy else "unhealthy", "checks": checks}
    body["nodes"] = node_health.health_listing(svc)  # nodes taken out of scheduling (watching)
    return healthy, body
