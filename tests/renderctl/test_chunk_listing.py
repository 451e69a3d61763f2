"""renderctl reads a job's chunks page by page from GET /api/jobs/{jobId}/chunks."""

from __future__ import annotations

from typing import Any

from renderctl.job_chunks import job_chunks

CHUNKS = [{"id": f"chunk-{n:04d}", "status": "failed" if n % 7 == 0 else "succeeded"} for n in range(1, 26)]


class PagedApi:
    """Answers the chunks route as the API does: `limit` at a time, an opaque token to go on."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, **_: Any) -> Any:
        params = dict(params or {})
        self.calls.append(params)
        assert (method, path) == ("GET", "jobs/job-1/chunks")
        wanted = [c for c in CHUNKS if params.get("status") in (None, c["status"])]
        start = int(params.get("continuationToken", "at-0")[3:])
        end = start + min(int(params["limit"]), 10)  # the API may answer fewer than asked
        return {"chunks": wanted[start:end], "continuationToken": f"at-{end}" if end < len(wanted) else None}


def test_every_page_is_read_in_order_and_the_filter_and_limit_are_passed_on():
    api = PagedApi()
    assert job_chunks(api, {"id": "job-1", "chunkCount": 25}) == CHUNKS  # type: ignore[arg-type]
    assert len(api.calls) == 3 and "continuationToken" not in api.calls[0]
    failed = job_chunks(api, {"id": "job-1"}, "failed", limit=2)  # type: ignore[arg-type]
    assert [c["id"] for c in failed] == ["chunk-0007", "chunk-0014"]
    assert api.calls[-1] == {"limit": 2, "status": "failed"}


def test_a_job_that_still_carries_its_chunks_needs_no_request():
    api = PagedApi()
    job = {"id": "job-1", "chunks": CHUNKS[:3]}
    assert job_chunks(api, job, limit=2) == CHUNKS[:2]  # type: ignore[arg-type]
    assert api.calls == []
