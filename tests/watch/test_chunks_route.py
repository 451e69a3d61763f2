"""GET /api/jobs/{jobId}/chunks through the app's own HTTP function: pages in plan order, the
status filter, and a 4xx naming the parameter for every bad query."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest

from shared.job_chunks import update_chunks
from shared.jobs import apply_chunk_pages, update_job
from shared.pipeline import jobs_api
from tests.app_functions import app_functions
from tests.watch.fakes import make_services, rendering_job

JOB = "job-paged"


@pytest.fixture
def svc() -> Any:
    svc, _ = make_services()
    rendering_job(svc, JOB, frames="1-450", chunk_size=1)  # 450 chunks on three pages
    failed = {"chunk-0003", "chunk-0250", "chunk-0449"}
    update = update_chunks(svc.chunks, JOB, lambda c: c.update(status="failed" if c["id"] in failed
                                                                else "succeeded"))
    update_job(svc.jobs, JOB, lambda d: apply_chunk_pages(d, update.written))
    return svc


def call(svc: Any, monkeypatch: pytest.MonkeyPatch, job_id: str = JOB, **params: str) -> tuple[int, Any]:
    import triggers.watch_api as watch_api

    monkeypatch.setattr(watch_api, "services", lambda: svc)
    handler = {f.get_function_name(): f for f in app_functions()}["list_job_chunks"].get_user_function()
    request = func.HttpRequest("GET", f"http://localhost/api/jobs/{job_id}/chunks?{urlencode(params)}", body=b"",
                               route_params={"jobId": job_id}, params=params)
    answer = handler(request)
    return answer.status_code, json.loads(answer.get_body())


def every_page(svc: Any, monkeypatch: pytest.MonkeyPatch, job_id: str = JOB, **params: str) -> tuple[list[dict], int]:
    found, calls, token = [], 0, None
    while True:
        status, body = call(svc, monkeypatch, job_id, **params, **({"continuationToken": token} if token else {}))
        assert status == 200, body
        found += body["chunks"]
        calls += 1
        token = body["continuationToken"]
        if token is None:
            return found, calls


def test_pages_go_through_every_chunk_once_in_plan_order(svc, monkeypatch):
    chunks, calls = every_page(svc, monkeypatch, limit="37")
    assert [c["id"] for c in chunks] == [f"chunk-{n:04d}" for n in range(1, 451)]
    assert calls == 13  # 450 / 37, rounded up
    status, first = call(svc, monkeypatch)
    assert status == 200 and len(first["chunks"]) == 200 and first["continuationToken"]  # default: one page


def test_a_status_filter_reads_only_the_pages_that_hold_such_chunks(svc, monkeypatch):
    reads = []
    get_page = svc.chunks.get_page
    svc.chunks.get_page = lambda job, n: reads.append(n) or get_page(job, n)
    chunks, _ = every_page(svc, monkeypatch, status="failed", limit="2")
    assert [c["id"] for c in chunks] == ["chunk-0003", "chunk-0250", "chunk-0449"]
    assert all(c["status"] == "failed" for c in chunks)
    assert set(reads) == {0, 1, 2}
    reads.clear()
    status, body = call(svc, monkeypatch, status="pending")
    assert status == 200 and body == {"chunks": [], "continuationToken": None} and reads == []


def test_the_job_itself_stays_small_without_the_chunk_list(svc, monkeypatch):
    job = jobs_api.get_job(svc, JOB)
    assert "chunks" not in job and "chunkPages" not in job
    assert job["chunkCount"] == 450 and job["chunkPageCount"] == 3
    assert job["progress"]["chunksFailed"] == 3 and job["progress"]["chunksDone"] == 447
    assert len(json.dumps(job)) < 4_000


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "done"}, "status"),
    ({"status": ""}, "status"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": " 5"}, "limit"),
    ({"continuationToken": "garbage"}, "continuationToken"),
    ({"continuationToken": "x" * 5000}, "continuationToken"),
])
def test_a_bad_query_is_a_400_naming_the_parameter(svc, monkeypatch, params, field):
    status, body = call(svc, monkeypatch, **params)
    assert status == 400, body
    assert body["error"]["field"] == field


def test_a_token_of_another_job_or_filter_is_refused(svc, monkeypatch):
    rendering_job(svc, "job-other", frames="1-10", chunk_size=1)
    _, other = call(svc, monkeypatch, "job-other", limit="2")
    _, failed = call(svc, monkeypatch, status="failed", limit="1")
    for params in ({"continuationToken": other["continuationToken"]},
                   {"continuationToken": failed["continuationToken"]},  # the filter is part of the token
                   {"continuationToken": failed["continuationToken"], "status": "succeeded"}):
        status, body = call(svc, monkeypatch, **params)
        assert status == 400 and body["error"]["code"] == "invalid_continuation_token", params


def test_an_unknown_or_malformed_job_is_a_404_or_400(svc, monkeypatch):
    status, body = call(svc, monkeypatch, "job-nope")
    assert status == 404, body
    status, body = call(svc, monkeypatch, "bad id!")
    assert status == 400 and body["error"]["field"] == "jobId"


def test_a_job_stored_before_chunk_pages_lists_its_inline_chunks(svc, monkeypatch):
    old = {k: v for k, v in svc.jobs.get(JOB).items() if k not in ("chunkPageCount", "chunkPages", "chunkCount")}
    old.update(id="job-old", chunks=[
        {"id": "chunk-0001", "frames": "1", "status": "succeeded", "attempts": 1, "seconds": 1.0},
        {"id": "chunk-0002", "frames": "2", "status": "failed", "attempts": 3, "seconds": 1.0}])
    svc.jobs.create(old)
    chunks, _ = every_page(svc, monkeypatch, "job-old", limit="1")
    assert [c["id"] for c in chunks] == ["chunk-0001", "chunk-0002"]
    _, failed = call(svc, monkeypatch, "job-old", status="failed")
    assert [c["id"] for c in failed["chunks"]] == ["chunk-0002"]
    listed = jobs_api.job_summary(svc.jobs.get("job-old"))
    assert "chunks" not in listed and listed["chunkCount"] == 2
