"""A function app exercising devhost's Event Grid support (not the project's app).

Each function appends what it received to the ndjson file named by the EVENTS_OUT
setting; `flaky` fails the first FLAKY_FAILURES deliveries of each event id."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
_lock = threading.Lock()


def _record(function: str, event: func.EventGridEvent) -> None:
    line = {
        "function": function,
        "class": type(event).__name__,
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "event_type": event.event_type,
        "event_time": event.event_time.isoformat() if event.event_time else None,
        "data": event.get_json(),
        "data_version": event.data_version,
    }
    with _lock, open(os.environ["EVENTS_OUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@app.event_grid_trigger(arg_name="event")
def record(event: func.EventGridEvent) -> None:
    _record("record", event)


@app.function_name("recordSuffix")
@app.event_grid_trigger(arg_name="event")
async def record_suffix(event: func.EventGridEvent) -> None:
    _record("recordSuffix", event)


@app.event_grid_trigger(arg_name="event")
def flaky(event: func.EventGridEvent) -> None:
    counter = Path(os.environ["EVENTS_OUT"]).with_name(f"flaky-{event.id}.count")
    with _lock:
        attempts = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(attempts))
    if attempts <= int(os.environ.get("FLAKY_FAILURES", "2")):
        raise RuntimeError(f"flaky failure {attempts}")
    _record("flaky", event)


@app.event_grid_trigger(arg_name="event")
def always_fails(event: func.EventGridEvent) -> None:
    raise RuntimeError("this subscriber never succeeds")


@app.event_grid_trigger(arg_name="cloud")
def as_cloud_event(cloud: func.CloudEvent) -> None:
    line = {"function": "as_cloud_event", "class": type(cloud).__name__, "id": cloud.id,
            "source": cloud.source, "type": cloud.type, "subject": cloud.subject, "data": cloud.get_json()}
    with _lock, open(os.environ["EVENTS_OUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@app.route(route="publish", methods=["POST"])
def publish(req: func.HttpRequest) -> func.HttpResponse:
    """Publishes the request's events to the local custom topic with the real SDK client."""
    from azure.core.credentials import AzureKeyCredential
    from azure.eventgrid import EventGridEvent, EventGridPublisherClient

    client = EventGridPublisherClient(os.environ["TOPIC_ENDPOINT"], AzureKeyCredential(os.environ["TOPIC_KEY"]))
    events = [EventGridEvent(subject=e["subject"], event_type=e["eventType"], data=e["data"], data_version="1.0")
              for e in req.get_json()]
    client.send(events)
    return func.HttpResponse(status_code=202)
