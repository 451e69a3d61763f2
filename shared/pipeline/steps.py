"""The activity handlers of the render_job orchestration.

Each takes the Services and a JSON dict and returns a JSON dict. Problems with
the job's input (a bad bundle, an impossible spec, frames that keep failing) come
back as `{"ok": False, "error": {...}}` so the orchestration records them on the
job; only transient trouble (a service unreachable) raises, so the activity retry
policy can help. Every handler is safe to run twice.

Longer than most modules because the main path's handlers read best as one sequence
(register → validate → inspect → plan → render → stitch → verify → end); the handlers
that steer a run (retry, schedule, healing, pause) live in runs.py.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from shared import names
from shared.bootstrap import Services
from shared.bundle import BundleLimits, validate_bundle
from shared.chunk_pages import MAX_CHUNKS, record_pages, unsettled_pages
from shared.errors import ConflictError, NotFoundError, PermanentError, PipelineError, ValidationError
from shared.frames import FrameSet
from shared.job_chunks import read_chunks, read_pages, send_back, update_chunks, write_chunks
from shared.job_document import Chunk, ChunkStatus, JobSource, JobStatus, job_document, normalize_etag
from shared.job_names import default_job_name, name_after_validation
from shared.job_spec import JobSpec
from shared.jobs import (
    Mutation,
    apply_pause,
    apply_status,
    create_job_document,
    is_stale_run,
    status_of,
    update_job,
)
from shared.mp4 import Mp4Error, read_video_track
from shared.pipeline import assets, batch_tasks, layout, runs, watching
from shared.pipeline.estimates import clean_frame_seconds
from shared.pipeline.lifecycle import publish
from shared.pipeline.public_errors import plain_message, public_error
from shared.planning import (
    BlendInfo,
    SpecDefaults,
    chunks_from_json,
    chunks_to_json,
    combine_manifests,
    expected_frame_files,
    merge_spec,
    plan_chunks,
    plan_probe_chunks,
    plan_requeue,
    probe_timing,
    start_attempts,
    task_id,
)
from shared.planning import size_chunks as plan_sized_chunks
from shared.tasks import TaskResult, TaskState, TaskStatus

log = logging.getLogger(__name__)

MAX_REPORTED_CHUNKS = 50  # failed chunks listed in a frames_failed error

Json = dict[str, Any]


def _error(code: str, message: str, details: Any = None) -> Json:
    return {"code": code, "message": message, "details": details}


def _failed(exc: PipelineError) -> Json:
    return {"ok": False, "error": exc.to_json()}


def _finished(doc: Json, run: int | None = None) -> bool:
    """A cancel may land while a step runs (terminating the orchestration does not stop a
    running activity): a finished job's document never changes again and gets no new work.
    Nor does a later run's: a step of an earlier run (its `run` given) is over too."""
    return JobStatus(doc["status"]).is_terminal or is_stale_run(doc, run)


def _run(payload: Json) -> int:
    return int(payload.get("run", 1))


def _batch_job(payload: Json) -> str:
    """The Batch job of the payload's run (names.batch_job_id)."""
    return names.batch_job_id(payload["jobId"], _run(payload))


def _set_status(doc: Json, status: JobStatus, now: str) -> None:
    """Moves the job forward; a terminal or later status stays as it is (jobs.apply_status)."""
    apply_status(doc, status, now=now)


def register_job(svc: Services, request: Json) -> Json:
    """Creates the job document (queued) unless it exists, and publishes Queued once.

    An HTTP job's document exists already (submission wrote it to answer the POST), and a
    retried run may find the document it created itself: so whether Queued went out is
    recorded on the document (history.queuedPublished), not inferred from who created it."""
    job_id = request["jobId"]
    source = JobSource.from_json(request["source"])
    doc = job_document(job_id, source, now=svc.now(), renders_container=svc.settings.renders_container)
    doc["request"] = request.get("request") or {}
    doc["name"] = default_job_name(source.blob_name)  # until render.json names it (validate_bundle_step)
    stored, created = create_job_document(svc.jobs, doc)
    if not (stored.get("history") or {}).get("queuedPublished") and not _finished(stored):
        publish(svc, "Queued", stored)
        update_job(svc.jobs, job_id, _mark_queued_published)
    return {"status": stored["status"], "created": created}


