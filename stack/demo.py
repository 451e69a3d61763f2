"""`make demo`: render the sample scene through the whole local pipeline, as an artist would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from stack.local import LocalStack, StackInfo, api_request
from stack.services import ROOT

TERMINAL = {"completed", "failed", "cancelled"}


def make_sample_bundle(work: Path, frames: int) -> Path:
    """The demo scene: an animated .blend with a render.json, zipped like an artist's upload."""
    work.mkdir(parents=True, exist_ok=True)
    bundle = work / "shot010.zip"
    subprocess.run(
        [sys.executable, str(ROOT / "samples" / "make_scene.py"), str(work / "shot010.blend"),
         "--frames", str(frames), "--width", "320", "--height", "180", "--fps", "24", "--samples", "16",
         "--bundle", str(bundle)],
        check=True, stdout=subprocess.DEVNULL)
    return bundle


def upload_bundle(info: StackInfo, bundle: Path, blob_name: str) -> tuple[str, str]:
    """Uploads into the scenes container; returns (blob url, eTag) as Event Grid will report them."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(info.storage_connection_string)
    blob = service.get_blob_client("scenes", blob_name)
    with bundle.open("rb") as stream:
        result = blob.upload_blob(stream, overwrite=True)
    return blob.url, str(result["etag"])


def progress_bar(doc: dict[str, Any]) -> str:
    progress = doc.get("progress") or {}
    done, total = int(progress.get("framesDone", 0)), int(progress.get("framesTotal", 0))
    width = 30
    filled = int(width * done / total) if total else 0
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} frames  {doc.get('status', '?'):<10}"


def follow_job(info: StackInfo, job_id: str, timeout: float = 900) -> dict[str, Any]:
    """Polls GET /api/jobs/{id} as a studio tool would, drawing a progress bar (one line per
    change when the output is not a terminal)."""
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    last = ""
    tty = sys.stdout.isatty()
    while time.monotonic() < deadline:
        status, body = api_request(info, "GET", f"/jobs/{job_id}")
        if status == 200 and isinstance(body, dict):
            doc = body
            bar = progress_bar(doc)
            if tty:
                print(bar, end="", flush=True)
            elif bar != last:
                print(bar.lstrip("\r"), flush=True)
            last = bar
            if doc.get("status") in TERMINAL:
                if tty:
                    print()
                return doc
        time.sleep(1)
    print()
    raise TimeoutError(f"job {job_id} did not finish in {timeout:.0f}s (last status {doc.get('status')})")


def run_demo(data_dir: Path, out_dir: Path, frames: int = 48) -> int:
    from shared.job_document import upload_job_id

    if data_dir.exists():
        shutil.rmtree(data_dir)
    started = time.monotonic()
    print("Generating the sample scene with Blender (bpy)...")
    bundle = make_sample_bundle(data_dir / "sample", frames)
    print("Starting the local stack (MariaDB + Azurite, Cosmos server, localbatch, devhost)...")
    with LocalStack(data_dir / "stack") as info:
        print(f"  API:       {info.api_url}")
        print(f"  Dashboard: {info.dashboard_url}   (function key: {info.function_key})")
        url, etag = upload_bundle(info, bundle, "demo/shot010.zip")
        job_id = upload_job_id(url, etag)
        print(f"Uploaded scenes/demo/shot010.zip; job {job_id}")
        print(f"  Follow it on the dashboard: {info.dashboard_url}#/jobs/{job_id}")
        doc = follow_job(info, job_id)
        if doc["status"] != "completed":
            print(f"The job ended {doc['status']}: {doc.get('error')}", file=sys.stderr)
            return 1
        outputs = doc.get("outputs", {})
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(info.storage_connection_string)
        renders = service.get_container_client(outputs["container"])
        video_blob = outputs["videoBlob"]
        out_dir.mkdir(parents=True, exist_ok=True)
        local_video = out_dir / Path(video_blob).name
        local_video.write_bytes(renders.download_blob(video_blob).readall())
        frames_dir = out_dir / "frames"
        frames_dir.mkdir(exist_ok=True)
        frame_blobs = list(renders.list_blobs(name_starts_with=outputs["framesPrefix"]))
        for blob in frame_blobs:
            (frames_dir / Path(blob.name).name).write_bytes(renders.download_blob(blob.name).readall())
        _, history = api_request(info, "GET", f"/jobs/{job_id}/history")
        history_file = out_dir / "history.json"
        history_file.write_text(json.dumps(history, indent=2))
        events = len(history.get("history", [])) + sum(len(s.get("history", []))
                                                       for s in history.get("subOrchestrations", []))
        print(f"""
Done in {time.monotonic() - started:.0f}s: job {job_id} completed.
  Video:    {outputs['container']}/{video_blob} ({outputs.get('videoFrames')} frames at {outputs.get('videoFps')} fps)
            downloaded to {local_video.resolve()}
  Frames:   {outputs['container']}/{outputs['framesPrefix']} ({len(frame_blobs)} PNGs)
            downloaded to {frames_dir.resolve()}/
  History:  GET /api/jobs/{job_id}/history ({events} events in {1 + len(history.get('subOrchestrations', []))}
            orchestration instances), saved to {history_file.resolve()}
  The stack's data stays in {data_dir.resolve()} (blobs, job documents, history).
""")
    print("Local stack stopped.")
    return 0
