"""The activity handlers that steer a run: a retry's start, a scheduled start, healing lost
frames, holding a paused job, and what the scene inspection says about unsafe paths.

They keep steps.py's rules: input problems come back as results, only transient trouble
raises, every handler is safe to run twice, and a step of an earlier run changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import names
from shared.bootstrap import Services
from shared.chunk_pages import record_pages
from shared.errors import ConflictError, NotFoundError, PermanentError, ValidationError
from shared.job_chunks import read_chunks, read_pages, send_back
from shared.job_document import Chunk, ChunkStatus, JobStatus, current_run
from shared.job_spec import JobSpec
from shared.jobs import apply_status, is_stale_run, update_job
from shared.pipeline import batch_tasks, layout
from shared.pipeline.lifecycle import publish
from shared.planning import chunks_from_json, expected_frame_files, unplanned_frames

log = logging.getLogger(__name__)

Json = dict[str, Any]

MAX_SCHEDULE_AHEAD = timedelta(days=30)
EXIT_UNSAFE_SCENE = 3     # apply_settings.py: the scene holds paths it cannot make safe
MAX_SCENE_WARNINGS = 50   # unsafe paths neutralised on the node, recorded on the job
MAX_LISTED = 50           # chunk ids an activity result names (the rest are counted)
# render_output is replaced by every render task's -o, so an absolute one (Blender's default
# is /tmp/) is harmless; a linked library is read when Blender opens the file, before any
# script can neutralise it, so it is refused.
HARMLESS_KINDS = frozenset({"render_output"})
REFUSED_KINDS = frozenset({"library"})


def _inactive(doc: Json, run: int) -> bool:
    return JobStatus(doc["status"]).is_terminal or is_stale_run(doc, run)


def _batch_job(payload: Json) -> str:
    return names.batch_job_id(payload["jobId"], int(payload.get("run", 1)))


# ---------------------------------------------------------------- scheduled start


def not_before(value: str | None, now: str) -> str | None:
    """A manifest's notBefore (validated in shape by job_spec) as UTC ISO, or None when it is
    absent or already past (a past time starts at once). ValidationError naming notBefore for
    an impossible date or a time more than 30 days ahead."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{value!r} is not a valid time", field="notBefore") from None
    if moment.tzinfo is None:
        raise ValidationError("must carry an offset (Z or ±hh:mm)", field="notBefore")
    current = datetime.fromisoformat(now.replace("Z", "+00:00"))
    if moment - current > MAX_SCHEDULE_AHEAD:
        raise ValidationError(f"may be at most {MAX_SCHEDULE_AHEAD.days} days ahead", field="notBefore")
    if moment <= current:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def start_rendering(svc: Services, payload: Json) -> Json:
    """A scheduled job's time has come: it renders (or, paused meanwhile, resumes to rendering)."""
    run = int(payload.get("run", 1))

    def begin(d: Json) -> None:
        if not _inactive(d, run):
            apply_status(d, JobStatus.RENDERING, now=svc.now())
    doc = update_job(svc.jobs, payload["jobId"], begin)
    if _inactive(doc, run):
        return {"ended": doc["status"]}
    if doc["status"] == JobStatus.RENDERING.value:
        publish(svc, "Started", doc)
    return {"status": doc["status"]}


# ---------------------------------------------------------------- retry


def start_run(svc: Services, payload: Json) -> Json:
    """A retry's run: its own Batch job (a terminated one takes no tasks), held if paused.
    Returns whether the job was planned (then the run goes straight to rendering)."""
    job_id, run = payload["jobId"], int(payload.get("run", 1))
    doc = svc.jobs.get(job_id)
    if _inactive(doc, run):
        return {"ended": doc["status"]}
    priority = int((doc.get("spec") or doc.get("manifest") or {}).get("priority", 0))
    svc.backend.create_job(_batch_job(payload), priority=priority)
    doc = svc.jobs.get(job_id)
    if _inactive(doc, run):  # cancelled while we created it: its terminate found nothing
        try:
            svc.backend.terminate_job(_batch_job(payload))
        except (NotFoundError, ConflictError):
            pass
        return {"ended": doc["status"]}
    if not doc.get("chunkCount"):
        return {"planned": False}
    batch_tasks.upload_node_scripts(svc, job_id)
    hold_if_paused(svc, doc, _batch_job(payload))
    spec = JobSpec.from_json(doc["spec"])
    # An automatically sized job whose earlier run ended before sizing: its probes, then the rest.
    unsized = spec.chunk_size is None and bool(
        unplanned_frames(spec.frames, chunks_from_json(read_chunks(svc.chunks, job_id))))
    return {"planned": True, "video": spec.video is not None, "sizeChunks": unsized}


# ---------------------------------------------------------------- healing


