"""GET /api/jobs ends the listed jobs whose orchestration ended out of band (terminated, failed)
while their document still says they run, as GET /api/jobs/{jobId} does; cheaply: finished
jobs are not looked at, and a request looks at a bounded number of unfinished ones."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.functions as func
import pytest

import triggers.api as api
from shared.job_document import JobStatus
from shared.pipeline import listing
from tests.app_functions import app_functions
from tests.pipeline.control_harness import ReplayClient
from tests.qa.fakes import make_services


class CountingClient(ReplayClient):
    """A durable client whose instances are the overrides given; counts the status reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    async def get_status(self, instance_id: str, **kwargs: Any) -> Any:
        self.reads.append(instance_id)
        return await super().get_status(instance_id, **kwargs)


def _job(svc: Any, job_id: str, status: str, day: int, run: int = 1) -> None:
    svc.jobs.create({"id": job_id, "status": status, "run": run, "chunks": [{"id": "chunk-0001"}],
                     "timestamps": {"createdAt": f"2026-01-{day:02d}T00:00:00Z"}, "history": {"statuses": []}})
    svc.backend.create_job(job_id if run == 1 else f"{job_id}-run{run}")


def _list(svc: Any, client: Any, status: str | None = None, top: str | None = None) -> dict[str, Any]:
    return asyncio.run(listing.list_jobs(svc, client, status, top, None))


def test_a_listed_job_whose_orchestration_was_terminated_is_listed_ended_and_stored_so():
    svc = make_services()
    _job(svc, "job-stuck", "rendering", 3)
    _job(svc, "job-crashed", "stitching", 2)
    _job(svc, "job-live", "rendering", 1)
    _job(svc, "job-done", "completed", 4)
    client = CountingClient()
    client.overrides.update({"job-stuck": ("Terminated", {"run": 1}), "job-crashed": ("Failed", {"run": 1}),
                             "job-live": ("Running", {"run": 1}), "job-done": ("Terminated", {"run": 1})})
    page = _list(svc, client)
    listed = {j["id"]: j for j in page["jobs"]}
    assert [j["id"] for j in page["jobs"]] == ["job-done", "job-stuck", "job-crashed", "job-live"]  # order kept
    assert listed["job-stuck"]["status"] == "cancelled"
    assert listed["job-stuck"]["error"]["code"] == "orchestration_terminated"
    assert listed["job-crashed"]["status"] == "failed"
    assert listed["job-crashed"]["error"]["code"] == "orchestration_failed"
    assert listed["job-live"]["status"] == "rendering" and listed["job-done"]["status"] == "completed"
    assert "chunks" not in listed["job-stuck"] and listed["job-stuck"]["chunkCount"] == 1  # still a summary
    # The store agrees, and the Batch jobs of the ended ones are terminated.
    assert svc.jobs.get("job-stuck")["status"] == "cancelled" and svc.jobs.get("job-crashed")["status"] == "failed"
    assert svc.backend.jobs["job-stuck"].terminated and not svc.backend.jobs["job-live"].terminated
    # A finished job is not looked at: its status read is never made.
    assert "job-done" not in client.reads and sorted(client.reads) == ["job-crashed", "job-live", "job-stuck"]


def test_a_job_between_runs_is_left_alone_and_a_filtered_listing_drops_what_it_ended():
    svc = make_services()
    _job(svc, "job-retrying", "rendering", 2, run=2)  # its new run has not started yet
    _job(svc, "job-stuck", "rendering", 1)
    client = CountingClient()
    client.overrides.update({"job-retrying": ("Failed", {"run": 1}), "job-stuck": ("Terminated", {"run": 1})})
    page = _list(svc, client, status="rendering")
    assert [j["id"] for j in page["jobs"]] == ["job-retrying"]
    assert svc.jobs.get("job-retrying")["status"] == "rendering"
    assert svc.jobs.get("job-stuck")["status"] == "cancelled"


def test_a_request_looks_at_a_bounded_number_of_jobs_and_the_next_at_the_next_ones():
    svc = make_services()
    client = CountingClient()
    count = listing.RECONCILE_PER_LISTING + 5
    for n in range(count):
        _job(svc, f"job-{n:03d}", "rendering", 1 + n % 28)
        client.overrides[f"job-{n:03d}"] = ("Terminated", {"run": 1})
    first = _list(svc, client, top="200")
    assert len(client.reads) == listing.RECONCILE_PER_LISTING
    assert sum(j["status"] == "cancelled" for j in first["jobs"]) == listing.RECONCILE_PER_LISTING
    client.reads.clear()
    second = _list(svc, client, top="200")
    assert len(client.reads) == 5  # the ones the first request ended are finished now
    assert all(j["status"] == "cancelled" for j in second["jobs"])


def test_a_durable_client_that_fails_leaves_the_listing_as_stored():
    svc = make_services()
    _job(svc, "job-a", "rendering", 1)

    class Broken(CountingClient):
        async def get_status(self, instance_id: str, **kwargs: Any) -> Any:
            raise RuntimeError("the host is restarting")
    page = _list(svc, Broken())
    assert [(j["id"], j["status"]) for j in page["jobs"]] == [("job-a", "rendering")]


def test_a_document_with_a_status_this_version_does_not_know_is_listed_as_stored():
    svc = make_services()
    _job(svc, "job-future", "archived", 1)  # written by a later version, say
    client = CountingClient()
    client.overrides["job-future"] = ("Terminated", {"run": 1})
    page = _list(svc, client)
    assert [(j["id"], j["status"]) for j in page["jobs"]] == [("job-future", "archived")]
    assert client.reads == []


@pytest.fixture
def routed(monkeypatch) -> Any:
    svc = make_services()
    monkeypatch.setattr(api, "services", lambda: svc)
    return svc


def test_the_get_jobs_route_reconciles_through_its_durable_client(routed):
    _job(routed, "job-stuck", "validating", 1)
    client = CountingClient()
    client.overrides["job-stuck"] = ("Terminated", {"run": 1})
    function = {f.get_function_name(): f for f in app_functions()}["list_jobs"]
    request = func.HttpRequest("GET", "http://localhost/api/jobs", body=b"", params={"top": "10"})
    answer = asyncio.run(function.get_user_function().__wrapped__(request, client))
    assert answer.status_code == 200
    body = json.loads(answer.get_body())
    assert [(j["id"], j["status"]) for j in body["jobs"]] == [("job-stuck", JobStatus.CANCELLED.value)]
    bad = asyncio.run(function.get_user_function().__wrapped__(
        func.HttpRequest("GET", "http://localhost/api/jobs", body=b"", params={"top": "0"}), client))
    assert bad.status_code == 400 and json.loads(bad.get_body())["error"]["field"] == "top"