def _mark_queued_published(doc: Json) -> None:
    if not _finished(doc):
        doc.setdefault("history", {})["queuedPublished"] = True


def validate_bundle_step(svc: Services, payload: Json) -> Json:
    """Downloads the bundle (capped) and checks it; never modifies or deletes it."""
    job_id, run = payload["jobId"], _run(payload)
    doc = svc.jobs.get(job_id)
    source = JobSource.from_json(doc["source"])
    update_job(svc.jobs, job_id, lambda d: None if _finished(d, run)
               else _set_status(d, JobStatus.VALIDATING, svc.now()))
    if assets.is_manifest_source(svc, source):  # scene files by content: shared/pipeline/assets.py
        return assets.validate_manifest_job(svc, job_id, svc.jobs.get(job_id))
    limits = BundleLimits(max_bytes=svc.settings.bundle_max_bytes,
                          max_entries=svc.settings.bundle_max_entries,
                          max_unpacked_bytes=svc.settings.bundle_max_unpacked_bytes)
    with tempfile.TemporaryDirectory(prefix="bundle-") as tmp:
        path = Path(tmp) / "bundle"
        try:
            blob = svc.blobs.info(source.container, source.blob_name)
            if blob.size > limits.max_bytes:
                raise ValidationError(f"bundle is {blob.size} bytes, the limit is {limits.max_bytes}",
                                      code="bundle_too_large", field="bundle")
            downloaded = svc.blobs.download_to_file(source.container, source.blob_name, path,
                                                    max_bytes=limits.max_bytes)
            _check_same_version(source, downloaded.etag)
            info = validate_bundle(path, limits, name=source.blob_name,
                                   blend=(doc.get("request") or {}).get("blend"))
            manifest = combine_manifests(doc.get("request"), info.manifest)
            copy = _store_input_copy(svc, job_id, source, path)
        except NotFoundError:
            return {"ok": False, "error": _error(
                "bundle_missing", f"the bundle {source.container}/{source.blob_name} no longer exists")}
        except ValidationError as exc:
            return _failed(exc)

    def record(d: Json) -> None:
        if _finished(d, run):
            return
        d["bundle"] = info.to_json(max_assets=200)
        d["manifest"] = manifest if d.get("priority") is None else {**manifest, "priority": d["priority"]}
        d["name"] = name_after_validation(d, manifest)
        d["input"] = copy
    update_job(svc.jobs, job_id, record)
    return {"ok": True, "kind": info.kind, "blendPath": info.blend_path}


def _store_input_copy(svc: Services, job_id: str, source: JobSource, path: Path) -> Json:
    """Uploads the bytes just validated as the job's input copy, which every task reads.

    The scene blob may be overwritten while the job renders (the new version is a job of
    its own); tasks reading it by name would mix versions into one job. The copy is an
    upload of the validated file, not a server-side copy (the local blob store runs
    without one), streamed from disk, and never overwritten: a second run of this step
    (the same version, as the eTag check above holds) finds it in place."""
    container = svc.settings.renders_container
    name = layout.input_blob(job_id, PurePosixPath(source.blob_name).name)
    size = path.stat().st_size
    try:
        stored = svc.blobs.upload_file(container, name, path, overwrite=False)
    except ConflictError:
        stored = svc.blobs.info(container, name)
        if stored.size != size:
            raise ValidationError(f"the job's input copy {container}/{name} is not the validated bundle "
                                  f"({stored.size} bytes, not {size})", code="bundle_changed",
                                  field="bundle") from None
    return {"container": container, "blob": name, "eTag": normalize_etag(stored.etag), "size": size}


