"""An automatically sized job end to end on the local stack, with real Blender: probes first,
then the rest in chunks sized from the probes' measured frame times."""

from __future__ import annotations

import pytest

from shared.frames import FrameSet
from shared.job_document import upload_job_id
from shared.mp4 import read_video_track
from stack.local import api_request, wait_for
from tests.e2e.conftest import blob_names, download, job_chunks, make_bundle, upload, wait_for_job

pytestmark = pytest.mark.slow


def test_a_bundle_without_chunk_size_renders_probes_then_sized_chunks_and_a_video(stack, small_blend, tmp_path):
    bundle = make_bundle(tmp_path / "auto.zip", small_blend, {"video": {"name": "auto.mp4"}})  # no chunkSize
    url, etag = upload(stack, bundle, "artist-a/auto.zip")
    job_id = upload_job_id(url, etag)
    doc = wait_for_job(stack, job_id)
    assert doc["status"] == "completed", doc.get("error")
    assert doc["spec"]["chunkSize"] == "auto"

    chunks = {c["id"]: c for c in job_chunks(stack, job_id)}
    # Two slots: two probes, the first and the last frame, each a single real render.
    assert [chunks[p]["frames"] for p in ("probe-0001", "probe-0002")] == ["1", "6"]
    sized = [c for i, c in chunks.items() if i.startswith("chunk-")]
    # Frames 2-5 are left; a 96x54 frame takes well under TARGET_TASK_SECONDS, so one chunk per slot.
    assert [c["frames"] for c in sized] == ["2-3", "4-5"]
    assert all(c["status"] == "succeeded" for c in chunks.values())
    covered = sorted(f for c in chunks.values() for f in FrameSet.parse(c["frames"]))
    assert covered == list(range(1, 7))
    sizing = doc["sizing"]
    assert sizing["secondsPerFrame"] > 0 and sizing["startupSeconds"] > 0  # measured, not assumed
    assert sizing["chunkSize"] == 2 and sizing["slots"] == 2

    frames = blob_names(stack, "renders", f"{job_id}/frames/")
    assert frames == [f"{job_id}/frames/shot010_{n:04d}.png" for n in range(1, 7)]
    assert read_video_track(download(stack, "renders", f"{job_id}/auto.mp4")).frame_count == 6
    assert doc["progress"]["framesDone"] == doc["progress"]["framesTotal"] == 6

    # The probe wave and the sized wave each had a wait of their own, woken by their markers.
    history = wait_for(lambda: (h := api_request(stack, "GET", f"/jobs/{job_id}/history")[1])
                       .get("runtimeStatus") == "Completed" and h, 30, what="the orchestration to finish")
    waits = {s["instanceId"] for s in history["subOrchestrations"]}
    assert {f"{job_id}:probe:0", f"{job_id}:render:0", f"{job_id}:stitch"} <= waits
    scheduled = [e.get("Name") for e in history["history"] if e["EventType"] == "TaskScheduled"]
    assert scheduled.count("size_chunks") == 1
