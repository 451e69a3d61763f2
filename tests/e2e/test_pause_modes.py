"""Pausing a rendering job on the whole local stack with real Blender, in both of Batch's modes:
`wait` lets the running tasks finish and starts nothing new, `requeue` stops the running tasks
and puts them back in the queue; each is followed by a resume and the job completing with
every frame. What ran when is read from localbatch's own task states, not from the job
document, so the test sees what the pool did rather than what the pipeline believes. Last, a
paused job whose orchestration an operator terminates past the pipeline is listed as ended."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.local_batch_backend import LocalBatchBackend
from shared.errors import NotFoundError
from shared.job_document import upload_job_id
from shared.tasks import TaskState, TaskStatus
from stack.local import LocalStack, StackInfo, api_request, wait_for
from tests.e2e.conftest import job_chunks, make_blend, make_bundle, upload, wait_for_job

pytestmark = pytest.mark.slow

FRAMES = 8
CHUNK = 2           # four render tasks for two slots: while two run, two wait in the queue
HOLD_SECONDS = 8    # how long a pause is watched for a task that should not start


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    with LocalStack(tmp_path_factory.mktemp("pause-stack"), slots=2,
                    settings_overrides={"POLL_INTERVAL_SECONDS": "2"}) as info:
        yield info


@pytest.fixture(scope="module")
def blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Enough samples that a two-frame task runs for seconds, long enough to pause it mid-run.
    return make_blend(tmp_path_factory.mktemp("pause-scene") / "shot060.blend", frames=FRAMES,
                      width=96, height=54, samples=48)


def _backend(info: StackInfo) -> LocalBatchBackend:
    return LocalBatchBackend(info.localbatch_url, key=info.localbatch_key)


def _renders(info: StackInfo, job_id: str) -> dict[str, TaskState]:
    try:
        tasks = _backend(info).list_tasks(job_id)
    except NotFoundError:  # the job's Batch job is not created yet
        return {}
    return {t.id: t for t in tasks if t.id.startswith("chunk-")}


def _when(stamp: str | None) -> datetime:
    assert stamp is not None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _submit_and_catch_running(info: StackInfo, blend: Path, tmp_path: Path, name: str) -> tuple[str, set[str]]:
    bundle = make_bundle(tmp_path / f"{name}.zip", blend, {"chunkSize": CHUNK, "video": None})
    url, etag = upload(info, bundle, f"pause/{name}.zip")
    job_id = upload_job_id(url, etag)

    def running() -> set[str] | None:
        ids = {i for i, t in _renders(info, job_id).items() if t.status == TaskStatus.RUNNING}
        return ids or None
    return job_id, wait_for(running, 300, interval=0.2, what="a render task to run")


def _resume_and_finish(info: StackInfo, job_id: str) -> tuple[datetime, dict[str, Any]]:
    resumed_at = datetime.now(UTC)
    status, body = api_request(info, "POST", f"/jobs/{job_id}/resume")
    assert status == 202 and body["status"] == "rendering", body
    doc = wait_for_job(info, job_id, 300)
    assert doc["status"] == "completed", doc.get("error")
    assert doc["progress"]["framesDone"] == FRAMES
    assert all(c["status"] == "succeeded" for c in job_chunks(info, job_id))
    return resumed_at, doc


def test_pause_wait_lets_running_tasks_finish_and_starts_none_until_resumed(stack, blend, tmp_path):
    job_id, _ = _submit_and_catch_running(stack, blend, tmp_path, "wait")
    status, body = api_request(stack, "POST", f"/jobs/{job_id}/pause", {"mode": "wait"})
    assert status == 202 and body["status"] == "paused", body
    paused_at = datetime.now(UTC)
    # The Batch job is disabled by the time the pause answers: what runs now may finish,
    # what is queued now must stay queued.
    at_pause = _renders(stack, job_id)
    running = {i for i, t in at_pause.items() if t.status == TaskStatus.RUNNING}
    queued = {i for i, t in at_pause.items() if t.status == TaskStatus.ACTIVE}
    assert queued, f"every task had started before the pause: {at_pause}"

    def running_ones_finished() -> dict[str, TaskState] | None:
        now = _renders(stack, job_id)
        return now if all(now[i].status == TaskStatus.COMPLETED for i in running) else None
    wait_for(running_ones_finished, 300, interval=0.3, what="the running tasks to finish")
    time.sleep(HOLD_SECONDS)  # several of localbatch's and the wait's poll intervals
    held = _renders(stack, job_id)
    assert all(held[i].status == TaskStatus.COMPLETED and held[i].exit_code == 0 for i in running)
    assert all(held[i].status == TaskStatus.ACTIVE and held[i].start_time is None for i in queued)
    assert not [t for t in held.values() if t.start_time and _when(t.start_time) > paused_at]
    doc = api_request(stack, "GET", f"/jobs/{job_id}")[1]
    assert doc["status"] == "paused" and doc["pause"]["mode"] == "wait"

    resumed_at, _ = _resume_and_finish(stack, job_id)
    done = _renders(stack, job_id)
    assert set(done) == {f"chunk-{n:04d}" for n in range(1, FRAMES // CHUNK + 1)}  # no task added twice
    assert all(_when(done[i].start_time) >= resumed_at for i in queued)
    assert all(t.retry_count == 0 for t in done.values())


def test_pause_requeue_stops_running_tasks_and_resume_renders_them_again(stack, blend, tmp_path):
    job_id, running = _submit_and_catch_running(stack, blend, tmp_path, "requeue")
    status, body = api_request(stack, "POST", f"/jobs/{job_id}/pause", {"mode": "requeue"})
    assert status == 202 and body["status"] == "paused", body
    at_pause = _renders(stack, job_id)
    # Stopped, not finished: a task seen running just before the pause is back in the queue
    # (unless it happened to end in the moment between), with no retry used.
    stopped = {i for i in running if at_pause[i].status != TaskStatus.COMPLETED}
    assert stopped, f"the running tasks all finished before the pause: {at_pause}"

    def settled() -> dict[str, TaskState] | None:
        now = _renders(stack, job_id)
        return now if not [t for t in now.values() if t.status == TaskStatus.RUNNING] else None
    held = wait_for(settled, 60, interval=0.2, what="the running tasks to be stopped")
    assert all(held[i].status == TaskStatus.ACTIVE and held[i].start_time is None for i in stopped)
    assert all(held[i].retry_count == 0 for i in stopped)
    time.sleep(HOLD_SECONDS)
    still = _renders(stack, job_id)
    assert not [t for t in still.values() if t.status == TaskStatus.RUNNING]
    assert all(still[i].status == TaskStatus.ACTIVE for i in stopped)
    doc = api_request(stack, "GET", f"/jobs/{job_id}")[1]
    assert doc["status"] == "paused" and doc["pause"]["mode"] == "requeue"

    resumed_at, _ = _resume_and_finish(stack, job_id)
    done = _renders(stack, job_id)
    assert all(done[i].exit_code == 0 and _when(done[i].start_time) >= resumed_at for i in stopped)
    assert all(t.retry_count == 0 for t in done.values())


def test_a_job_whose_orchestration_is_terminated_out_of_band_is_listed_ended(stack, blend, tmp_path):
    import urllib.request

    bundle = make_bundle(tmp_path / "listed.zip", blend, {"chunkSize": CHUNK, "video": None, "paused": True})
    url, etag = upload(stack, bundle, "pause/listed.zip")
    job_id = upload_job_id(url, etag)
    paused = wait_for_job(stack, job_id, 120, statuses={"paused", "failed"})
    assert paused["status"] == "paused", paused.get("error")
    # An operator stops the orchestration through the Durable API, past the pipeline.
    stop = urllib.request.Request(
        f"{stack.devhost_url}/runtime/webhooks/durabletask/instances/{job_id}/terminate?reason=ops",
        method="POST", headers={"x-functions-key": stack.master_key})
    with urllib.request.urlopen(stop, timeout=30) as answer:
        assert answer.status == 202

    def listed_ended() -> dict[str, Any] | None:
        status, body = api_request(stack, "GET", "/jobs?top=50")
        assert status == 200, body
        job = next(j for j in body["jobs"] if j["id"] == job_id)
        return job if job["status"] != "paused" else None
    job = wait_for(listed_ended, 30, interval=0.5, what="the listing to end the job")
    assert job["status"] == "cancelled" and job["error"]["code"] == "orchestration_terminated"
    status, body = api_request(stack, "GET", "/jobs?status=paused&top=50")
    assert status == 200 and job_id not in [j["id"] for j in body["jobs"]]
    assert _backend(stack).list_tasks(job_id) and not _renders(stack, job_id)  # nothing rendered