def _check_same_version(source: JobSource, etag: str) -> None:
    """A job renders the bundle version that started it; an overwrite is a job of its own."""
    if source.etag and normalize_etag(etag) != normalize_etag(source.etag):
        raise ValidationError(
            f"{source.container}/{source.blob_name} was overwritten after this job started "
            f"(eTag {normalize_etag(source.etag)}, now {normalize_etag(etag)}); the new upload has a job of its own",
            code="bundle_changed", field="bundle")


def start_batch_job(svc: Services, payload: Json) -> Json:
    """Creates the Batch job, ships the node scripts, and adds the task that inspects the .blend.

    The inspection runs for every job, even when the manifest gives frames, fps and
    resolution: it is cheap next to a render, and it is what finds an unreadable .blend
    (scene_unreadable) or a scene the .blend does not have (scene_not_found) before any
    render task exists, rather than after every retry of every chunk."""
    job_id, run, batch_job = payload["jobId"], _run(payload), _batch_job(payload)
    doc = svc.jobs.get(job_id)
    if _finished(doc, run):
        return {"inspect": False}
    manifest = doc.get("manifest") or {}
    svc.backend.create_job(batch_job, priority=int(manifest.get("priority", 0)))
    if _finished(svc.jobs.get(job_id), run):  # cancelled while we created it: its terminate found nothing
        _terminate_quietly(svc, batch_job)
        return {"inspect": False}
    batch_tasks.upload_node_scripts(svc, job_id)
    svc.backend.add_tasks(batch_job, [batch_tasks.inspect_task(svc, doc)])
    return {"inspect": True}


def _blend_info(svc: Services, job_id: str, batch_job: str) -> BlendInfo:
    """What the inspect task found in the .blend, or ValidationError explaining why nothing."""
    state = svc.backend.get_task(batch_job, names.INSPECT_TASK_ID)
    if state.result != TaskResult.SUCCESS:
        _log_task_failure(svc, job_id, names.INSPECT_TASK_ID, state)
        raise ValidationError(
            f"Blender could not open the .blend (exit code {state.exit_code}); the inspect task's log says why",
            code="scene_unreadable", field="bundle",
            details={"log": layout.log_url(svc, job_id, names.INSPECT_TASK_ID)})
    try:
        raw = json.loads(svc.blobs.download(svc.settings.renders_container, layout.inspect_blob(job_id),
                                            max_bytes=1024 * 1024))
    except (NotFoundError, ValueError) as exc:
        log.warning("job %s: no readable scene inspection: %s", job_id, exc)
        raise ValidationError("the scene inspection wrote no readable result",
                              code="scene_unreadable", field="bundle") from None
    runs.check_scene_paths(svc, job_id, raw)
    return batch_tasks.blend_info_from_inspection(raw, (svc.jobs.get(job_id).get("manifest") or {}).get("scene"))


