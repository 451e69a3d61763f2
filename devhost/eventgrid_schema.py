"""Event Grid payloads: parsing and validating the Event Grid schema and CloudEvents 1.0
(single or batch), and turning one event into what a Python function receives."""

from __future__ import annotations

import inspect
import json
from datetime import datetime
from typing import Any

import azure.functions as func
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
MAX_PAYLOAD = 1024 * 1024  # Event Grid's limit for one publish request


class PayloadError(ValueError):
    """A payload that is not valid Event Grid schema or CloudEvents JSON."""


def _check_time(value: Any, where: str, field: str) -> None:
    if not isinstance(value, str):
        raise PayloadError(f"{where}: '{field}' must be an RFC 3339 date-time string")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Event Grid sends 7 fractional digits; Python parses at most 6.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[:min(digits, 6)]}{tail[digits:]}"
    try:
        datetime.fromisoformat(text)
    except ValueError as exc:
        raise PayloadError(f"{where}: '{field}' is not an RFC 3339 date-time: {value!r}") from exc


def _check_string(event: dict[str, Any], field: str, where: str, required: bool = True) -> None:
    value = event.get(field)
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value):
        raise PayloadError(f"{where}: '{field}' is required and must be a non-empty string")


def validate_eventgrid_event(event: Any, where: str) -> None:
    if not isinstance(event, dict):
        raise PayloadError(f"{where}: each event must be a JSON object")
    for field in ("id", "eventType"):
        _check_string(event, field, where)
    if not isinstance(event.get("subject"), str):
        raise PayloadError(f"{where}: 'subject' is required and must be a string")
    _check_time(event.get("eventTime"), where, "eventTime")
    for field in ("topic", "dataVersion", "metadataVersion"):
        if field in event and event[field] is not None and not isinstance(event[field], str):
            raise PayloadError(f"{where}: '{field}' must be a string")


def validate_cloud_event(event: Any, where: str) -> None:
    if not isinstance(event, dict):
        raise PayloadError(f"{where}: each event must be a JSON object")
    if event.get("specversion") != "1.0":
        raise PayloadError(f"{where}: 'specversion' must be \"1.0\"")
    for field in ("id", "source", "type"):
        _check_string(event, field, where)
    if event.get("time") is not None:
        _check_time(event["time"], where, "time")
    _check_string(event, "subject", where, required=False)


def parse_events(body: bytes, content_type: str) -> tuple[str, list[dict[str, Any]]]:
    """Return ("eventgrid" | "cloudevents", events) or raise PayloadError."""
    if len(body) > MAX_PAYLOAD:
        raise PayloadError(f"payload is {len(body)} bytes; at most {MAX_PAYLOAD} are accepted")
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError(f"payload is not UTF-8 JSON: {exc}") from exc
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/cloudevents+json" and not isinstance(document, dict):
        raise PayloadError("application/cloudevents+json must carry one JSON object")
    if mime == "application/cloudevents-batch+json" and not isinstance(document, list):
        raise PayloadError("application/cloudevents-batch+json must carry a JSON array")
    events = document if isinstance(document, list) else [document]
    if not events:
        raise PayloadError("payload holds no events")
    if not all(isinstance(e, dict) for e in events):
        raise PayloadError("each event must be a JSON object")
    cloud = mime.startswith("application/cloudevents") or all("specversion" in e for e in events)
    for index, event in enumerate(events):
        where = f"event [{index}]"
        (validate_cloud_event if cloud else validate_eventgrid_event)(event, where)
    return ("cloudevents" if cloud else "eventgrid"), events


def wants_cloud_event(callable_: Any, parameter: str) -> bool:
    """True when the trigger parameter is annotated func.CloudEvent."""
    try:
        annotation = inspect.signature(callable_, eval_str=True).parameters[parameter].annotation
    except Exception:
        try:
            annotation = inspect.signature(callable_).parameters[parameter].annotation
        except Exception:
            return False
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] == "CloudEvent"
    return isinstance(annotation, type) and issubclass(annotation, func.CloudEvent)


def cloud_to_eventgrid(event: dict[str, Any]) -> dict[str, Any]:
    """Event Grid's own mapping between the schemas: source→topic, type→eventType,
    time→eventTime; dataVersion comes from the 'dataversion' extension when present."""
    return {
        "id": event.get("id"),
        "topic": event.get("source"),
        "subject": event.get("subject", ""),
        "eventType": event.get("type"),
        "eventTime": event.get("time"),
        "data": event.get("data"),
        "dataVersion": event.get("dataversion", ""),
        "metadataVersion": "1",
    }


def to_binding(event: dict[str, Any], schema: str, cloud_event: bool) -> Any:
    """The trigger value: func.CloudEvent if the parameter asks for one, otherwise
    func.EventGridEvent, both built by the worker's own converter."""
    if cloud_event and schema == "eventgrid":
        event = {"specversion": "1.0", "id": event.get("id"), "source": event.get("topic"),
                 "type": event.get("eventType"), "time": event.get("eventTime"),
                 "subject": event.get("subject"), "data": event.get("data")}
    elif not cloud_event and schema == "cloudevents":
        event = cloud_to_eventgrid(event)
    return EventGridEventInConverter.decode(Datum(json.dumps(event), "json"), trigger_metadata={})
