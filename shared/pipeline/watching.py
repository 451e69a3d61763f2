"""Watching a rendering job: per-frame seconds, progress and ETA, attempts' nodes, stuck chunks, cost.

`watch_job` runs from the poll step (steps.poll_tasks) each time the render wait wakes. It
reads what the nodes wrote (a running task's heartbeat blob, a finished task's marker) and
what the backend says (task times, the node of each attempt), and writes into the chunk pages
(only those whose chunks changed) and the job document:

- each chunk: `frameSeconds` ({"<frame>": seconds}) of its latest attempt, and `attemptLog`,
  one entry per attempt: task id, node, result, reason (`stuck` when the runner stopped it);
- `progress`: framesDone (finished chunks plus the frames running chunks have done),
  framesRunning, secondsPerFrame (median so far), elapsedSeconds, eta (UTC);
- `cost`: node-seconds (dedicated and Spot) and the estimate; `budgetReachedAt` once it reaches
  the job's maxCost.

Watching is best effort: what a node wrote is input (bounded, checked, ignored if malformed),
and a failure here is logged, never fails the poll. Node health (node_health.py) hears of
every attempt once, when its result is first recorded here.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from shared import names
from shared.bootstrap import Services
from shared.chunk_pages import record_pages
from shared.errors import NotFoundError, PipelineError
from shared.frames import FrameSet
from shared.job_chunks import read_pages, update_chunks
from shared.job_document import ChunkStatus, JobStatus, current_run
from shared.jobs import update_job
from shared.pipeline import layout, node_health
from shared.pipeline.estimates import (
    ChunkWork,
    TaskRun,
    budget_reached,
    clean_frame_seconds,
    estimate_cost,
    estimate_eta,
    format_time,
    is_spot_node,
    median_seconds,
    node_seconds,
    observed_slots,
    parse_time,
    seconds_between,
    task_overhead,
)
from shared.pipeline.lifecycle import publish
from shared.pipeline.node_health import Attempt
from shared.pipeline.public_errors import plain_message
from shared.planning import task_id as attempt_task_id
from shared.tasks import TaskResult, TaskState, TaskStatus

log = logging.getLogger(__name__)

Json = dict[str, Any]
NODE_FILE_MAX_BYTES = 256 * 1024   # a heartbeat or marker is a few KB; anything larger is not one
MAX_ATTEMPT_LOG = 12               # 1 + maxRetries (at most 10), plus room
STUCK = "stuck"
HEARTBEAT_TASK_FILE = "wd/heartbeat.json"  # the runner's --heartbeat, in the task's working dir


def batch_job_of(doc: Json) -> str:
    """The Batch job the document's current run's tasks run in (run 1: the job id, DESIGN.md)."""
    return names.batch_job_id(str(doc["id"]), current_run(doc))


def watch_job(svc: Services, job_id: str, states: list[TaskState] | None = None,
              pages: list[Json] | None = None) -> None:
    """Bring the job's watch fields up to date (`states`: the job's tasks, listed here if not
    given; `pages`: its chunk pages as just read); never raises (a poll must not fail for it)."""
    try:
        if states is None:
            states = svc.backend.list_tasks(batch_job_of(svc.jobs.get(job_id)))
        _watch(svc, job_id, states, pages)
    except PipelineError as exc:
        log.warning("job %s: watching skipped this pass: %s", job_id, exc)
    except Exception:  # a bug here must not stop the render
        log.exception("job %s: watching failed", job_id)


def _watch(svc: Services, job_id: str, states: list[TaskState], pages: list[Json] | None) -> None:
    doc = svc.jobs.get(job_id)
    if JobStatus(doc["status"]).is_terminal or not doc.get("chunkCount"):
        return
    now = parse_time(svc.now())
    assert now is not None
    by_task = {s.id: s for s in states}
    updates: dict[str, Json] = {}  # chunk id → fields to set
    finished: list[Attempt] = []
    pages = read_pages(svc.chunks, job_id) if pages is None else pages
    chunks = [c for p in pages for c in p["chunks"]]
    for chunk in chunks:
        update = _chunk_update(svc, doc, chunk, by_task, finished)
        if update:
            updates[chunk["id"]] = update
    other_nodes = _other_task_nodes(svc, job_id, doc, by_task)
    merged = [{**c, **{k: v for k, v in updates.get(c["id"], {}).items() if k != "_attempts"}}
              for c in chunks]
    watch = dict(doc.get("watch") or {})
    running_now = sum(1 for c in merged if _latest_state(c, by_task, TaskStatus.RUNNING))
    watch["peakRunning"] = max(int(watch.get("peakRunning") or 0), running_now)
    if other_nodes:
        watch["taskNodes"] = {**(watch.get("taskNodes") or {}), **other_nodes}
    progress = job_progress(doc, merged, by_task, now, watch["peakRunning"])
    cost = job_cost(svc, doc, merged, by_task, watch.get("taskNodes") or {}, now)
    newly_over_budget = budget_reached(cost["estimate"], cost.get("maxCost")) and not (
        doc.get("cost") or {}).get("budgetReachedAt")
    if newly_over_budget:
        cost["budgetReachedAt"] = format_time(now)

    def onto_chunk(c: Json) -> None:
        update = updates.get(c["id"])
        # Only onto the attempt it was read for: a requeue meanwhile starts a new one.
        if update and c.get("attempts") == update["_attempts"]:
            c.update({k: v for k, v in update.items() if k != "_attempts"})
    written = update_chunks(svc.chunks, job_id, onto_chunk,
                            pages=[p for p in pages if any(c["id"] in updates for c in p["chunks"])]).written

    def record(d: Json) -> None:
        if JobStatus(d["status"]).is_terminal:
            return
        record_pages(d, written)
        d["progress"] = {**(d.get("progress") or {}), **progress}
        reached = (d.get("cost") or {}).get("budgetReachedAt")
        d["cost"] = {**cost, **({"budgetReachedAt": reached} if reached else {})}
        d["watch"] = watch

    stored = update_job(svc.jobs, job_id, record)
    node_health.record_attempts(svc, finished)
    if newly_over_budget and not JobStatus(stored["status"]).is_terminal:
        _budget_reached(svc, stored)


# ---------------------------------------------------------------- chunks


def _latest_task_id(chunk: Json) -> str | None:
    attempts = int(chunk.get("attempts") or 0)
    return attempt_task_id(chunk["id"], attempts) if attempts >= 1 else None


def _latest_state(chunk: Json, by_task: dict[str, TaskState], status: TaskStatus) -> bool:
    task = _latest_task_id(chunk)
    state = by_task.get(task) if task else None
    return state is not None and state.status == status


def _chunk_update(svc: Services, doc: Json, chunk: Json, by_task: dict[str, TaskState],
                  finished: list[Attempt]) -> Json:
    """The chunk's new watch fields from its latest attempt; {} when nothing changed."""
    job_id = doc["id"]
    task = _latest_task_id(chunk)
    state = by_task.get(task) if task else None
    if task is None or state is None or state.status == TaskStatus.ACTIVE:
        return {}
    log_entries = [dict(e) for e in chunk.get("attemptLog") or [] if isinstance(e, dict)]
    entry = next((e for e in log_entries if e.get("taskId") == task), None)
    if entry is not None and entry.get("result"):
        return {}  # this attempt is recorded for good
    frames = FrameSet.from_json(chunk["frames"])
    entry = dict(entry or {"taskId": task})
    if not entry.get("node"):
        entry["node"] = _task_node(svc, batch_job_of(doc), task)
    update: Json = {"_attempts": chunk.get("attempts")}
    if state.status == TaskStatus.RUNNING:
        beat = _node_file(svc, layout.heartbeat_blob(job_id, task)) or _heartbeat_on_node(svc, doc, task)
        if beat is not None:
            update["frameSeconds"] = clean_frame_seconds(beat.get("frameSeconds"), frames)
            update["heartbeatAt"] = beat.get("updatedAt") if isinstance(beat.get("updatedAt"), str) else None
    else:  # completed: the marker is the task's last word
        marker = _node_file(svc, layout.marker_blob(job_id, task)) or {}
        ok = state.result == TaskResult.SUCCESS
        reason = STUCK if marker.get("reason") == STUCK else (None if ok else _short(plain_message(state.failure)))
        update["frameSeconds"] = clean_frame_seconds(marker.get("frameSeconds"), frames)
        entry.update(result="succeeded" if ok else "failed", reason=reason, exitCode=state.exit_code,
                     seconds=seconds_between(state.start_time, state.end_time),
                     blender=tool_version(marker.get("blender"), ("version", "buildHash")),
                     ffmpeg=tool_version(marker.get("ffmpeg"), ("version",)))
        if reason == STUCK and chunk.get("status") == ChunkStatus.FAILED.value:
            update["failure"] = {**(chunk.get("failure") or {}), "reason": STUCK}
        finished.append(Attempt(job_id, task, entry.get("node"), ok, reason, state.end_time))
    entry = {k: v for k, v in entry.items() if v is not None}  # the document stays small
    others = [e for e in log_entries if e.get("taskId") != task]
    update["attemptLog"] = [*others, entry][-MAX_ATTEMPT_LOG:]
    return update