def plan_job(svc: Services, payload: Json) -> Json:
    """Merges manifest > .blend > defaults into the spec and splits the frames into chunks."""
    job_id, run = payload["jobId"], _run(payload)
    doc = svc.jobs.get(job_id)
    manifest = doc.get("manifest") or {}
    settings = svc.settings
    try:
        blend = _blend_info(svc, job_id, _batch_job(payload))
        defaults = SpecDefaults(chunk_size=settings.default_chunk_size, max_retries=settings.default_max_retries)
        spec = merge_spec(manifest, blend, defaults)
        start_at = runs.not_before(manifest.get("notBefore"), svc.now())
        if spec.chunk_size is None:  # sized automatically: probes first, the rest by size_chunks
            chunks = plan_probe_chunks(spec.frames, settings.task_slots_per_node)
        else:
            chunks = plan_chunks(spec.frames, spec.chunk_size, spec.frame_order)
        if len(chunks) > MAX_CHUNKS:
            raise ValidationError(f"{len(chunks)} chunks is more than {MAX_CHUNKS}; raise chunkSize",
                                  code="too_many_chunks", field="chunkSize")
    except ValidationError as exc:
        return _failed(exc)
    if not doc.get("chunkCount") and not _finished(doc, run):
        write_chunks(svc.chunks, job_id, chunks_to_json(chunks))  # ids stored already are skipped
    pages = read_pages(svc.chunks, job_id)

    def record(d: Json) -> None:
        if d.get("chunkCount") or _finished(d, run):
            return  # planned already (the activity ran twice), or cancelled meanwhile
        d["spec"] = spec.to_json()
        d["framesPlanned"] = len(spec.frames)
        record_pages(d, pages)  # chunkCount, chunkPageCount, progress
        d["outputs"]["framesPrefix"] = layout.frames_prefix(job_id)
        if start_at is not None:
            d["notBefore"] = start_at
        _set_status(d, JobStatus.SCHEDULED if start_at else JobStatus.RENDERING, svc.now())
        if manifest.get("paused") and not d.get("pausedOnSubmit") and status_of(d).can_pause:
            d["pausedOnSubmit"] = True  # once: a resume must not be undone by a rerun of this step
            apply_pause(d, "wait", now=svc.now())
    stored = update_job(svc.jobs, job_id, record)
    runs.hold_if_paused(svc, stored, _batch_job(payload))
    if not _finished(stored, run) and start_at is None:  # no Started after a Cancelled
        publish(svc, "Started", stored)
    return {"ok": True, "video": spec.video is not None, "chunks": len(chunks), "frames": len(spec.frames),
            "notBefore": start_at, "sizeChunks": spec.chunk_size is None}


def size_chunks(svc: Services, payload: Json) -> Json:
    """An automatically sized job, its probes rendered: the rest of its frames as chunks of about
    TARGET_TASK_SECONDS each, from the probes' seconds per frame and start-up (planning.size_chunks).
    Running twice adds nothing: the second run finds every frame planned."""
    job_id, run = payload["jobId"], _run(payload)
    doc = svc.jobs.get(job_id)
    if _finished(doc, run):
        return {"ok": True, "chunks": 0}
    spec = JobSpec.from_json(doc["spec"])
    stored = read_chunks(svc.chunks, job_id)
    chunks = chunks_from_json(stored)
    timing = probe_timing(_probe_samples(svc, job_id, stored))
    # The slots the job was seen to use, if more than the setting says (a pool of several nodes).
    slots = max(svc.settings.task_slots_per_node, int((doc.get("watch") or {}).get("peakRunning") or 0))
    sized = plan_sized_chunks(spec.frames, chunks, timing, target_seconds=svc.settings.target_task_seconds,
                              slots=slots, order=spec.frame_order, max_chunks=MAX_CHUNKS - len(chunks))
    sizing = {"targetTaskSeconds": svc.settings.target_task_seconds, "slots": slots, "chunks": len(sized),
              "chunkSize": max((len(c.frames) for c in sized), default=0),
              **(timing.to_json() if timing is not None else {"untimed": True})}

    # Appending is idempotent (ids stored are skipped); a rerun finds every frame planned, sizes nothing.
    written = write_chunks(svc.chunks, job_id, chunks_to_json(sized)) if sized else []

    def record(d: Json) -> None:
        if _finished(d, run) or not sized:
            return
        record_pages(d, written)  # chunkCount, chunkPageCount, progress: the new chunks count at once
        d["sizing"] = sizing
    update_job(svc.jobs, job_id, record)
    return {"ok": True, "chunks": len(sized), "chunkSize": sizing["chunkSize"]}


