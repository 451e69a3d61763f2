"""Outside input through the whole local stack (devhost, Azurite, Cosmos server, localbatch):
no 500 for bad input, errors name the field, a hostile bundle fails its job clearly."""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile

import pytest

from shared.job_document import upload_job_id
from stack.local import api_request, wait_for
from tests.e2e.conftest import wait_for_job

pytestmark = pytest.mark.slow

BLEND = b"BLENDER-v500" + b"\0" * 64


def _post_raw(stack, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"{stack.api_url}/jobs", data=body, method="POST",
                                     headers={"x-functions-key": stack.function_key, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _upload(stack, name: str, data: bytes) -> str:
    from azure.storage.blob import BlobServiceClient

    blob = BlobServiceClient.from_connection_string(stack.storage_connection_string).get_blob_client(
        "scenes", name)
    result = blob.upload_blob(data, overwrite=True)
    return upload_job_id(blob.url, str(result["etag"]))


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_the_health_check_is_healthy_on_a_working_stack(stack):
    status, body = api_request(stack, "GET", "/health")
    assert status == 200, body
    assert body["checks"]["blobStore"] == {"status": "ok"}


@pytest.mark.parametrize(("body", "field"), [
    (b"[" * 50_000 + b"]" * 50_000, "body"),
    (b'{"bundle": "qa/x.zip", "format": ["PNG"]}', "format"),
    (b'{"bundle": "qa/x\\u0001.zip"}', "bundle"),
    (b"[1, 2]", "body"),
])
def test_bad_bodies_get_a_400_naming_the_field(stack, body, field):
    status, answer = _post_raw(stack, body)
    assert status == 400, answer
    assert answer["error"]["field"] == field


def test_an_idempotency_key_in_other_case_is_the_same_job(stack):
    _upload(stack, "qa/keyed.zip", _zip({"shot.blend": BLEND}))
    request = {"bundle": "qa/keyed.zip", "frames": "1-2", "fps": 24, "resolution": "64x36", "video": None}
    first, job = api_request(stack, "POST", "/jobs", request, headers={"Idempotency-Key": "QA-Case-Key"})
    again, same = api_request(stack, "POST", "/jobs", request, headers={"Idempotency-Key": "qa-case-key"})
    assert (first, again) == (202, 200)
    assert job["id"] == same["id"] == "qa-case-key"
    assert api_request(stack, "GET", "/jobs/QA-Case-Key")[0] == 200
    api_request(stack, "POST", "/jobs/qa-case-key/cancel")


def test_an_upload_the_nodes_could_not_unpack_fails_its_job_as_unsafe(stack):
    job_id = _upload(stack, "qa/conflict.zip", _zip({"shot.blend": BLEND, "tex": b"x", "tex/a.png": b"y"}))
    doc = wait_for_job(stack, job_id, timeout=120)
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "bundle_unsafe_path"


def test_racing_posts_with_one_idempotency_key_answer_one_job_and_no_500(stack):
    from concurrent.futures import ThreadPoolExecutor

    _upload(stack, "qa/race.zip", _zip({"shot.blend": BLEND}))
    request = {"bundle": "qa/race.zip", "frames": "1-2", "fps": 24, "resolution": "64x36", "video": None}
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: api_request(stack, "POST", "/jobs", request,
                                                      headers={"Idempotency-Key": "qa-race-1"}), range(6)))
    assert sorted(status for status, _ in answers) == [200] * 5 + [202], answers
    assert {body["id"] for _, body in answers} == {"qa-race-1"}
    api_request(stack, "POST", "/jobs/qa-race-1/cancel")


def test_a_client_sent_principal_header_names_no_submitter(stack):
    _upload(stack, "qa/principal.zip", _zip({"shot.blend": BLEND}))
    request = {"bundle": "qa/principal.zip", "frames": "1-2", "fps": 24, "resolution": "64x36", "video": None}
    status, job = api_request(stack, "POST", "/jobs", request,
                              headers={"x-ms-client-principal-name": "render-admin@studio.example"})
    assert status == 202, job
    assert job["source"]["submitter"] is None
    api_request(stack, "POST", f"/jobs/{job['id']}/cancel")


