"""An EventPublisher that keeps what it is given, for unit tests (and a local stack
with no outbound topic)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.ports import LifecycleEvent


class RecordingEventPublisher:
    def __init__(self) -> None:
        self.events: list[LifecycleEvent] = []

    def publish(self, events: Sequence[LifecycleEvent]) -> None:
        self.events.extend(events)

    def types(self) -> list[str]:
        return [e.event_type for e in self.events]