def _probe_samples(svc: Services, job_id: str, chunks: list[Json]) -> list[tuple[Any, Any]]:
    """(task seconds, {frame: seconds}) of each finished probe: the frame times watching recorded,
    else the ones in its marker (watching is best effort)."""
    samples = []
    for c in chunks:
        if c["status"] != ChunkStatus.SUCCEEDED.value or not c["id"].startswith(names.PROBE_CHUNK_PREFIX):
            continue
        seconds = c.get("frameSeconds")
        if not seconds:
            marker = _marker(svc, job_id, task_id(c["id"], c["attempts"]))
            seconds = clean_frame_seconds(marker.get("frameSeconds"), FrameSet.from_json(c["frames"]))
        samples.append((c.get("seconds"), seconds))
    return samples


def _marker(svc: Services, job_id: str, task: str) -> Json:
    """A task's completion marker (input like any node's file: bounded, {} if not an object)."""
    try:
        data = json.loads(svc.blobs.download(svc.settings.renders_container, layout.marker_blob(job_id, task),
                                             max_bytes=watching.NODE_FILE_MAX_BYTES))
    except (PermanentError, ValueError, RecursionError):  # missing, too large, not JSON; transient raises
        return {}
    return data if isinstance(data, dict) else {}


def add_render_tasks(svc: Services, payload: Json) -> Json:
    """Adds a task for every chunk waiting for a run (all at first, then the requeued ones)."""
    job_id, run = payload["jobId"], _run(payload)
    doc = svc.jobs.get(job_id)
    if _finished(doc, run):
        return {"added": 0}
    spec = JobSpec.from_json(doc["spec"])
    pages = [p for p in read_pages(svc.chunks, job_id)
             if any(c["status"] == ChunkStatus.PENDING.value for c in p["chunks"])]
    pending = [Chunk.from_json(c) for p in pages for c in p["chunks"] if c["status"] == ChunkStatus.PENDING.value]
    if pending and doc["status"] == JobStatus.PAUSED.value:
        return {"added": 0, "paused": True}  # resume adds them (render_job._add_unless_paused)
    started = {c.id: c for c in start_attempts(pending, [c.id for c in pending])}
    tasks = [batch_tasks.render_task(svc, doc, spec, started[c.id], task_id(c.id, started[c.id].attempts))
             for c in pending]
    if tasks:
        svc.backend.add_tasks(_batch_job(payload), tasks)
    if not tasks or _finished(svc.jobs.get(job_id), run):
        return {"added": len(tasks)}

    def start(chunk: Json) -> None:
        if chunk["id"] in started and chunk["status"] == ChunkStatus.PENDING.value:
            chunk.update(started[chunk["id"]].to_json())
    written = update_chunks(svc.chunks, job_id, start, pages=pages).written
    update_job(svc.jobs, job_id, lambda d: None if _finished(d, run) else record_pages(d, written))
    return {"added": len(tasks)}


def _latest_states(states: list[TaskState]) -> Callable[[Json], TaskState | None]:
    """The state of a chunk's latest attempt (None before its first, or if the backend lost it)."""
    by_task = {s.id: s for s in states}

    def latest(chunk: Json) -> TaskState | None:
        return by_task.get(task_id(chunk["id"], chunk["attempts"])) if chunk["attempts"] >= 1 else None
    return latest


def _seconds(state: TaskState) -> float | None:
    from datetime import datetime

    if not state.start_time or not state.end_time:
        return None
    start = datetime.fromisoformat(state.start_time.replace("Z", "+00:00"))
    end = datetime.fromisoformat(state.end_time.replace("Z", "+00:00"))
    return round((end - start).total_seconds(), 3)


def _state_updates(states: list[TaskState]) -> Callable[[Json], None]:
    """A chunk mutation copying its latest task's outcome onto it (status, seconds, failure)."""
    latest = _latest_states(states)

    def apply(chunk: Json) -> None:
        state = latest(chunk)
        if state is None or chunk["status"] in (ChunkStatus.SUCCEEDED.value, ChunkStatus.FAILED.value):
            return
        if state.status == TaskStatus.COMPLETED:
            new = ChunkStatus.SUCCEEDED if state.result == TaskResult.SUCCESS else ChunkStatus.FAILED
        elif state.status == TaskStatus.RUNNING:
            new = ChunkStatus.RUNNING
        else:
            return
        if chunk["status"] != new.value:
            chunk["status"] = new.value
            chunk["seconds"] = _seconds(state)
            if new == ChunkStatus.FAILED:
                chunk["failure"] = {"exitCode": state.exit_code, "reason": plain_message(state.failure)}
    return apply