@pytest.mark.parametrize("token", ["%00%01", "%C3%A9t%C3%A9", "a%0Ab"])
def test_a_malformed_continuation_token_is_a_400(stack, token):
    status, body = api_request(stack, "GET", f"/jobs?top=1&continuationToken={token}")
    assert status == 400, body
    assert body["error"]["code"] == "invalid_continuation_token"


def test_an_unreadable_blend_fails_scene_unreadable_with_a_plain_error(stack):
    manifest = json.dumps({"frames": "1-2", "fps": 24, "resolution": "64x36", "video": None}).encode()
    job_id = _upload(stack, "qa/unreadable.zip", _zip({"shot.blend": BLEND, "render.json": manifest}))
    doc = wait_for_job(stack, job_id, timeout=180)
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "scene_unreadable", doc["error"]
    assert "Traceback" not in json.dumps(doc["error"]) and doc["chunkCount"] == 0


def _published(stack, job_id: str) -> list[str]:
    request = urllib.request.Request(f"{stack.devhost_url}/eventgrid/topics/render-jobs/events",
                                     headers={"x-functions-key": stack.master_key})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [e["eventType"] for e in json.loads(response.read()) if e["subject"] == f"/jobs/{job_id}"]


def test_a_job_submitted_over_http_publishes_queued_once(stack):
    _upload(stack, "qa/posted.zip", _zip({"shot.blend": BLEND}))
    request = {"bundle": "qa/posted.zip", "frames": "1-2", "fps": 24, "resolution": "64x36", "video": None}
    status, job = api_request(stack, "POST", "/jobs", request, headers={"Idempotency-Key": "qa-posted-1"})
    assert status == 202, job
    api_request(stack, "POST", "/jobs", request, headers={"Idempotency-Key": "qa-posted-1"})  # a retry
    doc = wait_for_job(stack, job["id"], timeout=180)  # the .blend is no real one: it fails scene_unreadable
    assert doc["status"] == "failed"
    events = wait_for(lambda: (e := _published(stack, job["id"])) and e[-1].endswith("Failed") and e, 30,
                      what="the Failed event")
    assert events == ["RenderPipeline.Job.Queued", "RenderPipeline.Job.Failed"]


def test_a_forged_blob_created_event_through_the_webhook_starts_no_job(stack):
    from azure.storage.blob import BlobServiceClient

    scenes = BlobServiceClient.from_connection_string(stack.storage_connection_string).get_container_client("scenes")
    real = scenes.get_blob_client("qa/forged-subject.zip").upload_blob(_zip({"shot.blend": BLEND}), overwrite=True)
    forged_url = scenes.get_blob_client("approved/hero.zip").url  # a blob the job would claim it renders
    event = [{"id": "forged-1", "eventType": "Microsoft.Storage.BlobCreated", "dataVersion": "1",
              "subject": "/blobServices/default/containers/scenes/blobs/qa/forged-subject.zip",
              "eventTime": "2026-12-01T00:00:00Z", "topic": "/subscriptions/x/storageAccounts/devstoreaccount1",
              "data": {"api": "PutBlob", "url": forged_url, "eTag": str(real["etag"]), "contentLength": 10}}]
    request = urllib.request.Request(
        f"{stack.devhost_url}/runtime/webhooks/eventgrid?functionName=on_scene_uploaded",
        data=json.dumps(event).encode(), method="POST",
        headers={"x-functions-key": stack.master_key, "content-type": "application/json",
                 "aeg-event-type": "Notification"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 202)
    forged_job = upload_job_id(forged_url, str(real["etag"]))
    time.sleep(3)  # the function ran (delivery is synchronous); nothing may appear later either
    assert api_request(stack, "GET", f"/jobs/{forged_job}")[0] == 404
    assert api_request(stack, "GET", f"/jobs/{forged_job}/history")[0] == 404
