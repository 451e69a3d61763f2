"""The Event Grid webhook (/runtime/webhooks/eventgrid) and the custom topic stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, EventGridPublisherClient

from tests.devhost.harness import Devhost, read_ndjson, request, start_devhost, wait_for

SAMPLES = Path(__file__).resolve().parent / "samples"
TOPIC_KEY = "test-topic-key"


@pytest.fixture(scope="module")
def devhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    work = tmp_path_factory.mktemp("devhost-eventgrid")
    port_holder: dict[str, Any] = {}
    from stack.services import free_port

    port_holder["port"] = free_port()
    host = start_devhost("events_app", work, {
        "EVENTS_OUT": str(work / "events.ndjson"),
        "FLAKY_FAILURES": "1",
        "DEVHOST_EVENTGRID_TOPIC_KEY": TOPIC_KEY,
        "TOPIC_ENDPOINT": f"http://127.0.0.1:{port_holder['port']}/eventgrid/topics/render-jobs/api/events",
        "TOPIC_KEY": TOPIC_KEY,
    }, port=port_holder["port"])
    yield host
    host.stop()


def webhook(host: Devhost, function: str, body: bytes, content_type: str = "application/json",
            event_type: str = "Notification", key: str | None = None) -> Any:
    return request("POST", f"{host.url}/runtime/webhooks/eventgrid",
                   params={"functionName": function, "code": key or host.keys["eventgrid_system"]},
                   data=body, headers={"content-type": content_type, "aeg-event-type": event_type})


def events_of(host: Devhost, function: str, event_id: str) -> list[dict[str, Any]]:
    return [e for e in read_ndjson(host.work / "events.ndjson")
            if e["function"] == function and e["id"] == event_id]


def test_eventgrid_schema_sample_is_delivered_as_an_eventgridevent(devhost: Devhost) -> None:
    sample = (SAMPLES / "eventgrid-blob-created.json").read_bytes()
    resp = webhook(devhost, "record", sample)
    assert resp.status == 202
    expected = json.loads(sample)[0]
    [got] = events_of(devhost, "record", expected["id"])
    assert got["class"] == "EventGridEvent"
    assert got["topic"] == expected["topic"]
    assert got["subject"] == expected["subject"]
    assert got["event_type"] == "Microsoft.Storage.BlobCreated"
    assert got["event_time"].startswith("2026-11-26T18:41:00.958410")
    assert got["data"] == expected["data"]
    assert got["data_version"] == ""


@pytest.mark.parametrize("content_type,batch", [("application/cloudevents+json", False),
                                                ("application/cloudevents-batch+json", True)])
def test_cloudevents_single_and_batch_map_to_eventgridevent(devhost: Devhost, content_type: str,
                                                            batch: bool) -> None:
    event = json.loads((SAMPLES / "cloudevent-blob-created.json").read_bytes())
    event["id"] = f"cloud-{batch}"
    body = json.dumps([event] if batch else event).encode()
    assert webhook(devhost, "record", body, content_type).status == 202
    [got] = events_of(devhost, "record", event["id"])
    assert got["class"] == "EventGridEvent"
    assert got["topic"] == event["source"]
    assert got["subject"] == event["subject"]
    assert got["event_type"] == event["type"]
    assert got["data"]["api"] == "PutBlob"


def test_cloudevent_parameter_receives_a_cloudevent(devhost: Devhost) -> None:
    event = json.loads((SAMPLES / "cloudevent-blob-created.json").read_bytes())
    assert webhook(devhost, "as_cloud_event", json.dumps(event).encode(), "application/cloudevents+json").status == 202
    [got] = events_of(devhost, "as_cloud_event", event["id"])
    assert got["class"] == "CloudEvent"
    assert got["source"] == event["source"]
    assert got["type"] == "Microsoft.Storage.BlobCreated"


def test_subscription_validation_handshake(devhost: Devhost) -> None:
    body = json.dumps([{
        "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66", "topic": "/subscriptions/x",
        "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2026-11-26T18:41:00.9584103Z", "metadataVersion": "1", "dataVersion": "1",
        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                 "validationUrl": "https://rp-eastus2.eventgrid.azure.net/validate"}}]).encode()
    resp = webhook(devhost, "record", body, event_type="SubscriptionValidation")
    assert resp.status == 200
    assert resp.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert not events_of(devhost, "record", "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66")


@pytest.mark.parametrize("body,content_type", [
    (b"not json", "application/json"),
    (b"[]", "application/json"),
    (b'[{"id": "1", "subject": "s", "eventTime": "2026-11-26T00:00:00Z"}]', "application/json"),
    (b'[{"id": "1", "subject": "s", "eventType": "t", "eventTime": "yesterday"}]', "application/json"),
    (b'{"specversion": "1.0", "id": "1", "type": "t"}', "application/cloudevents+json"),
    (b'[{"specversion": "1.0", "id": "1", "source": "s", "type": "t"}]', "application/cloudevents+json"),
])
def test_malformed_payload_is_400_with_a_reason(devhost: Devhost, body: bytes, content_type: str) -> None:
    resp = webhook(devhost, "record", body, content_type)
    assert resp.status == 400
    assert "malformed Event Grid payload" in resp.json()["error"]


def test_unknown_function_is_404_and_a_key_is_required(devhost: Devhost) -> None:
    sample = (SAMPLES / "eventgrid-blob-created.json").read_bytes()
    assert webhook(devhost, "no_such_function", sample).status == 404
    assert webhook(devhost, "record", sample, key="wrong").status == 401
    resp = request("POST", f"{devhost.url}/runtime/webhooks/eventgrid", params={"functionName": "record"},
                   data=sample, headers={"content-type": "application/json"})
    assert resp.status == 401


def test_failing_function_is_500_so_event_grid_retries(devhost: Devhost) -> None:
    sample = json.loads((SAMPLES / "eventgrid-blob-created.json").read_bytes())
    sample[0]["id"] = "flaky-webhook-1"
    body = json.dumps(sample).encode()
    assert webhook(devhost, "flaky", body).status == 500  # FLAKY_FAILURES=1
    assert webhook(devhost, "flaky", body).status == 202
    assert len(events_of(devhost, "flaky", "flaky-webhook-1")) == 1


def test_topic_accepts_a_real_publisher_client_and_returns_the_events(devhost: Devhost) -> None:
    endpoint = f"{devhost.url}/eventgrid/topics/render-jobs/api/events"
    client = EventGridPublisherClient(endpoint, AzureKeyCredential(TOPIC_KEY))
    client.send([EventGridEvent(subject="/jobs/job-1", event_type="RenderPipeline.Job.Queued",
                                data={"jobId": "job-1"}, data_version="1.0")])
    events = request("GET", f"{devhost.url}/eventgrid/topics/render-jobs/events",
                     params={"code": devhost.keys["master"]}).json()
    [event] = [e for e in events if e["subject"] == "/jobs/job-1"]
    assert event["eventType"] == "RenderPipeline.Job.Queued"
    assert event["data"] == {"jobId": "job-1"}
    assert event["dataVersion"] == "1.0"
    assert event["topic"].endswith("/providers/Microsoft.EventGrid/topics/render-jobs")
    client.send([CloudEvent(source="/render-pipeline", type="RenderPipeline.Job.Started", subject="/jobs/job-1",
                            data={"jobId": "job-1"})])
    events = request("GET", f"{devhost.url}/eventgrid/topics/render-jobs/events",
                     params={"code": devhost.keys["master"]}).json()
    [cloud] = [e for e in events if e.get("type") == "RenderPipeline.Job.Started"]
    assert (cloud["specversion"], cloud["source"], cloud["data"]) == ("1.0", "/render-pipeline", {"jobId": "job-1"})
    with pytest.raises(ClientAuthenticationError):
        EventGridPublisherClient(endpoint, AzureKeyCredential("wrong")).send(
            [EventGridEvent(subject="/jobs/x", event_type="t", data={}, data_version="1")])


def test_the_app_itself_can_publish_to_the_local_topic(devhost: Devhost) -> None:
    resp = request("POST", f"{devhost.url}/api/publish",
                   json=[{"subject": "/jobs/job-2", "eventType": "RenderPipeline.Job.Completed", "data": {"n": 2}}])
    assert resp.status == 202
    events = wait_for(lambda: [e for e in request(
        "GET", f"{devhost.url}/eventgrid/topics/render-jobs/events",
        params={"code": devhost.keys["master"]}).json() if e["subject"] == "/jobs/job-2"])
    assert events[0]["eventType"] == "RenderPipeline.Job.Completed"


def test_topic_rejects_bad_events_and_reading_needs_the_master_key(devhost: Devhost) -> None:
    url = f"{devhost.url}/eventgrid/topics/render-jobs/api/events"
    headers = {"aeg-sas-key": TOPIC_KEY, "content-type": "application/json"}
    bad = request("POST", url, params={"api-version": "2018-01-01"}, data=b'[{"subject": "s"}]', headers=headers)
    assert bad.status == 400
    assert "eventType" in bad.json()["error"] or "id" in bad.json()["error"]
    assert request("POST", url, data=b"[]", headers=headers).status == 400  # no api-version
    assert request("GET", f"{devhost.url}/eventgrid/topics/render-jobs/events").status == 401
