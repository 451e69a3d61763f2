"""Job control on the whole local stack (devhost, Azurite, Cosmos server, localbatch) with real
Blender: a retry after a cancel mid-render renders only what the cancel stopped, and a scheduled
job in preview order starts after its time. Pause and priority on localbatch come with its
job-control methods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.adapters.local_batch_backend import LocalBatchBackend
from shared.job_document import upload_job_id
from stack.local import StackInfo, api_request, wait_for
from tests.e2e.conftest import job_chunks, make_blend, make_bundle, upload, wait_for_job

pytestmark = pytest.mark.slow


def _backend(info: StackInfo) -> LocalBatchBackend:
    return LocalBatchBackend(info.localbatch_url, key=info.localbatch_key)


def test_a_retry_after_a_cancel_mid_render_renders_only_the_chunks_not_finished(stack, tmp_path):
    blend = make_blend(tmp_path / "shot020.blend", frames=8, width=64, height=36, samples=2)
    bundle = make_bundle(tmp_path / "shot020.zip", blend, {"chunkSize": 2, "video": None})
    url, etag = upload(stack, bundle, "control/shot020.zip")
    job_id = upload_job_id(url, etag)

    def one_chunk_done() -> dict | None:
        status, body = api_request(stack, "GET", f"/jobs/{job_id}")
        return body if status == 200 and body["progress"].get("chunksDone", 0) >= 1 else None
    wait_for(one_chunk_done, 300, interval=0.3, what="a first chunk to finish")
    status, body = api_request(stack, "POST", f"/jobs/{job_id}/cancel")
    assert status == 202, body
    cancelled = wait_for_job(stack, job_id)
    assert cancelled["status"] == "cancelled"
    cancelled_chunks = job_chunks(stack, job_id)
    done_before = {c["id"] for c in cancelled_chunks if c["status"] == "succeeded"}
    assert done_before

    status, body = api_request(stack, "POST", f"/jobs/{job_id}/retry", {})
    assert status == 202, body
    assert body["run"] == 2 and body["status"] == "rendering"
    status, again = api_request(stack, "POST", f"/jobs/{job_id}/retry", {})
    assert status == 409 and again["error"]["details"]["status"] in ("rendering", "completed")

    doc = wait_for_job(stack, job_id)
    assert doc["status"] == "completed", doc.get("error")
    assert [(r["run"], r["status"]) for r in doc["runs"]] == [(1, "cancelled"), (2, "completed")]
    assert doc["progress"]["framesDone"] == 8
    ran = {t.id for t in _backend(stack).list_tasks(names.batch_job_id(job_id, 2))}
    assert ran == {c["id"] for c in cancelled_chunks} - done_before  # nothing rendered twice


def test_a_scheduled_preview_job_waits_for_its_time_then_renders_spread_frames_first(stack, tmp_path):
    blend = make_blend(tmp_path / "shot030.blend", frames=9, width=64, height=36, samples=2)
    # Far enough ahead that validation and the inspection end before it, on a busy machine too.
    start = (datetime.now(UTC) + timedelta(seconds=60)).replace(microsecond=0)
    manifest = {"chunkSize": 3, "video": None, "frameOrder": "preview",
                "notBefore": start.isoformat(timespec="seconds")}
    url, etag = upload(stack, make_bundle(tmp_path / "shot030.zip", blend, manifest), "control/shot030.zip")
    job_id = upload_job_id(url, etag)
    waiting = wait_for_job(stack, job_id, 55, statuses={"scheduled", "failed"})
    assert waiting["status"] == "scheduled", waiting.get("error")
    assert job_chunks(stack, job_id)[0]["frames"] == "1-9x4"  # first, last and middle: one stepped run
    tasks = _backend(stack).list_tasks(job_id)
    assert [t.id for t in tasks] == [names.INSPECT_TASK_ID]
    doc = wait_for_job(stack, job_id)
    assert doc["status"] == "completed", doc.get("error")
    first = min(t.start_time for t in _backend(stack).list_tasks(job_id)
                if t.id.startswith("chunk-") and t.start_time)
    assert datetime.fromisoformat(first.replace("Z", "+00:00")) >= start


def test_a_job_submitted_paused_renders_nothing_until_resumed(stack, tmp_path):
    blend = make_blend(tmp_path / "shot040.blend", frames=4, width=64, height=36, samples=2)
    bundle = make_bundle(tmp_path / "shot040.zip", blend, {"chunkSize": 2, "video": None, "paused": True})
    url, etag = upload(stack, bundle, "control/shot040.zip")
    job_id = upload_job_id(url, etag)
    paused = wait_for_job(stack, job_id, 120, statuses={"paused", "failed"})
    assert paused["status"] == "paused" and len(job_chunks(stack, job_id)) == 2, paused.get("error")
    status, body = api_request(stack, "POST", f"/jobs/{job_id}/pause", {})
    assert status == 409 and body["error"]["details"] == {"status": "paused"}
    backend = _backend(stack)
    wait_for(lambda: api_request(stack, "GET", f"/jobs/{job_id}")[1].get("pause", {}).get("waiter"), 60,
             what="the paused wait to start")
    assert [t.id for t in backend.list_tasks(job_id)] == [names.INSPECT_TASK_ID]  # nothing rendered
    status, body = api_request(stack, "POST", f"/jobs/{job_id}/resume")
    assert status == 202 and body["status"] == "rendering", body
    doc = wait_for_job(stack, job_id, 120)  # resume wakes the wait: no 5-minute poll to sit out
    assert doc["status"] == "completed", doc.get("error")
    assert sorted(t.id for t in backend.list_tasks(job_id)) == ["chunk-0001", "chunk-0002", names.INSPECT_TASK_ID]


def test_a_scheduled_job_survives_a_restart_of_the_stack_while_it_waits(tmp_path):
    from stack.local import LocalStack

    blend = make_blend(tmp_path / "shot050.blend", frames=2, width=64, height=36, samples=2)
    start = (datetime.now(UTC) + timedelta(seconds=120)).replace(microsecond=0)
    bundle = make_bundle(tmp_path / "shot050.zip", blend, {"chunkSize": 2, "video": None,
                                                           "notBefore": start.isoformat()})
    data_dir = tmp_path / "stack"
    with LocalStack(data_dir) as info:
        url, etag = upload(info, bundle, "control/shot050.zip")
        job_id = upload_job_id(url, etag)
        waiting = wait_for_job(info, job_id, 110, statuses={"scheduled", "failed"})
        assert waiting["status"] == "scheduled", waiting.get("error")
    with LocalStack(data_dir) as info:  # the durable timer is in devhost's task hub
        doc = wait_for_job(info, job_id, 240)
        assert doc["status"] == "completed", doc.get("error")
        ran = [t for t in _backend(info).list_tasks(job_id) if t.id == "chunk-0001"]
        assert ran and datetime.fromisoformat(str(ran[0].start_time).replace("Z", "+00:00")) >= start
