"""A task's completion marker wakes the wait of the job's current run: a retry's tasks repeat
the first run's ids, so the marker's name alone would point at run 1's wait, long ended, and
run 2 would sit out its poll interval for every round."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest

import triggers.uploads as uploads
from orchestrators.render_job import EVENT_REPOLL_SECONDS, bp
from shared import names
from shared.errors import TransientError
from shared.pipeline import control, layout, markers
from tests.app_functions import app_functions
from tests.pipeline.control_harness import gather, run_job
from tests.pipeline.test_job_control import failed_job
from tests.qa.fakes import FakeDurableClient, make_services

RENDERS = "/blobServices/default/containers/renders/blobs/"
LONG_POLL = 3_600.0  # a poll interval no test could sit out unnoticed


@pytest.fixture(scope="module")
def functions() -> list[Any]:
    app = df.DFApp()
    app.register_functions(bp)
    return app.get_functions()


def _on_render_output() -> Any:
    function = {f.get_function_name(): f for f in app_functions()}["on_render_output"]
    return function.get_user_function().__wrapped__  # the body, before the SDK binds the client


def _marker_event(svc: Any, blob: str) -> func.EventGridEvent:
    info = svc.blobs.info("renders", blob)
    data = {"url": svc.blobs.url("renders", blob), "eTag": info.etag, "api": "PutBlob", "contentLength": info.size}
    return func.EventGridEvent(id=f"e-{blob}", data=data, topic="t", subject=RENDERS + blob,
                               event_type="Microsoft.Storage.BlobCreated", event_time=dt.datetime.now(dt.UTC),
                               data_version="1")


def test_a_retried_jobs_run_2_marker_wakes_the_run_2_wait_at_once(functions, monkeypatch):
    svc, job_id, client = failed_job(functions)  # run 1 failed chunk-0002 three times
    svc.backend.fail_ids.clear()
    monkeypatch.setattr(uploads, "services", lambda: svc)
    gather(control.retry_job(svc, client, job_id, None))
    request = {**client.started[job_id], "pollSeconds": LONG_POLL}
    replay = client.replay
    assert replay is not None
    batch_job = names.batch_job_id(job_id, 2)
    run2_wait = names.wait_instance_id(job_id, names.RENDER, 0, run=2)

    # Run 2's Batch job starts disabled, so its task is still queued when the wait begins and
    # the wait has to be woken; the test then lets the task finish and delivers its marker
    # through the real trigger, as Event Grid would.
    start_run = replay.activities[names.START_RUN]

    def start_run_held(payload: Any) -> Any:
        result = start_run(payload)
        svc.backend.disable_job(batch_job, "wait")
        return result
    replay.activities[names.START_RUN] = start_run_held
    seen: dict[str, Any] = {}

    def finish_the_task_and_send_its_marker() -> None:
        wait = replay.runs.get(run2_wait)
        if wait is None or wait.status != "Running" or "at" in seen:
            return
        seen["at"] = replay.clock
        svc.backend.enable_job(batch_job)  # the task runs and leaves its marker
        blob = layout.marker_blob(job_id, "chunk-0002")
        asyncio.run(_on_render_output()(_marker_event(svc, blob), client))
    replay.on_quiet = finish_the_task_and_send_its_marker

    run = run_job(functions, svc, request, client)
    assert run.status == "Completed", run.error
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed" and doc["run"] == 2
    assert (run2_wait, names.TASKS_CHANGED, {"taskId": "chunk-0002"}) in client.raised
    assert names.wait_instance_id(job_id, names.RENDER, 0) not in [i for i, _, _ in client.raised]
    # Woken by the marker: the wait ended a re-poll after it, not after its poll interval.
    waited = (replay.clock - seen["at"]).total_seconds()
    assert waited <= EVENT_REPOLL_SECONDS < LONG_POLL
    assert replay.runs[run2_wait].status == "Completed"


@pytest.mark.parametrize(("task_id", "phase", "round_"), [
    ("inspect", names.INSPECT, 0), ("chunk-0003", names.RENDER, 0), ("chunk-0003-r2", names.RENDER, 2),
    ("stitch", names.STITCH, 0), ("stitch-r1", names.STITCH, 1)])
def test_every_kind_of_marker_is_routed_to_the_current_runs_wait(task_id, phase, round_):
    svc = make_services()
    svc.jobs.create({"id": "job-7", "status": "rendering", "run": 3})
    assert markers.marker_wait_instance(svc, "job-7", task_id) == names.wait_instance_id("job-7", phase, round_, 3)
    svc.jobs.create({"id": "job-8", "status": "rendering"})  # a document from before retries: run 1
    assert markers.marker_wait_instance(svc, "job-8", task_id) == names.wait_instance_id("job-8", phase, round_)


def test_a_marker_whose_job_store_is_away_still_wakes_run_1s_wait(monkeypatch):
    svc = make_services()

    def away(job_id: str) -> Any:
        raise TransientError("the job store is restarting")
    monkeypatch.setattr(svc.jobs, "get", away)
    monkeypatch.setattr(uploads, "services", lambda: svc)
    client = FakeDurableClient()
    asyncio.run(_on_render_output()(_marker_event_for(svc, "job-9/chunks/chunk-0001.json"), client))
    assert client.raised == [("job-9:render:0", names.TASKS_CHANGED, {"taskId": "chunk-0001"})]


def _marker_event_for(svc: Any, blob: str) -> func.EventGridEvent:
    svc.blobs.upload("renders", blob, b"{}")
    return _marker_event(svc, blob)
