"""The control routes as the host calls them, with hostile and wrong input: unknown jobs 404,
wrong statuses 409 naming the status, bad bodies 400 naming the field, nothing changed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.functions as func
import pytest

import triggers.api as api
import triggers.control_api as control_api
from shared.bootstrap import Services
from shared.pipeline import submission
from tests.app_functions import app_functions
from tests.qa.fakes import FakeDurableClient, services_behind


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> Services:
    return services_behind(monkeypatch, "qa/shot.zip", api, control_api)


def _call(name: str, job_id: str, body: bytes = b"", method: str = "POST") -> tuple[int, dict[str, Any]]:
    function = {f.get_function_name(): f for f in app_functions()}[name].get_user_function()
    request = func.HttpRequest(method, f"http://localhost/api/jobs/{job_id}", body=body,
                               route_params={"jobId": job_id})
    handler = function.__wrapped__ if name in ("retry_job", "resume_job") else function
    answer = handler(request, FakeDurableClient()) if name in ("retry_job", "resume_job") else handler(request)
    if asyncio.iscoroutine(answer):
        answer = asyncio.run(answer)
    return answer.status_code, json.loads(answer.get_body())


def _job(svc: Services) -> str:
    submitted = asyncio.run(submission.submit_http_job(svc, FakeDurableClient(), {"bundle": "qa/shot.zip"},
                                                       None, None))
    return str(submitted.job["id"])


@pytest.mark.parametrize("name,method", [("retry_job", "POST"), ("pause_job", "POST"), ("resume_job", "POST"),
                                         ("update_job", "PATCH")])
def test_an_unknown_job_is_404_and_a_malformed_id_400(svc, name, method):
    body = b'{"priority": 1}' if name == "update_job" else b""
    status, answer = _call(name, "job-nobody", body, method)
    assert status == 404, answer
    status, answer = _call(name, "../etc", body, method)
    assert status == 400 and answer["error"]["field"] == "jobId"


def test_wrong_statuses_are_409_with_the_current_status(svc):
    job_id = _job(svc)
    for name in ("retry_job", "resume_job"):
        status, answer = _call(name, job_id)
        assert status == 409 and answer["error"]["details"] == {"status": "queued"}, name
    assert _call("pause_job", job_id)[0] == 202
    status, answer = _call("pause_job", job_id)
    assert status == 409 and answer["error"]["details"] == {"status": "paused"}
    assert svc.jobs.get(job_id)["status"] == "paused"


@pytest.mark.parametrize("name,body,field", [
    ("pause_job", b'{"mode": "stop"}', "mode"),
    ("pause_job", b'{"mode": "wait", "force": true}', "force"),
    ("pause_job", b"[1, 2]", "body"),
    ("pause_job", b"{not json", "body"),
    ("resume_job", b'{"mode": "wait"}', "mode"),
    ("retry_job", b'{"chunks": []}', "chunks"),
    ("retry_job", b'{"chunks": [1]}', "chunks"),
    ("update_job", b'{"priority": 1001}', "priority"),
    ("update_job", b'{"priority": "high"}', "priority"),
    ("update_job", b"", "body"),
    ("update_job", b'{"status": "completed"}', "status"),
])
def test_bad_bodies_are_400_naming_the_field_and_change_nothing(svc, name, body, field):
    job_id = _job(svc)
    before = svc.jobs.get(job_id)
    status, answer = _call(name, job_id, body, "PATCH" if name == "update_job" else "POST")
    assert status == 400 and answer["error"]["field"] == field, answer
    assert svc.jobs.get(job_id) == before


def test_a_submission_scheduled_too_far_ahead_or_at_an_impossible_time_is_400(svc):
    from shared.errors import ValidationError

    for not_before in ("2027-06-01T00:00:00Z", "2026-02-30T10:00:00Z", "2026-12-01T10:00:00"):
        with pytest.raises(ValidationError) as err:
            asyncio.run(submission.submit_http_job(
                svc, FakeDurableClient(), {"bundle": "qa/shot.zip", "notBefore": not_before}, None, None))
        assert err.value.field == "notBefore", not_before
    for bad in ({"frameOrder": "random"}, {"paused": "yes"}):
        with pytest.raises(ValidationError) as err:
            asyncio.run(submission.submit_http_job(svc, FakeDurableClient(), {"bundle": "qa/shot.zip", **bad},
                                                   None, None))
        assert err.value.field == next(iter(bad))
