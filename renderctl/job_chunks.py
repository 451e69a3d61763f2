"""A job's chunks as the API pages them (GET /api/jobs/{jobId}/chunks), for show and logs."""

from __future__ import annotations

from typing import Any

from renderctl.client import Api, job_path

CHUNK_PAGE = 1000  # the most GET /api/jobs/{jobId}/chunks gives at once


def job_chunks(api: Api, job: dict[str, Any], status: str | None = None,
               limit: int | None = None) -> list[dict[str, Any]]:
    """The job's chunks, every page (the first `limit` only when given); an API from before
    chunk pages has them in the job itself."""
    if "chunks" in job:
        chunks = [c for c in job["chunks"] or [] if status is None or c.get("status") == status]
        return chunks[:limit] if limit is not None else chunks
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": min(limit or CHUNK_PAGE, CHUNK_PAGE), **({"status": status} if status else {})}
    while True:
        page = api.call("GET", job_path(str(job["id"]), "chunks"), params=params, feature="chunk pages")
        found += page.get("chunks") or []
        token = page.get("continuationToken")
        if not token or (limit is not None and len(found) >= limit):
            return found[:limit] if limit is not None else found
        params["continuationToken"] = token