def _apply_states(svc: Services, job_id: str, states: list[TaskState], run: int,
                  pages: list[Json] | None = None) -> tuple[Json, list[Json]]:
    """Copies task outcomes onto the job's chunks (only pages with unsettled chunks change) and
    their counts onto the job; returns the job document and every page as stored now."""
    doc = svc.jobs.get(job_id)
    pages = read_pages(svc.chunks, job_id) if pages is None else pages
    if _finished(doc, run):
        return doc, pages
    open_pages = unsettled_pages(doc)
    update = update_chunks(svc.chunks, job_id, _state_updates(states), pages=pages, only=open_pages)
    if update.written:
        doc = update_job(svc.jobs, job_id, lambda d: None if _finished(d, run) else record_pages(d, update.written))
    latest = {p["page"]: p for p in update.pages}
    return doc, [latest.get(p["page"], p) for p in pages]


def poll_tasks(svc: Services, payload: Json) -> Json:
    """Is every task of the job settled? While rendering, also brings progress up to date."""
    job_id, run, batch_job = payload["jobId"], _run(payload), _batch_job(payload)
    if payload.get("phase") == names.PAUSED:  # waiting for a resume, not for tasks
        current = svc.jobs.get(job_id)
        held = not _finished(current, run) and runs.note_waiter(svc, current, run, payload.get("waiter"))
        return {"done": not held, "counts": {}, "paused": held}
    counts = svc.backend.task_counts(batch_job)
    doc: Json | None = None
    if payload.get("phase") == names.RENDER:
        states = svc.backend.list_tasks(batch_job)
        doc, pages = _apply_states(svc, job_id, states, run)
        # frame times, ETA, nodes, stuck chunks, cost (never raises)
        watching.watch_job(svc, job_id, states, pages=pages)
    if payload.get("phase") == names.STITCH:  # the stitch task's node time, in the job's cost
        watching.watch_job(svc, job_id)
    done = counts.active + counts.running == 0
    paused = False if done else _note_waiter(svc, job_id, doc, run, payload.get("waiter"))
    return {"done": done, "counts": counts.to_json(), "paused": paused}


def _note_waiter(svc: Services, job_id: str, doc: Json | None, run: int, waiter: Any) -> bool:
    """Is the job paused (the wait then holds still)? A wait whose job has no document (a
    benchmark's bare wait, or a document removed out of band) just goes on polling its tasks."""
    try:
        current = doc or svc.jobs.get(job_id)
    except NotFoundError:
        return False
    return runs.note_waiter(svc, current, run, waiter)


