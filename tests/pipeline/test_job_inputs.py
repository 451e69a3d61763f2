"""What a job reads and announces, whichever way it came in: lifecycle events, the bundle
version its tasks read, the scene it renders, and the errors clients see. The orchestration
runs through the SDK's replay over the real steps, with fakes and a simulated render node."""

from __future__ import annotations

import asyncio
from typing import Any

from shared import names
from shared.bootstrap import Services
from shared.errors import TransientError
from shared.pipeline import submission
from tests.pipeline.replay import Replay
from tests.pipeline.test_pipeline_steps import ACTIVITIES, bundle_zip, functions, make_services, run_upload
from tests.qa.fakes import FakeDurableClient

__all__ = ["functions"]  # the module-scoped fixture, shared with test_pipeline_steps


def _table(svc: Services, **overrides: Any) -> dict[str, Any]:
    table = {n: (lambda payload, step=step: step(svc, payload)) for n, step in ACTIVITIES.items()}
    table.update(overrides)
    return table


def run_http(functions: list[Any], svc: Services, body: dict[str, Any], key: str | None = None,
             **overrides: Any) -> tuple[str, Any]:
    client = FakeDurableClient()
    submitted = asyncio.run(submission.submit_http_job(svc, client, body, key, None))
    job_id = submitted.job["id"]
    run = Replay(functions, _table(svc, **overrides)).run(names.RENDER_JOB, client.started[job_id], job_id)
    return job_id, run


SMALL = {"frames": "1-4", "fps": 24, "resolution": "64x36", "chunkSize": 2}


def test_an_http_job_publishes_queued_once_then_started_and_completed(functions):
    svc = make_services()
    svc.blobs.upload("scenes", "studio/shot.zip", bundle_zip())
    job_id, run = run_http(functions, svc, {"bundle": "studio/shot.zip", **SMALL})
    assert run.status == "Completed", run.error
    assert svc.events.types() == ["RenderPipeline.Job.Queued", "RenderPipeline.Job.Started",
                                  "RenderPipeline.Job.Completed"]
    assert {e.subject for e in svc.events.events} == {f"/jobs/{job_id}"}


def test_a_register_step_retried_after_publishing_still_publishes_queued_once(functions):
    svc = make_services()
    svc.blobs.upload("scenes", "studio/shot.zip", bundle_zip())
    calls = {"n": 0}

    def flaky_register(payload: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        result = ACTIVITIES[names.REGISTER_JOB](svc, payload)
        if calls["n"] == 1:  # the host lost the activity's answer: it runs again
            raise TransientError("lost the answer")
        return result

    _, run = run_http(functions, svc, {"bundle": "studio/shot.zip", **SMALL},
                      **{names.REGISTER_JOB: flaky_register})
    assert run.status == "Completed", run.error
    assert calls["n"] == 2
    assert svc.events.types().count("RenderPipeline.Job.Queued") == 1


def test_an_upload_job_publishes_queued_exactly_once(functions):
    svc = make_services()
    _, run = run_upload(functions, svc, bundle_zip(SMALL))
    assert run.status == "Completed", run.error
    assert svc.events.types().count("RenderPipeline.Job.Queued") == 1
