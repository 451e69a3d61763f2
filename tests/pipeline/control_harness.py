"""Running jobs for the job-control tests: the real steps over the simulated node, and a durable
client that answers from the replay driver's instances, as the host's would."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from shared import names
from shared.bootstrap import Services
from shared.job_document import JobSource, SourceKind, upload_job_id
from tests.pipeline.replay import Replay
from tests.pipeline.test_pipeline_steps import ACTIVITIES
from tests.qa.fakes import FakeDurableClient


@dataclass
class _Status:
    runtime_status: str | None
    input_: Any = None


@dataclass
class ReplayClient(FakeDurableClient):
    """What the control handlers need of df.DurableOrchestrationClient, over Replay's runs: an
    instance's status is its replay's, and a finished instance can be started again (a retry)."""

    replay: Replay | None = None
    overrides: dict[str, tuple[str, Any]] = field(default_factory=dict)  # instance → (status, input)

    async def get_status(self, instance_id: str, **_: Any) -> _Status:  # type: ignore[override]
        if instance_id in self.overrides:
            return _Status(*self.overrides[instance_id])
        run = self.replay.runs.get(instance_id) if self.replay else None
        if run is None:
            return _Status(None)
        return _Status(run.status, self.started.get(instance_id))

    async def start_new(self, name: str, instance_id: str, client_input: Any) -> str:
        self.started[instance_id] = client_input
        return instance_id

    async def raise_event(self, instance_id: str, name: str, data: Any) -> None:
        await super().raise_event(instance_id, name, data)
        if self.replay is not None:
            self.replay.raise_event(instance_id, name, data)


def table(svc: Services) -> dict[str, Any]:
    return {n: (lambda payload, step=step: step(svc, payload)) for n, step in ACTIVITIES.items()}


def upload(svc: Services, data: bytes, name: str = "artist-a/shot010.zip") -> tuple[str, dict[str, Any]]:
    info = svc.blobs.upload("scenes", name, data)
    url = svc.blobs.url("scenes", name)
    job_id = upload_job_id(url, info.etag)
    source = JobSource(kind=SourceKind.BLOB, container="scenes", blob_name=name, blob_url=url, etag=info.etag)
    return job_id, {"jobId": job_id, "source": source.to_json(), "request": {}, "pollSeconds": 5}


def run_job(functions: list[Any], svc: Services, request: dict[str, Any], client: ReplayClient) -> Any:
    replay = client.replay or Replay(functions, table(svc))
    client.replay = replay
    client.started[request["jobId"]] = request
    return replay.run(names.RENDER_JOB, request, request["jobId"])


class Locked:
    """Serialises every call to an in-memory adapter, as a real service does for one request,
    so that tests of concurrent API calls exercise the pipeline's concurrency, not the fake's."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)
        return call


def gather(*calls: Any) -> list[Any]:
    async def go() -> list[Any]:
        return list(await asyncio.gather(*calls, return_exceptions=True))
    return asyncio.run(go())
