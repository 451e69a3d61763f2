"""Event Grid events from outside: malformed ones are dropped, duplicates start one job,
names are read exactly as sent (a trailing newline is part of the name)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import azure.functions as func
import pytest

import triggers.uploads as uploads
from shared.pipeline.submission import parse_blob_created, parse_marker, scene_upload_reason_to_skip
from tests.app_functions import app_functions
from tests.qa.fakes import FakeDurableClient, make_services

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
SCENES = "/blobServices/default/containers/scenes/blobs/"
RENDERS = "/blobServices/default/containers/renders/blobs/"
DATA = {"url": "http://127.0.0.1/devstoreaccount1/scenes/a/shot.zip", "eTag": "0x8D1", "api": "PutBlob",
        "contentLength": 10}


def test_a_subject_with_a_trailing_newline_is_not_read_as_another_blob():
    event = parse_blob_created(BLOB_CREATED, SCENES + "a/shot.zip\n", DATA)
    assert event.blob_name == "a/shot.zip\n"
    assert scene_upload_reason_to_skip(event, "scenes") is not None


def test_a_marker_name_with_a_trailing_newline_is_no_marker():
    event = parse_blob_created(BLOB_CREATED, RENDERS + "job-1/chunks/chunk-0001.json\n", DATA)
    assert parse_marker(event, "renders") is None


def _trigger(name: str) -> Any:
    function = {f.get_function_name(): f for f in app_functions()}[name]
    return function.get_user_function().__wrapped__  # the body, before the SDK binds the client


def _event(subject: Any, data: Any, event_type: Any = BLOB_CREATED) -> func.EventGridEvent:
    return func.EventGridEvent(id="e1", data=data, topic="t", subject=subject, event_type=event_type,
                               event_time=dt.datetime.now(dt.UTC), data_version="1")


@pytest.fixture
def fake_services(monkeypatch):
    svc = make_services()
    monkeypatch.setattr(uploads, "services", lambda: svc)
    return svc


@pytest.mark.parametrize(("subject", "data", "event_type"), [
    (SCENES + "a/shot.zip", None, BLOB_CREATED),
    (SCENES + "a/shot.zip", [], BLOB_CREATED),
    (SCENES + "a/shot.zip", {"url": 5, "eTag": None}, BLOB_CREATED),
    (None, DATA, BLOB_CREATED),
    ("/subscriptions/x/resourceGroups/y", DATA, BLOB_CREATED),
    (SCENES + "a/shot.zip", DATA, "Microsoft.Storage.BlobDeleted"),
    (SCENES + "a/shot.zip", DATA, None),
    (SCENES + "../renders/x.zip", DATA, BLOB_CREATED),
    (SCENES + "a/notes.txt", DATA, BLOB_CREATED),
    (SCENES + "a/shot.zip\n", DATA, BLOB_CREATED),
    ("/blobServices/default/containers/renders/blobs/a/shot.zip", DATA, BLOB_CREATED),
    (SCENES + "a/shot.zip", {**DATA, "api": "PutBlock"}, BLOB_CREATED),
    (SCENES + "a/._shot.zip", DATA, BLOB_CREATED),  # a macOS resource fork beside the real bundle
])
def test_events_that_are_no_scene_upload_start_nothing(fake_services, subject, data, event_type):
    client = FakeDurableClient()
    asyncio.run(_trigger("on_scene_uploaded")(_event(subject, data, event_type), client))
    assert client.started == {}


def test_a_duplicate_delivery_starts_one_job(fake_services):
    client = FakeDurableClient()
    for _ in range(3):
        asyncio.run(_trigger("on_scene_uploaded")(_event(SCENES + "a/shot.zip", DATA), client))
    assert len(client.started) == 1


@pytest.mark.parametrize("blob", ["job-1/chunks/../x.json", "a/b/chunks/x.json", "job-1/chunks/x.json.tmp",
                                  "job 1/chunks/x.json", "job-1/chunks/x.json\n", "job-1/frames/x.json"])
def test_blobs_that_are_no_marker_wake_nothing(fake_services, blob):
    client = FakeDurableClient()
    asyncio.run(_trigger("on_render_output")(_event(RENDERS + blob, DATA), client))
    assert client.raised == []


def test_a_marker_wakes_the_wait_of_its_round(fake_services):
    client = FakeDurableClient()
    asyncio.run(_trigger("on_render_output")(_event(RENDERS + "job-1/chunks/chunk-0003-r2.json", DATA), client))
    assert client.raised == [("job-1:render:2", "tasks_changed", {"taskId": "chunk-0003-r2"})]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/devstoreaccount1/scenes/other/approved.zip",    # another blob in the container
    "http://127.0.0.1/devstoreaccount1/renders/a/shot.zip",           # the same name in another container
    "http://127.0.0.1/devstoreaccount1/scenes/a/shot.zip/../../x.zip",
    "http://127.0.0.1/devstoreaccount1/scenes/b/a/shot.zip.zip",
])
def test_an_event_whose_url_names_another_blob_than_its_subject_starts_no_job(fake_services, caplog, url):
    client = FakeDurableClient()
    asyncio.run(_trigger("on_scene_uploaded")(_event(SCENES + "a/shot.zip", {**DATA, "url": url}), client))
    assert client.started == {}
    assert fake_services.jobs.docs == {}
    assert any("does not name the subject's blob" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)


def test_an_event_url_percent_encoding_the_subjects_name_starts_its_job(fake_services):
    client = FakeDurableClient()
    data = {**DATA, "url": "http://127.0.0.1/devstoreaccount1/scenes/a/shot%20010%2B.zip"}
    asyncio.run(_trigger("on_scene_uploaded")(_event(SCENES + "a/shot 010+.zip", data), client))
    [started] = client.started.values()
    assert started["source"]["blobName"] == "a/shot 010+.zip"
    assert started["source"]["blobUrl"] == data["url"]