def _other_task_nodes(svc: Services, job_id: str, doc: Json, by_task: dict[str, TaskState]) -> dict[str, str]:
    """Nodes of the inspect and stitch tasks (for their cost), asked once each."""
    known = (doc.get("watch") or {}).get("taskNodes") or {}
    found = {}
    for task in (names.INSPECT_TASK_ID, names.STITCH_TASK_ID):
        state = by_task.get(task)
        if state is not None and state.status != TaskStatus.ACTIVE and task not in known:
            node = _task_node(svc, batch_job_of(doc), task)
            if node:
                found[task] = node
    return found


def _task_node(svc: Services, job_id: str, task_id: str) -> str | None:
    """The node an attempt ran on (Batch's node id, localbatch's host), if the backend says."""
    try:
        node = svc.backend.task_node(job_id, task_id)
    except PipelineError as exc:
        log.info("job %s: no node for task %s: %s", job_id, task_id, exc)
        return None
    return node if isinstance(node, str) and node_health.valid_node_id(node) else None


def _heartbeat_on_node(svc: Services, doc: Json, task_id: str) -> Json | None:
    """The heartbeat file in the task's working dir, read through the backend: for tasks that
    cannot reach storage themselves (localbatch runs them without a network)."""
    try:
        data = json.loads(svc.backend.read_task_file(batch_job_of(doc), task_id, HEARTBEAT_TASK_FILE,
                                                     NODE_FILE_MAX_BYTES))
    except (PipelineError, ValueError, RecursionError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def _node_file(svc: Services, blob: str) -> Json | None:
    """A marker or heartbeat the node wrote, if it is there and is a JSON object."""
    try:
        raw = svc.blobs.download(svc.settings.renders_container, blob, max_bytes=NODE_FILE_MAX_BYTES)
        data = json.loads(raw)
    except NotFoundError:
        return None
    except (PipelineError, ValueError, RecursionError) as exc:
        log.info("ignoring %s: %s", blob, exc)
        return None
    return data if isinstance(data, dict) else None


def tool_version(value: Any, keys: tuple[str, ...]) -> dict[str, str] | None:
    """{"version", "buildHash"} of Blender (or {"version"} of FFmpeg) as a marker reports it, bounded."""
    if not isinstance(value, dict):
        return None
    picked = {k: str(value[k])[:100] for k in keys if isinstance(value.get(k), str)}
    return picked or None


def _short(text: str | None) -> str | None:
    return None if text is None else " ".join(str(text).split())[:200]


# ---------------------------------------------------------------- progress and cost


def _chunk_frames_done(chunk: Json) -> int:
    if chunk.get("status") == ChunkStatus.SUCCEEDED.value:
        return len(FrameSet.from_json(chunk["frames"]))
    if chunk.get("status") == ChunkStatus.RUNNING.value:
        return len(chunk.get("frameSeconds") or {})
    return 0


def job_progress(doc: Json, chunks: list[Json], by_task: dict[str, TaskState], now: datetime,
                 peak: int) -> Json:
    """The watch fields of `progress` from the chunks as they are about to be stored."""
    max_retries = int((doc.get("spec") or {}).get("maxRetries", 2))
    seconds = [s for c in chunks for s in (c.get("frameSeconds") or {}).values()]
    median = median_seconds(seconds)
    overhead = task_overhead((c.get("seconds"), (c.get("frameSeconds") or {}).values()) for c in chunks
                             if c.get("status") == ChunkStatus.SUCCEEDED.value and c.get("frameSeconds"))
    work: list[ChunkWork] = []
    running = 0
    for c in chunks:
        size = len(FrameSet.from_json(c["frames"]))
        status = c.get("status")
        if status == ChunkStatus.SUCCEEDED.value:
            continue
        if status == ChunkStatus.FAILED.value and int(c.get("attempts") or 0) >= 1 + max_retries:
            continue  # out of attempts: no more work will be done on it
        state = by_task.get(_latest_task_id(c) or "")
        if state is not None and state.status == TaskStatus.RUNNING:
            running += 1
            done = list((c.get("frameSeconds") or {}).values())
            since_start = seconds_between(state.start_time, format_time(now)) or 0.0
            # Since its last frame: the run so far minus its frames (and its start-up, once past it).
            elapsed = since_start - sum(done) - ((overhead or 0.0) if done else 0.0)
            work.append(ChunkWork(frames_left=max(0, size - len(done)), running=True,
                                  elapsed=max(0.0, elapsed), starting=not done))
        else:
            work.append(ChunkWork(frames_left=size))
    eta = estimate_eta(work, median, observed_slots(running, peak), now, overhead)
    started = (doc.get("timestamps") or {}).get("startedAt")
    elapsed_job = seconds_between(started, format_time(now))
    return {
        "framesDone": sum(_chunk_frames_done(c) for c in chunks),
        "framesRunning": running,
        "secondsPerFrame": median,
        "elapsedSeconds": round(elapsed_job, 1) if elapsed_job is not None else None,
        "eta": format_time(eta) if eta is not None else None,
    }


def job_cost(svc: Services, doc: Json, chunks: list[Json], by_task: dict[str, TaskState],
             task_nodes: dict[str, str], now: datetime) -> Json:
    """Node-seconds of every attempt so far (running ones until now) and what they cost."""
    nodes = {e["taskId"]: e.get("node") for c in chunks for e in c.get("attemptLog") or []
             if isinstance(e, dict) and "taskId" in e}
    nodes.update(task_nodes)
    runs = []
    for state in by_task.values():
        if state.start_time is None:
            continue
        end = state.end_time if state.status == TaskStatus.COMPLETED else format_time(now)
        runs.append(TaskRun(seconds=seconds_between(state.start_time, end) or 0.0,
                            spot=is_spot_node(nodes.get(state.id))))
    settings = svc.settings
    dedicated, spot = node_seconds(runs, settings.task_slots_per_node)
    estimate = estimate_cost(dedicated, spot, price_dedicated=settings.node_price_per_hour_dedicated,
                             price_spot=settings.node_price_per_hour_spot)
    max_cost = (doc.get("manifest") or {}).get("maxCost")
    return {"nodeSeconds": round(dedicated + spot, 3), "dedicatedNodeSeconds": dedicated,
            "spotNodeSeconds": spot, "estimate": estimate,
            "maxCost": max_cost if isinstance(max_cost, int | float) else None}


# ---------------------------------------------------------------- budgets


def _budget_reached(svc: Services, doc: Json) -> None:
    log.warning("job %s reached its budget: estimate %s of maxCost %s", doc["id"],
                doc["cost"]["estimate"], doc["cost"]["maxCost"])
    publish(svc, "BudgetReached", doc)
    pause_for_budget(svc, doc["id"])


def pause_for_budget(svc: Services, job_id: str) -> None:
    """A job whose estimate reached its maxCost is paused as a wrangler would pause it (mode
    wait: running tasks finish, no new one starts), as Deadline Cloud's budgets stop scheduling."""
    from shared.pipeline.control import pause_for

    try:
        pause_for(svc, job_id, "wait")
    except PipelineError as exc:  # already paused, finished meanwhile, or the store is busy
        log.warning("job %s: no pause on a reached budget: %s", job_id, exc)