def collect_render_results(svc: Services, payload: Json) -> Json:
    """After a round: which chunks failed, which get another run, and whether any ran out of runs."""
    job_id, run = payload["jobId"], _run(payload)
    states = svc.backend.list_tasks(_batch_job(payload))
    doc, pages = _apply_states(svc, job_id, states, run)
    if _finished(doc, run):
        return {"retry": False, "ended": doc["status"]}
    stored = [c for p in pages for c in p["chunks"]]
    unsafe = runs.unsafe_scene_failure(stored)
    if unsafe is not None:
        return {"retry": False, "error": unsafe}
    spec = JobSpec.from_json(doc["spec"])
    chunks = chunks_from_json(stored)
    plan = plan_requeue(chunks, spec.max_retries)
    if plan.exhausted:
        exhausted = set(plan.exhausted)
        failed = [c for c in stored if c["id"] in exhausted]
        # Bounded: the error lands in the job document (Cosmos items are at most 2 MB), and a
        # bundle that cannot render at all fails every one of up to MAX_CHUNKS chunks.
        frames = ", ".join(c["frames"] for c in failed[:MAX_REPORTED_CHUNKS])
        if len(failed) > MAX_REPORTED_CHUNKS:
            frames += f" (and {len(failed) - MAX_REPORTED_CHUNKS} more chunks)"
        details = [{"chunk": c["id"], "frames": c["frames"], "attempts": c["attempts"],
                    "exitCode": (c.get("failure") or {}).get("exitCode"),
                    "reason": (c.get("failure") or {}).get("reason"),
                    "log": layout.log_url(svc, job_id, task_id(c["id"], c["attempts"]))}
                   for c in failed[:MAX_REPORTED_CHUNKS]]
        return {"retry": False, "error": _error(
            "frames_failed", f"frames {frames} failed to render after {spec.max_retries + 1} attempts",
            {"chunks": details, "chunkCount": len(failed)})}
    if plan.requeue:
        requeue = set(plan.requeue)
        written = send_back(svc.chunks, job_id, pages, requeue, ChunkStatus.FAILED.value)

        def reset(d: Json) -> None:
            if _finished(d, run):
                return
            d.setdefault("history", {})["requeues"] = d.get("history", {}).get("requeues", 0) + len(requeue)
            record_pages(d, written)
        update_job(svc.jobs, job_id, reset)
    unsettled = [c.id for c in chunks if c.status not in (ChunkStatus.SUCCEEDED, ChunkStatus.FAILED)]
    if unsettled:
        # A task vanished from the backend (e.g. its job was terminated under us): nothing to wait for.
        return {"retry": False, "error": _error(
            "chunks_lost", f"{len(unsettled)} chunks have no finished task", {"chunks": unsettled[:50]})}
    # Bounded like every activity result: it stays in the orchestration's history.
    return {"retry": bool(plan.requeue), "requeued": list(plan.requeue[:MAX_REPORTED_CHUNKS]),
            "requeuedCount": len(plan.requeue)}


def add_stitch_task(svc: Services, payload: Json) -> Json:
    job_id, run = payload["jobId"], _run(payload)
    doc = update_job(svc.jobs, job_id, lambda d: None if _finished(d, run)
                     else _set_status(d, JobStatus.STITCHING, svc.now()))
    if _finished(doc, run):
        return {"added": 0}
    if doc["status"] == JobStatus.PAUSED.value:
        return {"added": 0, "paused": True}
    spec = JobSpec.from_json(doc["spec"])
    stitch_id = names.stitch_task_id(int(payload.get("attempt", 0)))
    svc.backend.add_tasks(_batch_job(payload), [batch_tasks.stitch_task(svc, doc, spec, task_id=stitch_id)])
    return {"added": 1}


