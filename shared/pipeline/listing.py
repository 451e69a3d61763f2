"""GET /api/jobs: a page of jobs, with the unfinished ones reconciled with their orchestrations.

A job whose orchestration ended out of band (terminated, failed) while its document still says
it runs would otherwise be listed as running for ever; GET /api/jobs/{jobId} and the health
check end such jobs (control.reconcile), and the listing does the same for the jobs it shows.
Cheaply: only jobs listed in an unfinished status are looked at, at most
RECONCILE_PER_LISTING per request (one orchestration status read each, concurrently), so a
page of 200 unfinished jobs costs no more than a page of 20. The next request looks at the
next ones, since the jobs ended by this one are finished by then.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import azure.durable_functions as df

from shared.bootstrap import Services
from shared.job_document import JobStatus
from shared.pipeline import answer_cache, control, jobs_api

log = logging.getLogger(__name__)

Json = dict[str, Any]
RECONCILE_PER_LISTING = 20


async def list_jobs(svc: Services, client: df.DurableOrchestrationClient, status: str | None, top: str | None,
                    continuation: str | None, name_prefix: str | None = None) -> Json:
    async def read() -> Json:
        page = await asyncio.to_thread(jobs_api.list_jobs, svc, status, top, continuation, name_prefix)
        return {**page, "jobs": await reconcile_listed(svc, client, page["jobs"], status)}
    # answered from a read less than API_CACHE_SECONDS old with no write by this host since, if any
    return await answer_cache.answer(svc.answers, ("list", status, top, continuation, name_prefix), read)


async def reconcile_listed(svc: Services, client: df.DurableOrchestrationClient, jobs: list[Json],
                           status: str | None = None) -> list[Json]:
    """The listed jobs, the first RECONCILE_PER_LISTING unfinished ones reconciled; a job the
    pass ended drops out of a listing filtered by the status it no longer has."""
    unfinished = [i for i, job in enumerate(jobs) if _unfinished(job)]
    chosen = unfinished[:RECONCILE_PER_LISTING]
    ended = await asyncio.gather(*(_reconciled(svc, client, jobs[i]) for i in chosen))
    listed = list(jobs)
    for i, doc in zip(chosen, ended, strict=True):
        if doc is not None:
            listed[i] = jobs_api.job_summary(doc)
    return [job for job in listed if status is None or job["status"] == status]


def _unfinished(job: Json) -> bool:
    try:
        return not JobStatus(str(job.get("status"))).is_terminal
    except ValueError:  # a document this version cannot read is listed as stored, not reconciled
        return False


async def _reconciled(svc: Services, client: df.DurableOrchestrationClient, job: Json) -> Json | None:
    """The job's document if reconciling ended it, else None (the listed summary stands)."""
    try:
        doc = await control.reconcile(svc, client, job)
    except Exception as exc:  # the listing must answer; GET /api/jobs/{id} and health try again
        log.warning("reconciling listed job %s: %s", job.get("id"), exc)
        return None
    return doc if doc["status"] != job["status"] else None
