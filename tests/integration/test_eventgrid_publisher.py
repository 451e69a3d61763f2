"""EventGridPublisher against a small aiohttp server standing in for a custom topic."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from shared.adapters.eventgrid_publisher import EventGridPublisher, NullEventPublisher
from shared.adapters.fake_event_publisher import RecordingEventPublisher
from shared.errors import PermanentError, TransientError, ValidationError
from shared.ports import LifecycleEvent

KEY = "topic-key-123"


@dataclass
class Topic:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    replies: list[int] = field(default_factory=list)  # statuses to answer with, then 200


@pytest.fixture
def topic() -> Iterator[Topic]:
    state = Topic()
    loop = asyncio.new_event_loop()

    async def receive(request: web.Request) -> web.Response:
        state.requests.append({"headers": dict(request.headers), "query": dict(request.query),
                               "body": await request.json()})
        status = state.replies.pop(0) if state.replies else 200
        # retry-after-ms keeps the SDK's retries of a busy topic quick
        return web.Response(status=status, headers={"retry-after-ms": "1"})

    app = web.Application()
    app.router.add_post("/api/events", receive)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/api/events"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def event(kind: str = "Completed", n: int = 1) -> LifecycleEvent:
    return LifecycleEvent(id=f"job-{n}:{kind.lower()}", event_type=f"RenderPipeline.Job.{kind}",
                          subject=f"/jobs/job-{n}", data={"jobId": f"job-{n}", "status": kind.lower()},
                          event_time="2026-11-26T05:00:00.000Z")


def test_events_arrive_in_event_grid_schema_with_the_key(topic):
    EventGridPublisher.create(topic.url, KEY).publish([event("Queued"), event("Completed")])
    assert len(topic.requests) == 1
    request = topic.requests[0]
    assert request["headers"]["aeg-sas-key"] == KEY
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert request["query"].get("api-version") == "2018-01-01"
    first, second = request["body"]
    assert first["id"] == "job-1:queued" and first["eventType"] == "RenderPipeline.Job.Queued"
    assert first["subject"] == "/jobs/job-1" and first["dataVersion"] == "1.0"
    assert first["data"] == {"jobId": "job-1", "status": "queued"}
    assert first["eventTime"].startswith("2026-11-26T05:00:00")
    assert second["eventType"] == "RenderPipeline.Job.Completed"


def test_many_events_go_in_batches(topic):
    EventGridPublisher.create(topic.url, KEY).publish([event(n=n) for n in range(250)])
    assert [len(r["body"]) for r in topic.requests] == [100, 100, 50]


def test_a_busy_topic_is_transient_and_a_refusal_permanent(topic):
    publisher = EventGridPublisher.create(topic.url, KEY)
    topic.replies = [503] * 10
    with pytest.raises(TransientError):
        publisher.publish([event()])
    topic.replies = [400]
    with pytest.raises(PermanentError) as err:
        publisher.publish([event()])
    assert not err.value.transient
    topic.replies = [503]  # one busy answer: the SDK's retry gets it through
    publisher.publish([event()])


def test_bad_events_are_refused_before_sending(topic):
    publisher = EventGridPublisher.create(topic.url, KEY)
    for bad in (LifecycleEvent("1", "Other.Type", "/jobs/x", {}, "2026-11-26T05:00:00Z"),
                LifecycleEvent("1", "RenderPipeline.Job.Failed", "/jobs/x", {}, "yesterday")):
        with pytest.raises(ValidationError):
            publisher.publish([event(), bad])
        with pytest.raises(ValidationError):
            NullEventPublisher().publish([bad])
    assert topic.requests == []


def test_recording_publisher_keeps_events():
    recorder = RecordingEventPublisher()
    recorder.publish([event("Queued"), event("Failed")])
    assert recorder.types() == ["RenderPipeline.Job.Queued", "RenderPipeline.Job.Failed"]
    assert json.loads(json.dumps(recorder.events[0].data)) == {"jobId": "job-1", "status": "queued"}