def verify_outputs(svc: Services, payload: Json) -> Json:
    """Every frame present and non-empty; the video's frame count equals the job's."""
    job_id, run = payload["jobId"], _run(payload)
    doc = svc.jobs.get(job_id)
    if _finished(doc, run):
        return {"ok": False, "ended": doc["status"]}
    spec = JobSpec.from_json(doc["spec"])
    container = svc.settings.renders_container
    chunks = chunks_from_json(read_chunks(svc.chunks, job_id))
    missing, missing_chunks = runs.missing_frames(svc, doc, chunks)
    expected = [f for c in chunks for f in expected_frame_files(batch_tasks.frame_name(doc), c, spec.format)]
    if missing:
        # The store lost them (or a node died mid-upload): the orchestration renders their
        # chunks again (runs.requeue_chunks), within the job's retries. Named up to a bound
        # (the result stays in the orchestration's history); the requeue finds the rest itself.
        return {"ok": False, "missingChunks": missing_chunks[:MAX_REPORTED_CHUNKS],
                "missingChunkCount": len(missing_chunks), "error": _error(
            "frames_missing", f"{len(missing)} rendered frames are missing or empty", {"frames": missing[:100]})}
    outputs: Json = {"container": container, "framesPrefix": layout.frames_prefix(job_id),
                     "frameCount": len(expected), "videoBlob": None, "videoUrl": None}
    if spec.video is not None:
        stitch_id = names.stitch_task_id(int(payload.get("stitchAttempt", 0)))
        try:
            state = svc.backend.get_task(_batch_job(payload), stitch_id)
        except NotFoundError:  # the Batch job lost it: stitch again
            return {"ok": False, "stitchRetry": True, "error": _error(
                "stitch_failed", "the stitch task is gone from the render backend")}
        if state.result != TaskResult.SUCCESS:
            _log_task_failure(svc, _batch_job(payload), stitch_id, state)
            return {"ok": False, "stitchRetry": True, "error": _error(
                "stitch_failed", f"FFmpeg failed (exit code {state.exit_code}); the stitch task's log says why",
                {"log": layout.log_url(svc, job_id, stitch_id)})}
        video_blob = layout.video_blob(job_id, spec.video.name)
        try:
            track = read_video_track(svc.blobs.download(container, video_blob))
        except NotFoundError:
            return {"ok": False, "stitchRetry": True,
                    "error": _error("video_missing", f"the video {video_blob} was not written")}
        except Mp4Error as exc:
            return {**_failed(exc), "stitchRetry": True}
        if track.frame_count != len(expected):
            return {"ok": False, "stitchRetry": True, "error": _error(
                "video_frame_count", f"the video has {track.frame_count} frames, the job {len(expected)}")}
        outputs.update(videoBlob=video_blob, videoUrl=svc.blobs.url(container, video_blob),
                       videoFrames=track.frame_count, videoFps=round(track.fps, 3),
                       videoSize={"width": track.width, "height": track.height})
    return {"ok": True, "outputs": outputs}


def finalize_job(svc: Services, payload: Json) -> Json:
    run = _run(payload)

    def complete(d: Json) -> None:
        if _finished(d, run):
            return
        d["outputs"].update(payload["outputs"])
        _set_status(d, JobStatus.COMPLETED, svc.now())
    return _end_job(svc, payload, complete, JobStatus.COMPLETED, "Completed")


def fail_job(svc: Services, payload: Json) -> Json:
    error = public_error(payload["error"])
    if error != payload["error"]:
        log.warning("job %s fails with %s: %s", payload["jobId"], error["code"], payload["error"].get("message"))

    run = _run(payload)

    def fail(d: Json) -> None:
        if _finished(d, run):
            return
        d["error"] = error
        _set_status(d, JobStatus.FAILED, svc.now())
    return _end_job(svc, payload, fail, JobStatus.FAILED, "Failed")


def _end_job(svc: Services, payload: Json, mutate: Mutation, status: JobStatus, event: str) -> Json:
    """Records the end, frees the run's Batch job, and publishes the event if this end is the job's."""
    doc = update_job(svc.jobs, payload["jobId"], mutate)
    _terminate_quietly(svc, _batch_job(payload))
    if doc["status"] == status.value and not is_stale_run(doc, _run(payload)):
        publish(svc, event, doc)
    return {"status": doc["status"]}


def _log_task_failure(svc: Services, job_id: str, task_id: str, state: TaskState) -> None:
    """What a failed task said (tracebacks, node paths) is for the logs, not for the job's error."""
    log.warning("job %s: task %s failed (exit code %s, %s): %s", job_id, task_id, state.exit_code,
                state.failure, layout.log_tail(svc, job_id, task_id))


def _terminate_quietly(svc: Services, job_id: str) -> None:
    try:
        svc.backend.terminate_job(job_id)
    except (NotFoundError, ConflictError):
        pass


__all__ = ["add_render_tasks", "add_stitch_task", "collect_render_results", "fail_job", "finalize_job",
           "plan_job", "poll_tasks", "register_job", "size_chunks", "start_batch_job", "validate_bundle_step",
           "verify_outputs"]
