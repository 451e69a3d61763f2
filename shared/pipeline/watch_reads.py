"""What the HTTP API reads to watch a job: previews, task log tails, download links, provenance.

Every id and parameter is checked before anything is read, and every blob read is named from
the job's own prefix (`<jobId>/…`) with names this module builds: a frame is an integer in the
job's range, a task is one the job's document knows, a stream is stdout or stderr. So no
request reaches another job's files, or any file outside the job.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

from shared import names
from shared.adapters.blob_sas import BlobSigner, read_blob_range, read_url
from shared.bootstrap import Services
from shared.errors import NotFoundError, PipelineError, ValidationError
from shared.frames import FrameSet
from shared.job_chunks import find_chunk, read_chunks
from shared.pipeline import layout
from shared.pipeline.jobs_api import find_job
from shared.pipeline.watching import batch_job_of, tool_version
from shared.planning import task_id as attempt_task_id
from shared.tasks import TaskStatus

PREVIEW_MAX_BYTES = 4 * 1024 * 1024      # a 480 px JPEG is tens of KB
DEFAULT_TAIL = 200
MAX_TAIL = 5_000
BYTES_PER_LINE = 1024                    # what a tail of N lines reads at most: N KiB
FULL_READ_MAX = 8 * 1024 * 1024          # smaller log blobs are read whole, larger ones by range
STREAMS = ("stdout", "stderr")
MAX_OUTPUT_FILES = 50_000
_FRAME = re.compile(r"[0-9]{1,7}")       # frames are 0..1,048,574 (Blender's MAXFRAME)
_TAIL = re.compile(r"[0-9]{1,6}")
_TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREVIEW = re.compile(r"([0-9]{1,7})\.jpg")


# ---------------------------------------------------------------- previews


def preview(svc: Services, job_id: str, frame: str | None) -> bytes:
    """The JPEG of `frame`, or of the frame rendered last; NotFoundError before the first one."""
    doc = find_job(svc, job_id)
    job_id = doc["id"]
    container = svc.settings.renders_container
    if frame is None:
        blob = _latest_preview(svc, job_id)
    else:
        number = _frame_of_job(doc, frame)
        blob = layout.preview_blob(job_id, number)
    try:
        return svc.blobs.download(container, blob, max_bytes=PREVIEW_MAX_BYTES)
    except NotFoundError:
        what = "frame " + frame if frame is not None else "any frame"
        raise NotFoundError(f"job {job_id} has no preview of {what} yet", code="no_preview") from None


def _frame_of_job(doc: dict[str, Any], raw: str) -> int:
    if not _FRAME.fullmatch(raw):
        raise ValidationError("frame must be a frame number (0 or more)", field="frame")
    number = int(raw)
    spec = doc.get("spec")
    if not spec:
        raise NotFoundError(f"job {doc['id']} has no frames yet", code="no_preview")
    frames = FrameSet.from_json(spec["frames"])
    if number not in frames:
        raise ValidationError(f"frame {number} is not one of the job's frames ({frames.to_spec()})",
                              field="frame")
    return number


def _latest_preview(svc: Services, job_id: str) -> str:
    """The preview written last (ties: the higher frame)."""
    prefix = layout.previews_prefix(job_id)
    best: tuple[str, int, str] | None = None
    for info in svc.blobs.list(svc.settings.renders_container, prefix):
        match = _PREVIEW.fullmatch(info.name[len(prefix):])
        if match is None or info.size <= 0:
            continue
        key = (info.last_modified or "", int(match.group(1)), info.name)
        if best is None or key > best:
            best = key
    if best is None:
        raise NotFoundError(f"job {job_id} has no preview yet", code="no_preview")
    return best[2]


# ---------------------------------------------------------------- log tails


def _job_task(svc: Services, doc: dict[str, Any], task_id: str) -> str:
    """The task id if it is one of this job's: inspect, stitch, or an attempt of one of its chunks."""
    if not isinstance(task_id, str) or not _TASK_ID.fullmatch(task_id):
        raise ValidationError("taskId must be 1-64 letters, digits, hyphens or underscores", field="taskId")
    if task_id in (names.INSPECT_TASK_ID, names.STITCH_TASK_ID):
        return task_id
    chunk = find_chunk(svc.chunks, doc["id"], names.split_render_task_id(task_id)[0])
    attempts = int(chunk.get("attempts") or 0) if chunk else 0
    if chunk and any(attempt_task_id(chunk["id"], n) == task_id for n in range(1, attempts + 1)):
        return task_id
    raise NotFoundError(f"job {doc['id']} has no task {task_id}", code="task_not_found")


