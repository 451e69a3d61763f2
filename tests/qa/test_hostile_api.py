"""HTTP API input from outside, through the handlers with fakes: 4xx naming the field, never a 500."""

from __future__ import annotations

import asyncio

import azure.functions as func
import pytest

from shared.errors import ConflictError, ValidationError
from shared.pipeline import jobs_api, submission
from tests.pipeline.test_pipeline_steps import bundle_zip
from tests.qa.fakes import FakeDurableClient, make_services
from triggers.http_json import read_json


def _request(body: bytes) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://localhost/api/jobs", body=body, headers={})


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_json_nested_too_deeply_is_a_400_not_a_500(body):
    with pytest.raises(ValidationError) as err:
        read_json(_request(body))
    assert err.value.field == "body"


def _submit(svc, body, key=None):
    return asyncio.run(submission.submit_http_job(svc, FakeDurableClient(), body, key, "qa"))


def test_the_idempotency_key_ignores_case_as_batch_job_ids_do():
    svc = make_services()
    svc.blobs.upload("scenes", "a/shot.zip", bundle_zip())
    first = _submit(svc, {"bundle": "a/shot.zip"}, "Shot-010")
    again = _submit(svc, {"bundle": "a/shot.zip"}, "shot-010")
    assert first.job["id"] == again.job["id"] == "shot-010"
    assert first.created and not again.created
    with pytest.raises(ConflictError):  # another body under the same key in other case: 409
        _submit(svc, {"bundle": "a/shot.zip", "priority": 5}, "SHOT-010")


@pytest.mark.parametrize("top", ["5_0", " 5", "٥", "+5", "5.0", "-1", "0", "201", "99999"])
def test_bad_top_values_are_400(top):
    with pytest.raises(ValidationError) as err:
        jobs_api.list_jobs(make_services(), None, top, None)
    assert err.value.field == "top"


def test_good_top_values_page_the_jobs():
    assert jobs_api.list_jobs(make_services(), "queued", "200", None) == {"jobs": [], "continuationToken": None}


def test_health_probes_the_blob_store_with_a_name_it_accepts():
    healthy, body = jobs_api.health(make_services())
    assert body["checks"]["blobStore"] == {"status": "ok"}
    assert healthy


def test_a_submitted_bundle_with_control_characters_names_the_bundle():
    with pytest.raises(ValidationError) as err:
        _submit(make_services(), {"bundle": "a\u0001.zip"})
    assert err.value.field == "bundle"


def test_a_submitted_format_list_is_a_400_naming_format():
    svc = make_services()
    svc.blobs.upload("scenes", "shot.zip", bundle_zip())
    with pytest.raises(ValidationError) as err:
        _submit(svc, {"bundle": "shot.zip", "format": ["PNG"]})
    assert err.value.field == "format"


def test_a_job_submitted_with_a_mixed_case_key_is_found_by_that_key():
    svc = make_services()
    svc.blobs.upload("scenes", "a/shot.zip", bundle_zip())
    _submit(svc, {"bundle": "a/shot.zip"}, "Shot-011")
    assert jobs_api.get_job(svc, "Shot-011")["id"] == "shot-011"
    client = FakeDurableClient()
    cancelled = asyncio.run(jobs_api.cancel_job(svc, client, "SHOT-011"))
    assert cancelled["status"] == "cancelled" and "shot-011" in client.terminated
