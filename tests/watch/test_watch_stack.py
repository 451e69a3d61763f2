"""Watching a real render on the local stack (real Blender, FFmpeg, Azurite, devhost, localbatch):
per-frame seconds and an ETA in the job, one JPEG preview per frame, log tails, download URLs that
work with plain HTTP and refuse a write, and the Blender of each task in the provenance."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest
import requests

from shared.pipeline.batch_tasks import NODE_DIR, WATCH_SCRIPTS
from stack.local import LocalStack, StackInfo, api_request
from tests.e2e.conftest import job_chunks, make_blend, make_bundle, upload, wait_for_job

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all((NODE_DIR / name).is_file() for name in WATCH_SCRIPTS),
                       reason="needs the node side of watching (shared/node/heartbeat.py, previews.py…)"),
]
WIDTH, HEIGHT, FRAMES = 96, 54, 6


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    with LocalStack(tmp_path_factory.mktemp("stack"), settings_overrides={"POLL_INTERVAL_SECONDS": "2"}) as info:
        yield info


@pytest.fixture(scope="module")
def rendered(stack: StackInfo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("watch")
    blend = make_blend(folder / "watched.blend", frames=FRAMES, width=WIDTH, height=HEIGHT)
    upload(stack, make_bundle(folder / "watched.zip", blend), "studio/watched.zip")
    body = {"bundle": "studio/watched.zip", "frames": f"1-{FRAMES}", "chunkSize": 3, "format": "OPEN_EXR",
            "stuckAfterSeconds": 600, "maxCost": 1000}
    status, doc = api_request(stack, "POST", "/jobs", body, headers={"Idempotency-Key": "watched-shot"})
    assert status == 202, doc
    doc = wait_for_job(stack, "watched-shot", timeout=600)
    assert doc["status"] == "completed", doc.get("error")
    return {**doc, "chunks": job_chunks(stack, doc["id"])}


def get(stack: StackInfo, path: str, **params: str) -> requests.Response:
    return requests.get(f"{stack.api_url}{path}", params=params, headers={"x-functions-key": stack.function_key},
                        timeout=30)


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame segment."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    at = 2
    while at < len(data):
        marker, length = data[at + 1], int.from_bytes(data[at + 2:at + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[at + 7:at + 9], "big"), int.from_bytes(data[at + 5:at + 7], "big")
        at += 2 + length
    raise AssertionError("no start-of-frame segment")


def decodes(data: bytes) -> bool:
    with tempfile.NamedTemporaryFile(suffix=".jpg") as image:
        Path(image.name).write_bytes(data)
        done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", image.name, "-f", "null", "-"],
                              capture_output=True, check=False)
    return done.returncode == 0 and not done.stderr


def test_each_frame_has_its_seconds_and_the_job_a_median_and_an_eta(rendered):
    for chunk in rendered["chunks"]:
        frames = [str(f) for f in range(int(chunk["frames"].split("-")[0]), int(chunk["frames"].split("-")[-1]) + 1)]
        assert sorted(chunk["frameSeconds"], key=int) == frames
        assert all(0 < s < 300 for s in chunk["frameSeconds"].values())
        assert chunk["attemptLog"][-1]["result"] == "succeeded"
    progress = rendered["progress"]
    assert progress["framesDone"] == FRAMES and progress["secondsPerFrame"] > 0
    assert progress["eta"] and progress["elapsedSeconds"] > 0
    assert rendered["cost"]["nodeSeconds"] > 0 and "budgetReachedAt" not in rendered["cost"]


def test_every_frame_has_a_jpeg_preview_of_the_frames_width_even_from_exr(stack, rendered):
    for frame in range(1, FRAMES + 1):
        answer = get(stack, f"/jobs/{rendered['id']}/preview", frame=str(frame))
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/jpeg")
        assert jpeg_size(answer.content) == (WIDTH, HEIGHT) and decodes(answer.content)
    assert get(stack, f"/jobs/{rendered['id']}/preview").status_code == 200
    assert get(stack, f"/jobs/{rendered['id']}/preview", frame=str(FRAMES + 1)).status_code == 400


def test_a_finished_tasks_log_tail_is_blenders_output(stack, rendered):
    answer = get(stack, f"/jobs/{rendered['id']}/tasks/chunk-0001/log", tail="50")
    assert answer.status_code == 200
    assert answer.json()["source"] == "log" and answer.json()["text"].count("\n") <= 50
    assert "Saved:" in get(stack, f"/jobs/{rendered['id']}/tasks/chunk-0001/log", tail="5000").json()["text"]


def test_download_urls_fetch_the_video_with_plain_http_and_refuse_a_write(stack, rendered):
    files = {f["name"]: f for f in get(stack, f"/jobs/{rendered['id']}/outputs").json()["files"]}
    video = files["video.mp4"]
    fetched = requests.get(video["url"], timeout=30)
    assert fetched.status_code == 200 and len(fetched.content) == video["size"] and b"ftyp" in fetched.content[:16]
    assert requests.put(video["url"], data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=30).status_code == 403
    assert requests.get(video["url"], timeout=30).content == fetched.content
    assert sum(1 for f in files.values() if f["kind"] == "frame") == FRAMES
    assert sum(1 for f in files.values() if f["kind"] == "preview") == FRAMES


def test_the_provenance_names_each_tasks_blender(stack, rendered):
    answer = get(stack, f"/jobs/{rendered['id']}/provenance").json()
    chunks = [t for t in answer["tasks"] if t["chunk"]]
    assert len(chunks) == 2 and all(t["blender"]["version"].startswith("5.") for t in chunks)
    assert answer["settings"]["format"] == "OPEN_EXR" and answer["manifest"]["maxCost"] == 1000


def test_a_render_that_stalls_after_its_first_frame_is_stopped_as_stuck_requeued_then_fails(stack, tmp_path):
    blend = make_blend(tmp_path / "stalls.blend", frames=2, width=WIDTH, height=HEIGHT)
    subprocess.run([sys.executable, str(Path(__file__).with_name("hang_scene.py")), str(blend)], check=True,
                   stdout=subprocess.DEVNULL)
    upload(stack, make_bundle(tmp_path / "stalls.zip", blend), "studio/stalls.zip")
    body = {"bundle": "studio/stalls.zip", "frames": "1-2", "chunkSize": 2, "maxRetries": 1,
            "stuckAfterSeconds": 60, "video": None}
    status, doc = api_request(stack, "POST", "/jobs", body, headers={"Idempotency-Key": "stalls"})
    assert status == 202, doc
    doc = wait_for_job(stack, "stalls", timeout=900)
    assert doc["status"] == "failed" and doc["error"]["code"] == "frames_failed"
    (chunk,) = job_chunks(stack, "stalls")
    assert chunk["attempts"] == 2 and chunk["failure"]["reason"] == "stuck"
    assert [(e["taskId"], e["result"], e["reason"]) for e in chunk["attemptLog"]] == [
        ("chunk-0001", "failed", "stuck"), ("chunk-0001-r1", "failed", "stuck")]
    assert doc["error"]["details"]["chunks"][0]["reason"] == "stuck"
    assert chunk["frameSeconds"].keys() == {"1"}  # the frame it did finish
    assert get(stack, "/jobs/stalls/preview", frame="1").status_code == 200
    for task in ("chunk-0001", "chunk-0001-r1"):  # each attempt's log is kept
        log = get(stack, f"/jobs/stalls/tasks/{task}/log", stream="stderr", tail="20").json()["text"]
        assert "stuck" in log
