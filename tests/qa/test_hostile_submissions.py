"""POST /api/jobs and GET /api/jobs from outside, through the app's own trigger functions
over fakes: forged identities, racing duplicates and garbage page tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import azure.functions as func
import pytest

import triggers.api as api
from shared.bootstrap import Services
from tests.app_functions import app_functions
from tests.qa.fakes import FakeDurableClient, services_behind


def _trigger(name: str) -> Any:
    function = {f.get_function_name(): f for f in app_functions()}[name]
    return function.get_user_function()


def _unbound(name: str) -> Any:
    return _trigger(name).__wrapped__  # the body with its error mapping, before the SDK binds the client


@pytest.fixture
def svc(monkeypatch) -> Services:
    return services_behind(monkeypatch, "qa/shot.zip", api)


def _list(request: func.HttpRequest) -> func.HttpResponse:
    """GET /api/jobs through its trigger, with a durable client that knows no orchestration."""
    return asyncio.run(_unbound("list_jobs")(request, FakeDurableClient()))


def _post(body: dict[str, Any], headers: dict[str, str]) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://localhost/api/jobs", body=json.dumps(body).encode(), headers=headers)


def _submit(client: Any, headers: dict[str, str]) -> func.HttpResponse:
    return asyncio.run(_unbound("submit_job")(_post({"bundle": "qa/shot.zip"}, headers), client))


def test_a_client_sent_principal_header_is_not_taken_as_the_submitter(svc):
    answer = _submit(FakeDurableClient(), {"x-ms-client-principal-name": "render-admin@studio.example",
                                           "x-ms-client-principal-id": "0000", "user-agent": "render-admin"})
    assert answer.status_code == 202
    job = json.loads(answer.get_body())
    assert job["source"]["submitter"] is None
    assert svc.jobs.get(job["id"])["source"]["submitter"] is None


def test_behind_app_service_authentication_the_principal_is_the_submitter(svc):
    svc.settings = dataclasses.replace(svc.settings, trust_app_service_auth=True)
    answer = _submit(FakeDurableClient(), {"x-ms-client-principal-name": "artist@studio.example"})
    assert json.loads(answer.get_body())["source"]["submitter"] == "artist@studio.example"


class RacingDurableClient(FakeDurableClient):
    """Each call yields to the event loop, as a call over the network does, so concurrent
    submissions interleave between looking for the instance and starting it."""

    async def get_status(self, instance_id: str, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return await super().get_status(instance_id, **kwargs)

    async def start_new(self, name: str, instance_id: str, client_input: Any) -> str:
        await asyncio.sleep(0)
        return await super().start_new(name, instance_id, client_input)


def test_concurrent_posts_with_one_idempotency_key_all_answer_the_same_job(svc):
    client = RacingDurableClient()
    submit = _unbound("submit_job")

    async def storm() -> list[func.HttpResponse]:
        requests = [_post({"bundle": "qa/shot.zip", "frames": "1-4"}, {"Idempotency-Key": "Storm-1"})
                    for _ in range(8)]
        return list(await asyncio.gather(*(submit(r, client) for r in requests)))

    answers = asyncio.run(storm())
    assert sorted(a.status_code for a in answers) == [200] * 7 + [202]
    assert {json.loads(a.get_body())["id"] for a in answers} == {"storm-1"}
    assert list(client.started) == ["storm-1"]


@pytest.mark.parametrize("token", ["garbage", "fake:not-a-number", "\x00\x01", "é" * 10, "x" * 20_000])
def test_a_garbage_continuation_token_is_a_400_not_page_one(svc, token):
    for n in range(3):
        svc.jobs.create({"id": f"job-{n}", "status": "queued", "timestamps": {"createdAt": f"2026-01-0{n + 1}"}})
    request = func.HttpRequest("GET", "http://localhost/api/jobs", body=b"",
                               params={"continuationToken": token, "top": "1"})
    answer = _list(request)
    assert answer.status_code == 400, answer.get_body()
    error = json.loads(answer.get_body())["error"]
    assert error["field"] == "continuationToken"
    assert error["code"] == "invalid_continuation_token"
    assert "jobs" not in json.loads(answer.get_body())


def test_a_token_the_api_returned_pages_on(svc):
    for n in range(3):
        svc.jobs.create({"id": f"job-{n}", "status": "queued", "timestamps": {"createdAt": f"2026-01-0{n + 1}"}})
    first = json.loads(_list(func.HttpRequest(
        "GET", "http://localhost/api/jobs", body=b"", params={"top": "2"})).get_body())
    second = json.loads(_list(func.HttpRequest(
        "GET", "http://localhost/api/jobs", body=b"",
        params={"top": "2", "continuationToken": first["continuationToken"]})).get_body())
    assert [j["id"] for j in first["jobs"]] == ["job-2", "job-1"]
    assert [j["id"] for j in second["jobs"]] == ["job-0"]


def test_an_answer_from_a_failing_store_names_no_host_path(svc, monkeypatch):
    from shared.errors import TransientError

    def unreachable(**_: Any) -> Any:
        raise TransientError("Cosmos DB unreachable: [Errno 111] /var/run/cosmos/socket refused")

    monkeypatch.setattr(svc.jobs, "list", unreachable)
    answer = _list(func.HttpRequest("GET", "http://localhost/api/jobs", body=b""))
    assert answer.status_code == 503
    error = json.loads(answer.get_body())["error"]
    assert error["code"] == "transient" and "unreachable" in error["message"]
    assert "/var/run" not in answer.get_body().decode()


def test_a_stored_error_with_a_traceback_is_shown_plain(svc):
    svc.jobs.create({"id": "job-old", "status": "failed", "error": {
        "code": "step_failed", "details": None,
        "message": 'the pipeline could not continue: Traceback (most recent call last):\n  File "/home/site/'
                   'wwwroot/shared/jobs.py", line 9, in get\nTransientError: Cosmos DB unreachable'}})
    request = func.HttpRequest("GET", "http://localhost/api/jobs/job-old", body=b"", route_params={"jobId": "job-old"})
    answer = asyncio.run(_unbound("get_job")(request, FakeDurableClient()))  # GET reconciles: a client
    error = json.loads(answer.get_body())["error"]
    assert error["code"] == "step_failed"
    assert "Traceback" not in error["message"] and "/home/site" not in error["message"]
    assert error["message"].endswith("TransientError: Cosmos DB unreachable")