def _tail_count(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_TAIL
    if not _TAIL.fullmatch(raw) or not 1 <= int(raw) <= MAX_TAIL:
        raise ValidationError(f"tail must be a number of lines 1..{MAX_TAIL}", field="tail")
    return int(raw)


def _last_lines(data: bytes, count: int, *, cut: bool) -> str:
    """The last `count` lines; `cut` when the bytes start mid-file (the first line is partial)."""
    lines = data.decode("utf-8", errors="replace").splitlines()
    if cut and lines:
        lines = lines[1:]
    return "\n".join(lines[-count:]) + ("\n" if lines else "")


def task_log(svc: Services, signer: BlobSigner | None, job_id: str, task_id: str, stream: str | None,
             tail: str | None) -> dict[str, Any]:
    """The last lines of a task's stdout or stderr: from its node while it runs, else the uploaded log."""
    doc = find_job(svc, job_id)
    job_id = doc["id"]
    stream = "stdout" if stream is None else stream
    if stream not in STREAMS:
        raise ValidationError("stream must be stdout or stderr", field="stream")
    count = _tail_count(tail)
    task_id = _job_task(svc, doc, task_id)
    want = min(count * BYTES_PER_LINE, FULL_READ_MAX)
    text, source = None, "log"
    if _task_running(svc, batch_job_of(doc), task_id):
        data = _node_tail(svc, batch_job_of(doc), task_id, f"{stream}.txt", want)
        if data is not None:
            text, source = _last_lines(data, count, cut=len(data) >= want), "node"
    if text is None:
        text = _blob_tail(svc, signer, job_id, task_id, stream, count, want)
    return {"jobId": job_id, "taskId": task_id, "stream": stream, "source": source, "text": text}


def _task_running(svc: Services, job_id: str, task_id: str) -> bool:
    try:
        return svc.backend.get_task(job_id, task_id).status == TaskStatus.RUNNING
    except NotFoundError:
        return False


def _node_tail(svc: Services, job_id: str, task_id: str, path: str, want: int) -> bytes | None:
    """The file in the task's directory on its node (Batch keeps stdout.txt and stderr.txt there,
    beside the working dir wd/); None when the backend cannot read it (then the blob is tried)."""
    try:
        data = svc.backend.read_task_file(job_id, task_id, path, want)
    except NotFoundError:
        return None
    except PipelineError as exc:
        if exc.transient:
            raise
        return None
    return bytes(data)


def _blob_tail(svc: Services, signer: BlobSigner | None, job_id: str, task_id: str, stream: str,
               count: int, want: int) -> str:
    container, blob = svc.settings.renders_container, layout.log_blob(job_id, task_id, stream)
    try:
        size = svc.blobs.info(container, blob).size
        if size <= FULL_READ_MAX or signer is None:
            data = svc.blobs.download(container, blob, max_bytes=max(size, 1))
            return _last_lines(data[-want:], count, cut=len(data) > want)
        url, _ = read_url(signer, container, blob, timedelta(minutes=5))
        return _last_lines(read_blob_range(url, size - want, want), count, cut=True)
    except NotFoundError:
        raise NotFoundError(f"task {task_id} of job {job_id} has no {stream} log yet",
                            code="no_log") from None


# ---------------------------------------------------------------- download links


def _kind(relative: str, video_name: str | None) -> str | None:
    parts = PurePosixPath(relative).parts
    if len(parts) == 1:
        return "video" if relative.endswith(".mp4") and (video_name is None or relative == video_name) else None
    return {"frames": "frame", "logs": "log", "previews": "preview"}.get(parts[0])


def outputs(svc: Services, signer: BlobSigner, job_id: str) -> dict[str, Any]:
    """The job's video, frames, logs and previews, each with a read URL for that one blob."""
    doc = find_job(svc, job_id)
    job_id = doc["id"]
    container = svc.settings.renders_container
    lifetime = timedelta(seconds=svc.settings.output_url_lifetime_seconds)
    video = ((doc.get("spec") or {}).get("video") or {}).get("name")
    prefix = layout.job_prefix(job_id)
    files: list[dict[str, Any]] = []
    expires: str | None = None
    truncated = False
    for info in svc.blobs.list(container, prefix):
        relative = info.name[len(prefix):]
        kind = _kind(relative, video)
        if kind is None or info.size <= 0:
            continue
        if len(files) >= MAX_OUTPUT_FILES:
            truncated = True
            break
        url, expires = read_url(signer, container, info.name, lifetime)
        files.append({"kind": kind, "name": relative, "size": info.size, "url": url})
    return {"jobId": job_id, "status": doc["status"], "expiresOn": expires, "files": files,
            "truncated": truncated}


# ---------------------------------------------------------------- provenance


def _node_marker(svc: Services, job_id: str, task_id: str) -> dict[str, Any]:
    try:
        data = json.loads(svc.blobs.download(svc.settings.renders_container, layout.marker_blob(job_id, task_id),
                                             max_bytes=256 * 1024))
    except (NotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def provenance(svc: Services, job_id: str) -> dict[str, Any]:
    """What made the job's outputs: the bundle version and manifest, the settings applied, and the
    Blender and FFmpeg of each task (as each task's marker reported them)."""
    doc = find_job(svc, job_id)
    job_id = doc["id"]
    manifest = doc.get("manifest")
    tasks = []
    for chunk in read_chunks(svc.chunks, job_id):
        for entry in chunk.get("attemptLog") or []:
            if isinstance(entry, dict):
                tasks.append({"taskId": entry.get("taskId"), "chunk": chunk["id"], "node": entry.get("node"),
                              "result": entry.get("result"), "blender": entry.get("blender"),
                              "ffmpeg": entry.get("ffmpeg")})
    for task in (names.INSPECT_TASK_ID, names.STITCH_TASK_ID):
        marker = _node_marker(svc, job_id, task)
        if marker:
            tasks.append({"taskId": task, "chunk": None, "node": ((doc.get("watch") or {}).get("taskNodes")
                                                                  or {}).get(task),
                          "result": marker.get("status") if isinstance(marker.get("status"), str) else None,
                          "blender": tool_version(marker.get("blender"), ("version", "buildHash")),
                          "ffmpeg": tool_version(marker.get("ffmpeg"), ("version",))})
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode() if manifest else None
    return {
        "jobId": job_id,
        "source": doc.get("source"),
        "bundle": {**(doc.get("input") or {}), "kind": (doc.get("bundle") or {}).get("kind"),
                   "blendPath": (doc.get("bundle") or {}).get("blendPath")},
        "manifest": manifest,
        "manifestSha256": hashlib.sha256(canonical).hexdigest() if canonical else None,
        "settings": doc.get("spec"),
        "tasks": tasks,
    }
