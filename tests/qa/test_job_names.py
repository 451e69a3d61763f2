"""Job names: the rule for a name, POST /api/jobs through its trigger, render.json's name, the
derived default, and the Idempotency-Key with another name."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import azure.functions as func
import pytest

import triggers.api as api
from shared import assets as model
from shared.bootstrap import Services
from shared.errors import ValidationError
from shared.job_document import JobSource, SourceKind, upload_job_id
from shared.job_names import default_job_name, name_of
from shared.job_spec import MAX_JOB_NAME, check_job_name, manifest_from_json
from shared.pipeline import steps
from tests.app_functions import app_functions
from tests.pipeline.test_pipeline_steps import BLEND, bundle_zip
from tests.qa.fakes import FakeDurableClient, services_behind

HOSTILE_NAMES = [
    "x" * (MAX_JOB_NAME + 1),                  # too long
    "   ",                                     # nothing but spaces
    "",
    "shot010\nlighting",                       # a second line in a table
    "shot\x1b[2Jcleared",                      # a terminal escape
    "shot\x00010",
    "evil\u202etxt.exe",                       # right-to-left override: reads as another name
    "line\u2028break",
    "lone \ud800 surrogate",                   # cannot be stored as UTF-8
]


@pytest.mark.parametrize("value", ["shot010 lighting v3", "  padded  ", "Ünïcödé ショット 🎬", "x" * MAX_JOB_NAME,
                                   " " + "y" * MAX_JOB_NAME + " "])
def test_a_name_people_write_is_kept_trimmed(value):
    assert check_job_name(value) == value.strip()
    assert manifest_from_json({"name": value}) == {"name": value.strip()}


@pytest.mark.parametrize("value", [*HOSTILE_NAMES, 42, None, ["a"], {"a": 1}, True])
def test_a_name_that_is_no_plain_line_of_text_is_refused_naming_the_field(value):
    with pytest.raises(ValidationError) as caught:
        manifest_from_json({"name": value})
    assert caught.value.field == "name"


def test_a_derived_name_follows_the_rules_of_a_given_one():
    assert default_job_name("_uploads/abc/shot010.zip") == "shot010.zip"
    assert default_job_name("artists/a\x1b[2J\nb.zip") == "a?[2J?b.zip"
    long = default_job_name("scenes/" + "z" * 500 + ".blend")
    assert len(long) == MAX_JOB_NAME and check_job_name(long) == long
    # A document written before jobs had names is named as the listings named it.
    assert name_of({"id": "job-1", "source": {"blobName": "a/b/shot.blend"}}) == "shot.blend"
    assert name_of({"id": "job-1", "source": {"blobName": "manifests/sha256/ab.json"},
                    "bundle": {"kind": "manifest", "blendPath": "shots/a.blend"}}) == "shots/a.blend"


# ---------------------------------------------------------------- POST /api/jobs


def _unbound(name: str) -> Any:
    function = {f.get_function_name(): f for f in app_functions()}[name]
    return function.get_user_function().__wrapped__


@pytest.fixture
def svc(monkeypatch) -> Services:
    return services_behind(monkeypatch, "qa/shot010.zip", api)


def _post(body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = func.HttpRequest("POST", "http://localhost/api/jobs", body=raw, headers=headers or {})
    return asyncio.run(_unbound("submit_job")(request, FakeDurableClient()))


def _get(job_id: str) -> dict[str, Any]:
    request = func.HttpRequest("GET", f"http://localhost/api/jobs/{job_id}", body=b"", route_params={"jobId": job_id})
    answer = asyncio.run(_unbound("get_job")(request, FakeDurableClient()))
    assert answer.status_code == 200, answer.get_body()
    return json.loads(answer.get_body())


def _listed() -> list[dict[str, Any]]:
    request = func.HttpRequest("GET", "http://localhost/api/jobs", body=b"")
    answer = asyncio.run(_unbound("list_jobs")(request, FakeDurableClient()))
    return json.loads(answer.get_body())["jobs"]


def test_a_named_submission_is_stored_and_shown_by_the_job_and_the_listing(svc):
    answer = _post({"bundle": "qa/shot010.zip", "name": "  shot010 lighting v3 "})
    assert answer.status_code == 202, answer.get_body()
    job = json.loads(answer.get_body())
    assert job["name"] == "shot010 lighting v3"
    assert svc.jobs.get(job["id"])["name"] == "shot010 lighting v3"
    assert _get(job["id"])["name"] == "shot010 lighting v3"
    assert [j["name"] for j in _listed()] == ["shot010 lighting v3"]


def test_an_unnamed_submission_is_named_after_its_bundle(svc):
    job = json.loads(_post({"bundle": "qa/shot010.zip"}).get_body())
    assert job["name"] == "shot010.zip"
    assert svc.jobs.get(job["id"])["name"] == "shot010.zip"


@pytest.mark.parametrize("raw", [
    b'{"bundle": "qa/shot010.zip", "name": "' + b"x" * 201 + b'"}',
    b'{"bundle": "qa/shot010.zip", "name": "shot\\u0007010"}',
    b'{"bundle": "qa/shot010.zip", "name": "shot\\n010"}',
    b'{"bundle": "qa/shot010.zip", "name": "lone \\ud800"}',
    b'{"bundle": "qa/shot010.zip", "name": 7}',
    b'{"bundle": "qa/shot010.zip", "name": null}',
    b'{"bundle": "qa/shot010.zip", "name": {"first": "shot"}}',
])
def test_a_bad_name_is_a_400_naming_the_field_and_makes_no_job(svc, raw):
    answer = _post(raw)
    assert answer.status_code == 400, answer.get_body()
    assert json.loads(answer.get_body())["error"]["field"] == "name"
    assert svc.jobs.list()[0] == []


def test_the_same_idempotency_key_with_another_name_is_a_conflict_and_keeps_the_first(svc):
    key = {"Idempotency-Key": "shot010-v3"}
    assert _post({"bundle": "qa/shot010.zip", "name": "shot010 v3"}, key).status_code == 202
    again = _post({"bundle": "qa/shot010.zip", "name": " shot010 v3"}, key)
    assert again.status_code == 200 and json.loads(again.get_body())["name"] == "shot010 v3"
    other = _post({"bundle": "qa/shot010.zip", "name": "shot010 v4"}, key)
    assert other.status_code == 409, other.get_body()
    assert json.loads(other.get_body())["error"]["code"] == "idempotency_conflict"
    assert svc.jobs.get("shot010-v3")["name"] == "shot010 v3"


# ---------------------------------------------------------------- render.json's name


def _validated_upload(svc: Services, blob: str, manifest: dict[str, Any] | None, request: dict[str, Any]) -> Any:
    info = svc.blobs.upload("scenes", blob, bundle_zip(manifest), overwrite=True)
    url = svc.blobs.url("scenes", blob)
    job_id = upload_job_id(url, info.etag)
    source = JobSource(kind=SourceKind.BLOB, container="scenes", blob_name=blob, blob_url=url, etag=info.etag)
    steps.register_job(svc, {"jobId": job_id, "source": source.to_json(), "request": request})
    registered = svc.jobs.get(job_id)["name"]
    result = steps.validate_bundle_step(svc, {"jobId": job_id})
    return registered, result, svc.jobs.get(job_id)


def test_render_json_names_an_uploaded_job_and_the_post_body_wins_over_it(svc):
    registered, result, doc = _validated_upload(svc, "artists/shot020.zip", {"name": "shot020 comp"}, {})
    assert registered == "shot020.zip" and result["ok"] is True
    assert doc["name"] == "shot020 comp"
    _, _, doc = _validated_upload(svc, "artists/shot030.zip", {"name": "from render.json"}, {"name": "from the POST"})
    assert doc["name"] == "from the POST"
    _, _, doc = _validated_upload(svc, "artists/shot040.zip", {"frames": "1-2"}, {})
    assert doc["name"] == "shot040.zip"


def test_a_bad_name_in_render_json_fails_the_job_naming_the_field(svc):
    _, result, doc = _validated_upload(svc, "artists/shot050.zip", {"name": "a\tb"}, {})
    assert result["ok"] is False
    assert result["error"]["code"] == "manifest_invalid"
    assert result["error"]["field"] == "name" and result["error"]["message"].startswith("name: ")
    assert doc["name"] == "shot050.zip"  # the job keeps a name while it fails


def test_a_manifest_job_is_named_by_its_render_json_else_its_blend(svc):
    digest = hashlib.sha256(BLEND).hexdigest()
    svc.blobs.ensure_container(svc.settings.assets_container)
    svc.blobs.upload(svc.settings.assets_container, model.asset_blob(digest), BLEND, overwrite=True)
    files = {"shots/sh010/anim.blend": {"hash": digest, "size": len(BLEND)}}
    unnamed = json.loads(_post({"manifest": {"files": files, "render": {}}}).get_body())
    assert unnamed["name"] == "shots/sh010/anim.blend", unnamed
    by_file = json.loads(_post({"manifest": {"files": files, "render": {"name": " sh010 anim "}}}).get_body())
    assert by_file["name"] == "sh010 anim"
    by_body = json.loads(_post({"manifest": {"files": files, "render": {"name": "sh010 anim"}},
                                "name": "sh010 final"}).get_body())
    assert by_body["name"] == "sh010 final"
    bad = _post({"manifest": {"files": files, "render": {"name": "a\u0000b"}}})
    assert bad.status_code == 400 and json.loads(bad.get_body())["error"]["field"] == "name"


# ---------------------------------------------------------------- GET /api/jobs?namePrefix=


def _listed_by_prefix(prefix: str) -> func.HttpResponse:
    request = func.HttpRequest("GET", "http://localhost/api/jobs", body=b"", params={"namePrefix": prefix})
    return asyncio.run(_unbound("list_jobs")(request, FakeDurableClient()))


def test_the_listing_finds_jobs_by_the_start_of_their_name(svc):
    for name in ("shot010 lighting v3", "shot010 comp", "shot0100 layout", "Shot010 other case"):
        assert _post({"bundle": "qa/shot010.zip", "name": name}).status_code == 202
    found = json.loads(_listed_by_prefix("shot010 ").get_body())["jobs"]
    assert sorted(j["name"] for j in found) == ["Shot010 other case", "shot010 comp", "shot010 lighting v3"]
    assert {j["name"] for j in json.loads(_listed_by_prefix("SHOT010").get_body())["jobs"]} == {
        "shot010 lighting v3", "shot010 comp", "shot0100 layout", "Shot010 other case"}  # case is ignored
    assert {j["name"] for j in json.loads(_listed_by_prefix("shot010 L").get_body())["jobs"]} == {
        "shot010 lighting v3"}


@pytest.mark.parametrize("prefix", ["", "x" * 201, "shot\x00", "a\nb", "\u202e"])
def test_a_bad_name_prefix_is_a_400_naming_it(svc, prefix):
    answer = _listed_by_prefix(prefix)
    assert answer.status_code == 400, answer.get_body()
    assert json.loads(answer.get_body())["error"]["field"] == "namePrefix"
