"""Services of fakes and a durable client stand-in for the QA tests of outside input."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from shared.bootstrap import Services
from tests.pipeline.test_pipeline_steps import bundle_zip, make_services

__all__ = ["FakeDurableClient", "make_services", "services_behind"]


def services_behind(monkeypatch: pytest.MonkeyPatch, bundle: str, *triggers: ModuleType) -> Services:
    """Fake services with a scene bundle at scenes/<bundle>, answering the `services()` of each
    trigger module given, so a test calls the app's own trigger functions."""
    services = make_services()
    services.blobs.upload("scenes", bundle, bundle_zip())
    for module in triggers:
        monkeypatch.setattr(module, "services", lambda: services)
    return services


@dataclass
class _Status:
    runtime_status: str | None


@dataclass
class FakeDurableClient:
    """What submission and cancel need of df.DurableOrchestrationClient: instances by id."""

    started: dict[str, Any] = field(default_factory=dict)
    terminated: list[str] = field(default_factory=list)
    raised: list[tuple[str, str, Any]] = field(default_factory=list)

    async def get_status(self, instance_id: str, **_: Any) -> _Status:
        return _Status("Running" if instance_id in self.started else None)

    async def start_new(self, name: str, instance_id: str, client_input: Any) -> str:
        if instance_id in self.started:
            raise Exception(f"instance {instance_id} already exists")
        self.started[instance_id] = client_input
        return instance_id

    async def terminate(self, instance_id: str, reason: str) -> None:
        self.terminated.append(instance_id)

    async def raise_event(self, instance_id: str, name: str, data: Any) -> None:
        self.raised.append((instance_id, name, data))
