"""End to end on the local stack: real uploads, real Blender frames, real FFmpeg video."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import urllib.request
import zlib

import pytest

from shared.adapters.local_batch_backend import LocalBatchBackend
from shared.job_document import upload_job_id
from shared.mp4 import read_video_track
from stack.local import api_request, wait_for
from tests.e2e.conftest import (
    blob_names,
    download,
    job_chunks,
    make_blend,
    make_bundle,
    upload,
    wait_for_job,
)

pytestmark = pytest.mark.slow


def png_size_and_spread(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the image data): a blank frame has very few."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_an_uploaded_bundle_becomes_frames_and_a_video(stack, small_blend, tmp_path):
    bundle = make_bundle(tmp_path / "shot010.zip", small_blend, {"chunkSize": 2, "video": {"name": "shot010.mp4"}})
    url, etag = upload(stack, bundle, "artist-a/shot010.zip")
    job_id = upload_job_id(url, etag)
    doc = wait_for_job(stack, job_id)
    assert doc["status"] == "completed", doc.get("error")
    assert doc["progress"]["framesDone"] == doc["progress"]["framesTotal"] == 6
    assert [c["status"] for c in job_chunks(stack, job_id)] == ["succeeded"] * 3

    frames = blob_names(stack, "renders", f"{job_id}/frames/")
    assert frames == [f"{job_id}/frames/shot010_{n:04d}.png" for n in range(1, 7)]
    first = png_size_and_spread(download(stack, "renders", frames[0]))
    assert first[:2] == (96, 54) and first[2] > 20  # the right size, and not blank

    track = read_video_track(download(stack, "renders", f"{job_id}/shot010.mp4"))
    assert track.frame_count == 6
    assert round(track.fps) == 24
    assert doc["outputs"]["videoFrames"] == 6

    # finalize_job marks the document completed; the orchestration itself ends just after.
    history = wait_for(lambda: (h := api_request(stack, "GET", f"/jobs/{job_id}/history")[1])
                       .get("runtimeStatus") == "Completed" and h, 30, what="the orchestration to finish")
    status, history = api_request(stack, "GET", f"/jobs/{job_id}/history")
    assert status == 200
    assert history["runtimeStatus"] == "Completed"
    scheduled = [e.get("Name") for e in history["history"] if e["EventType"] == "TaskScheduled"]
    assert scheduled[0] == "register_job" and scheduled[-1] == "finalize_job"
    assert {s["instanceId"] for s in history["subOrchestrations"]} >= {f"{job_id}:render:0", f"{job_id}:stitch"}

    logs = blob_names(stack, "renders", f"{job_id}/logs/chunk-0001/")
    assert logs == [f"{job_id}/logs/chunk-0001/stderr.txt", f"{job_id}/logs/chunk-0001/stdout.txt"]
    assert blob_names(stack, "renders", f"{job_id}/chunks/") == sorted(
        f"{job_id}/chunks/{t}.json" for t in ("chunk-0001", "chunk-0002", "chunk-0003", "inspect", "stitch"))

    request = urllib.request.Request(
        f"{stack.devhost_url}/eventgrid/topics/render-jobs/events",
        headers={"x-functions-key": stack.master_key})
    with urllib.request.urlopen(request, timeout=10) as response:
        published = json.loads(response.read())
    mine = [e["eventType"] for e in published if e["subject"] == f"/jobs/{job_id}"]
    assert mine == ["RenderPipeline.Job.Queued", "RenderPipeline.Job.Started", "RenderPipeline.Job.Completed"]


def test_a_job_submitted_over_http_renders_the_frames_asked_for(stack, small_blend, tmp_path):
    bundle = make_bundle(tmp_path / "shot020.zip", small_blend)
    upload(stack, bundle, "studio/shot020.zip")  # this upload renders too; the POST asks for other frames
    body = {"bundle": "studio/shot020.zip", "frames": "2-4", "chunkSize": 3, "priority": 10,
            "video": {"name": "part.mp4"}}
    status, doc = api_request(stack, "POST", "/jobs", body, headers={"Idempotency-Key": "shot020-part"})
    assert status == 202, doc
    assert doc["id"] == "shot020-part"
    again_status, again = api_request(stack, "POST", "/jobs", body, headers={"Idempotency-Key": "shot020-part"})
    assert again_status == 200 and again["id"] == "shot020-part"

    doc = wait_for_job(stack, "shot020-part")
    assert doc["status"] == "completed", doc.get("error")
    assert doc["spec"]["frames"] == "2-4"
    frames = blob_names(stack, "renders", "shot020-part/frames/")
    assert [f.rsplit("_", 1)[1] for f in frames] == ["0002.png", "0003.png", "0004.png"]
    assert read_video_track(download(stack, "renders", "shot020-part/part.mp4")).frame_count == 3


def test_bad_requests_get_a_400_naming_the_field(stack):
    status, body = api_request(stack, "POST", "/jobs", {"bundle": "nope/missing.zip"})
    assert status == 400 and body["error"]["field"] == "bundle"
    status, body = api_request(stack, "POST", "/jobs", {"bundle": "a.zip", "video": {"crf": 99}})
    assert status == 400 and body["error"]["field"] == "video.crf"
    status, body = api_request(stack, "GET", "/jobs?top=0")
    assert status == 400 and body["error"]["field"] == "top"
    status, _ = api_request(stack, "GET", "/jobs/job-doesnotexist")
    assert status == 404


def test_a_redelivered_upload_event_starts_no_second_job(stack, small_blend, tmp_path):
    bundle = make_bundle(tmp_path / "shot030.zip", small_blend, {"frames": "1-2", "video": None})
    url, etag = upload(stack, bundle, "artist-b/shot030.zip")
    job_id = upload_job_id(url, etag)
    doc = wait_for_job(stack, job_id)
    assert doc["status"] == "completed"
    event = [{
        "id": "redelivery-1", "topic": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/"
        "storageAccounts/devstoreaccount1", "subject": "/blobServices/default/containers/scenes/blobs/"
        "artist-b/shot030.zip", "eventType": "Microsoft.Storage.BlobCreated", "eventTime": "2026-11-26T00:00:00Z",
        "data": {"api": "PutBlob", "url": url, "eTag": etag, "contentType": "application/zip",
                 "contentLength": bundle.stat().st_size, "blobType": "BlockBlob"},
        "dataVersion": "", "metadataVersion": "1"}]
    request = urllib.request.Request(
        f"{stack.devhost_url}/runtime/webhooks/eventgrid?functionName=on_scene_uploaded",
        data=json.dumps(event).encode(), method="POST",
        headers={"content-type": "application/json", "aeg-event-type": "Notification",
                 "x-functions-key": stack.master_key})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 202)
    _, listing = api_request(stack, "GET", "/jobs?top=200")
    same = [j for j in listing["jobs"] if j["source"]["blobName"] == "artist-b/shot030.zip"]
    assert [j["id"] for j in same] == [job_id]
    assert api_request(stack, "GET", f"/jobs/{job_id}")[1]["timestamps"] == doc["timestamps"]


def test_frames_that_cannot_render_are_retried_then_the_job_fails_naming_them(stack, small_blend, tmp_path):
    broken = tmp_path / "nocamera.blend"
    subprocess.run([sys.executable, "-c", (
        "import bpy, sys; bpy.ops.wm.open_mainfile(filepath=sys.argv[1]);"
        "[bpy.data.objects.remove(o) for o in list(bpy.data.objects) if o.type == 'CAMERA'];"
        "bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2])"), str(small_blend), str(broken)],
        check=True, capture_output=True)
    bundle = make_bundle(tmp_path / "nocamera.zip", broken, {"frames": "1-2", "chunkSize": 1, "maxRetries": 1})
    url, etag = upload(stack, bundle, "artist-c/nocamera.zip")
    doc = wait_for_job(stack, upload_job_id(url, etag))
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "frames_failed"
    assert "1" in doc["error"]["message"] and "2" in doc["error"]["message"]
    assert all(c["attempts"] == 2 for c in job_chunks(stack, doc["id"]))
    assert {d["chunk"] for d in doc["error"]["details"]["chunks"]} == {"chunk-0001", "chunk-0002"}


def test_a_job_cancelled_while_rendering_stops(stack, tmp_path):
    slow = make_blend(tmp_path / "slow.blend", frames=40, width=160, height=90, samples=32)
    bundle = make_bundle(tmp_path / "slow.zip", slow, {"chunkSize": 2})
    url, etag = upload(stack, bundle, "artist-d/slow.zip")
    job_id = upload_job_id(url, etag)
    wait_for_job(stack, job_id, statuses={"rendering"})
    wait_for(lambda: api_request(stack, "GET", f"/jobs/{job_id}")[1]["progress"]["framesDone"] >= 2, 120,
             what="the first frames")
    status, doc = api_request(stack, "POST", f"/jobs/{job_id}/cancel")
    assert status == 202 and doc["status"] == "cancelled"
    status, _ = api_request(stack, "POST", f"/jobs/{job_id}/cancel")
    assert status == 409
    status, history = api_request(stack, "GET", f"/jobs/{job_id}/history")
    assert history["runtimeStatus"] == "Terminated"
    # The running tasks are killed; they settle once their logs are uploaded.
    backend = LocalBatchBackend(stack.localbatch_url, key=stack.localbatch_key)
    counts = wait_for(lambda: (c := backend.task_counts(job_id)).active + c.running == 0 and c, 30,
                      what="the job's tasks to stop")
    assert counts.succeeded < 20  # most chunks never ran
    time.sleep(3)
    final = api_request(stack, "GET", f"/jobs/{job_id}")[1]
    assert final["status"] == "cancelled" and final["progress"]["framesDone"] < 40
    assert final["error"]["code"] == "cancelled"