def requeue_chunks(svc: Services, payload: Json) -> Json:
    """Chunks whose frames verification found missing render again, within the job's retries;
    a chunk that has used them all fails the job with frames_missing, naming it."""
    job_id, run = payload["jobId"], int(payload.get("run", 1))
    wanted = set(payload["chunks"])
    doc = svc.jobs.get(job_id)
    if _inactive(doc, run):
        return {"requeued": [], "ended": doc["status"]}
    spec = JobSpec.from_json(doc["spec"])
    pages = read_pages(svc.chunks, job_id)
    if int(payload.get("missingChunkCount") or 0) > len(wanted):  # verification named only the first
        wanted = set(missing_frames(svc, doc, chunks_from_json(c for p in pages for c in p["chunks"]))[1])
    spent = [c for p in pages for c in p["chunks"] if c["id"] in wanted and c["attempts"] >= 1 + spec.max_retries]
    if spent:
        frames = ", ".join(c["frames"] for c in spent[:50])
        return {"requeued": [], "error": {
            "code": "frames_missing",
            "message": f"frames {frames} went missing after {spec.max_retries + 1} renders",
            "details": {"chunks": [c["id"] for c in spent[:50]], "chunkCount": len(spent)}}}

    written = send_back(svc.chunks, job_id, pages, wanted, ChunkStatus.SUCCEEDED.value)

    def reset(d: Json) -> None:
        if _inactive(d, run):
            return
        history = d.setdefault("history", {})
        history["requeues"] = int(history.get("requeues", 0)) + len(wanted)
        history["healed"] = int(history.get("healed", 0)) + len(wanted)
        record_pages(d, written)
    update_job(svc.jobs, job_id, reset)
    log.warning("job %s: frames of %d chunks went missing after rendering; rendering them again",
                job_id, len(wanted))
    return {"requeued": sorted(wanted)[:MAX_LISTED], "requeuedCount": len(wanted)}  # bounded: it stays in history


def missing_frames(svc: Services, doc: Json, chunks: Sequence[Chunk]) -> tuple[list[str], list[str]]:
    """The frame files the store lacks (or holds empty), and the ids of the chunks they belong to."""
    job_id = doc["id"]
    spec = JobSpec.from_json(doc["spec"])
    prefix = layout.frames_prefix(job_id)
    stored = {b.name: b.size for b in svc.blobs.list(svc.settings.renders_container, prefix)}
    name = batch_tasks.frame_name(doc)
    missing, missing_chunks = [], []
    for chunk in chunks:
        lost = [f for f in expected_frame_files(name, chunk, spec.format) if stored.get(prefix + f, 0) <= 0]
        if lost:
            missing += lost
            missing_chunks.append(chunk.id)
    return missing, missing_chunks


# ---------------------------------------------------------------- pause


def hold_if_paused(svc: Services, doc: Json, batch_job: str) -> None:
    """A job paused before its Batch job existed (or paused at submission) is held now."""
    if doc["status"] != JobStatus.PAUSED.value:
        return
    try:
        svc.backend.disable_job(batch_job, (doc.get("pause") or {}).get("mode") or "wait")
    except NotFoundError:
        pass
    except PermanentError as exc:
        if exc.code != "not_supported":
            raise
        log.warning("job %s: the render backend cannot hold a job: its queued tasks go on; the pipeline "
                    "adds no new task until it is resumed", doc["id"])


def note_waiter(svc: Services, doc: Json, run: int, waiter: str | None) -> bool:
    """Whether the job is paused; if so, records which wait a resume should wake (once)."""
    if doc["status"] != JobStatus.PAUSED.value or is_stale_run(doc, run):
        return False
    if not waiter or (doc.get("pause") or {}).get("waiter") == waiter:
        return True

    def record(d: Json) -> None:
        if d["status"] == JobStatus.PAUSED.value and current_run(d) == run:
            d.setdefault("pause", {})["waiter"] = waiter
    stored = update_job(svc.jobs, doc["id"], record)
    return bool(stored["status"] == JobStatus.PAUSED.value)


# ---------------------------------------------------------------- unsafe scene paths


def check_scene_paths(svc: Services, job_id: str, inspection: Json) -> None:
    """Refuses a .blend that links an unsafe library (unsafe_scene_path, naming kind and owner,
    never a host path); records the other unsafe paths, which the node neutralises, as warnings."""
    entries = [e for e in inspection.get("externalPaths") or [] if isinstance(e, dict) and e.get("unsafe")]
    refused = [e for e in entries if e.get("kind") in REFUSED_KINDS]
    if refused:
        named = ", ".join(f"{e.get('kind')} {e.get('owner') or '(unnamed)'}" for e in refused[:10])
        raise ValidationError(f"the .blend links data from outside its bundle ({named}); Blender reads "
                              "linked libraries when it opens the file, so the job is refused",
                              code="unsafe_scene_path", field="bundle",
                              details={"paths": [{"kind": e.get("kind"), "owner": e.get("owner")}
                                                 for e in refused[:MAX_SCENE_WARNINGS]]})
    warnings = [{"kind": str(e.get("kind")), "owner": str(e.get("owner") or ""), "access": e.get("access")}
                for e in entries if e.get("kind") not in HARMLESS_KINDS][:MAX_SCENE_WARNINGS]
    if not warnings:
        return

    def record(d: Json) -> None:
        if not JobStatus(d["status"]).is_terminal:
            d["warnings"] = [{"code": "scene_path_neutralised", "message":
                              f"{w['kind']} {w['owner']}: a path outside the bundle, redirected on the node",
                              "details": w} for w in warnings]
    update_job(svc.jobs, job_id, record)


def unsafe_scene_failure(chunks: list[Json]) -> Json | None:
    """A render task the node refused because it could not sandbox the scene: no retry helps."""
    refused = [c for c in chunks
               if c.get("status") == ChunkStatus.FAILED.value
               and (c.get("failure") or {}).get("exitCode") == EXIT_UNSAFE_SCENE]
    if not refused:
        return None
    return {"code": "unsafe_scene_path",
            "message": "the render node could not keep the scene's paths inside its bundle; "
                       "the task's log names the paths",
            "details": {"chunks": [c["id"] for c in refused[:50]]}}
