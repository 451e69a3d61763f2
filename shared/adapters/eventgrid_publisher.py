"""EventPublisher on azure-eventgrid: lifecycle events to a custom topic, Event Grid schema.

AzureKeyCredential (header aeg-sas-key) when a topic key is set, else DefaultAzureCredential.
Events are sent in batches of up to 100 (well under the topic's 1 MB request limit for the
small payloads sent here); a topic that is busy or unreachable is a TransientError.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.eventgrid import EventGridEvent, EventGridPublisherClient

from shared.adapters.retry import core_options
from shared.errors import PermanentError, TransientError, ValidationError
from shared.ports import LifecycleEvent

BATCH_SIZE = 100
EVENT_TYPE_PREFIX = "RenderPipeline.Job."


def map_error(exc: AzureError, what: str) -> Exception:
    if isinstance(exc, ClientAuthenticationError):
        return PermanentError(f"{what}: not authorized", code="unauthorized")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return TransientError(f"{what}: Event Grid unreachable: {exc.message}")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        if status is not None and (status in (408, 429) or status >= 500):
            return TransientError(f"{what}: Event Grid busy ({status})")
        if status in (401, 403):
            return PermanentError(f"{what}: not authorized ({status})", code="unauthorized")
        return PermanentError(f"{what}: Event Grid refused ({status}): {exc.message}")
    return TransientError(f"{what}: {exc}")


def to_eventgrid_event(event: LifecycleEvent) -> EventGridEvent:
    if not event.event_type.startswith(EVENT_TYPE_PREFIX):
        raise ValidationError(f"event type {event.event_type!r} is not a {EVENT_TYPE_PREFIX}* type",
                              field="eventType")
    try:
        event_time = datetime.fromisoformat(event.event_time)
    except ValueError:
        raise ValidationError(f"event time {event.event_time!r} is not ISO 8601", field="eventTime") from None
    return EventGridEvent(subject=event.subject, event_type=event.event_type, data=event.data,
                          data_version=event.data_version, id=event.id, event_time=event_time)


class EventGridPublisher:
    def __init__(self, client: EventGridPublisherClient, send_options: dict[str, Any] | None = None) -> None:
        self._client = client
        # Per call: azure-eventgrid 4.22's client for basic topics drops the retry options given
        # to its constructor, but azure-core's RetryPolicy reads them from each request as well.
        self._send_options = send_options or {}

    @classmethod
    def create(cls, endpoint: str, key: str = "", credential: Any = None,
               **client_options: Any) -> EventGridPublisher:
        """client_options go to the SDK client; a local topic retries quickly (shared.adapters.retry)."""
        if key:
            credential = AzureKeyCredential(key)
        elif credential is None:
            from azure.identity import DefaultAzureCredential
            credential = DefaultAzureCredential()
        return cls(EventGridPublisherClient(endpoint, credential), core_options(endpoint, client_options))

    @classmethod
    def from_settings(cls, settings: Any) -> EventGridPublisher:
        return cls.create(settings.eventgrid_topic_endpoint, settings.eventgrid_topic_key)

    def publish(self, events: Sequence[LifecycleEvent]) -> None:
        converted = [to_eventgrid_event(e) for e in events]  # all checked before any is sent
        for start in range(0, len(converted), BATCH_SIZE):
            batch = converted[start:start + BATCH_SIZE]
            try:
                self._client.send(batch, **self._send_options)
            except AzureError as exc:
                raise map_error(exc, f"publish {len(batch)} events") from exc


class NullEventPublisher:
    """For a stack without an outbound topic (EVENTGRID_TOPIC_ENDPOINT empty): events go nowhere."""

    def publish(self, events: Sequence[LifecycleEvent]) -> None:
        for event in events:
            to_eventgrid_event(event)  # still checked, so a bad event fails locally as it would in Azure
