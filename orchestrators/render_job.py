"""The render_job orchestration and the await_tasks wait it uses for each phase.

render_job coordinates a handful of coarse steps; Batch does the per-frame
fan-out. Everything it holds is small (the job id and counters); the chunk list
lives in the job document, so history stays bounded however many frames a job has.
await_tasks wakes on a task's completion marker (an external event) or on a
durable timer, whichever comes first, and restarts itself with continue_as_new
every few wakes so that its history stays bounded too. While the job is paused it
polls only every PAUSED_POLL_SECONDS (a resume wakes it at once), so a pause of
30 days costs a few thousand activity calls over bounded generations.

Runs: a retry starts this orchestration again under the same instance id with
`run` > 1; every activity gets the run number and changes nothing for a later run.
A run after the first skips validation and planning (the chunks are stored, in pages)
unless the first run never got that far.
Automatic chunk sizes: a job without chunkSize is planned as probe chunks (single frames
spread over the shot); once they have rendered, size_chunks plans the rest from their
times, and the rest renders in the usual rounds (a fixed-size job skips both).
Healing: frames that verification finds missing (a store that lost them, a node that
died mid-upload) send their chunks round again, and a failed stitch runs again, each
bounded, before the job fails.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from shared import names

bp = df.Blueprint()
log = logging.getLogger(__name__)

# Activities raise only transient errors (validation problems come back as results),
# so a retry always has a chance of helping: a dependency may be away for about a minute
# (the Python SDK's retries have a fixed interval) before the job fails with step_failed.
ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=12)

WAKES_PER_GENERATION = 40   # continue_as_new after this many wakes of await_tasks
EVENT_REPOLL_SECONDS = 1.0  # after a marker event, look again soon: the task may still be uploading
PAUSED_POLL_SECONDS = 300.0  # a paused job is looked at every 5 minutes, or when resumed
MAX_STITCH_ATTEMPTS = 3     # a stitch that fails or misses inputs runs again, this often in all
MAX_HEALS = 3               # verification sends missing frames round again at most this often


def _call(ctx: df.DurableOrchestrationContext, name: str, payload: dict[str, Any],
          trail: list[str] | None = None) -> Any:
    if trail is not None:
        trail.append(name)  # the step a failure belongs to, named in the job's error
    return ctx.call_activity_with_retry(name, ACTIVITY_RETRY, payload)


def _wait(ctx: df.DurableOrchestrationContext, job: dict[str, Any], phase: str, poll: float,
          round_: int = 0, trail: list[str] | None = None) -> Any:
    if trail is not None:
        trail.append(f"{names.AWAIT_TASKS} ({phase})")
    # Probes are render tasks to poll_tasks; only their wait's instance id is their own.
    payload = {**job, "phase": names.RENDER if phase == names.PROBE else phase, "pollSeconds": poll, "wakes": 0}
    return ctx.call_sub_orchestrator(names.AWAIT_TASKS, payload,
                                     instance_id=names.wait_instance_id(job["jobId"], phase, round_, job["run"]))


@bp.orchestration_trigger(context_name="context", orchestration=names.RENDER_JOB)
def render_job(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    ctx = context
    request: dict[str, Any] = ctx.get_input()
    job_id: str = request["jobId"]
    job = {"jobId": job_id, "run": int(request.get("run", 1))}
    trail: list[str] = []
    try:
        outcome = yield from _render(ctx, request, job, trail)
    except Exception as exc:  # a step failed even after its retries: the job fails, saying which
        outcome = step_failure(ctx, job_id, trail, exc)
    if not ctx.is_replaying:
        log.info("job %s (instance %s, run %s) ends: %s", job_id, ctx.instance_id, job["run"],
                 outcome.get("code") or outcome.get("ended") or "completed")
    if "ended" in outcome:  # cancelled, or a later run took over: nothing of this run to record
        ctx.set_custom_status({"phase": "ended"})
        return {"jobId": job_id, "status": outcome["ended"], "run": job["run"]}
    if "code" in outcome:
        yield _call(ctx, names.FAIL_JOB, {**job, "error": outcome})
        ctx.set_custom_status({"phase": "failed"})
        return {"jobId": job_id, "status": "failed", "error": outcome}
    ctx.set_custom_status({"phase": "completed"})
    return {"jobId": job_id, "status": "completed", "outputs": outcome["outputs"]}


def step_failure(ctx: df.DurableOrchestrationContext, job_id: str, trail: list[str],
                 exc: Exception) -> dict[str, Any]:
    """The job's error when a step failed after its retries: which step, in plain words.
    What the step raised (a traceback, paths on the host) is for the log only."""
    step = trail[-1] if trail else "a step"
    if not ctx.is_replaying:
        log.warning("job %s (instance %s): %s failed after its retries: %s", job_id, ctx.instance_id, step, exc)
    return {"code": "step_failed", "message": f"the pipeline could not continue: {step} failed after its retries"}


def _render(ctx: df.DurableOrchestrationContext, request: dict[str, Any], job: dict[str, Any],
            trail: list[str]) -> Generator[Any, Any, dict[str, Any]]:
    """The steps of a job; returns {"outputs": ...}, the error that ends it, or {"ended": status}."""
    poll = float(request.get("pollSeconds", 30))
    planned = False
    if job["run"] > 1:
        started = yield _call(ctx, names.START_RUN, job, trail)
        if started.get("ended"):
            return {"ended": started["ended"]}
        planned = bool(started.get("planned"))
    if not planned:
        plan = yield from _validate_and_plan(ctx, request, job, poll, trail)
        if "code" in plan or "ended" in plan:
            return plan
        if plan.get("notBefore"):
            yield from _hold_until(ctx, job, plan["notBefore"], trail)
        video, size = bool(plan.get("video")), bool(plan.get("sizeChunks"))
    else:
        video, size = bool(started.get("video")), bool(started.get("sizeChunks"))
    if size:
        sized = yield from _probe_and_size(ctx, job, poll, trail)
        if "code" in sized:
            return sized

    round_, stitches, stitch_failures, heals = 0, 0, 0, 0
    render = True
    while True:
        if render:
            result = yield from _render_rounds(ctx, job, poll, round_, trail)
            if "code" in result:
                return result
            round_ = result["round"]
        if video:
            ctx.set_custom_status({"phase": "stitching", "run": job["run"]})
            yield from _add_unless_paused(ctx, job, names.ADD_STITCH_TASK, {**job, "attempt": stitches}, poll, trail)
            yield _wait(ctx, job, names.STITCH, poll, stitches, trail)
        ctx.set_custom_status({"phase": "verifying", "run": job["run"]})
        verified = yield _call(ctx, names.VERIFY_OUTPUTS, {**job, "stitchAttempt": stitches}, trail)
        if verified["ok"]:
            yield _call(ctx, names.FINALIZE_JOB, {**job, "outputs": verified["outputs"]}, trail)
            return {"outputs": verified["outputs"]}
        if verified.get("ended"):
            return {"ended": verified["ended"]}
        missing = verified.get("missingChunks") or []
        if missing and heals < MAX_HEALS:
            heals += 1
            requeued = yield _call(ctx, names.REQUEUE_CHUNKS, {
                **job, "chunks": missing, "missingChunkCount": verified.get("missingChunkCount", len(missing))}, trail)
            if requeued.get("error"):
                return dict(requeued["error"])
            round_, render = round_ + 1, True
        elif verified.get("stitchRetry") and stitch_failures + 1 < MAX_STITCH_ATTEMPTS:
            stitch_failures, render = stitch_failures + 1, False
        else:
            return dict(verified["error"])
        stitches += 1  # a Batch job's task ids are unique: the next stitch is stitch-rN


def _validate_and_plan(ctx: df.DurableOrchestrationContext, request: dict[str, Any], job: dict[str, Any],
                       poll: float, trail: list[str]) -> Generator[Any, Any, dict[str, Any]]:
    job_id = job["jobId"]
    yield _call(ctx, names.REGISTER_JOB, {**request, "run": job["run"]}, trail)
    ctx.set_custom_status({"phase": "validating"})
    checked = yield _call(ctx, names.VALIDATE_BUNDLE, job, trail)
    if not checked["ok"]:
        return dict(checked["error"])

    started = yield _call(ctx, names.START_BATCH_JOB, job, trail)
    if started.get("inspect"):
        ctx.set_custom_status({"phase": "inspecting"})
        yield _wait(ctx, job, names.INSPECT, poll, trail=trail)

    plan = yield _call(ctx, names.PLAN_JOB, job, trail)
    if not plan["ok"]:
        return dict(plan["error"])
    if not ctx.is_replaying:
        log.info("job %s (instance %s): %s chunks, %s frames", job_id, ctx.instance_id,
                 plan.get("chunks"), plan.get("frames"))
    return dict(plan)


def _hold_until(ctx: df.DurableOrchestrationContext, job: dict[str, Any], not_before: str,
                trail: list[str]) -> Generator[Any, Any, None]:
    """A scheduled job waits on one durable timer (kept across restarts, as every timer is);
    a time already past starts it at once. Cancel terminates the wait; pause and priority
    change only the job document and the Batch job, so nothing here listens for them."""
    fire_at = datetime.fromisoformat(not_before.replace("Z", "+00:00")).replace(tzinfo=None)
    if fire_at > ctx.current_utc_datetime.replace(tzinfo=None):
        ctx.set_custom_status({"phase": "scheduled", "notBefore": not_before})
        yield ctx.create_timer(fire_at)
    yield _call(ctx, names.START_RENDERING, job, trail)


def _add_unless_paused(ctx: df.DurableOrchestrationContext, job: dict[str, Any], step: str,
                       payload: dict[str, Any], poll: float, trail: list[str]) -> Generator[Any, Any, Any]:
    """Adds a phase's tasks; a paused job adds none until it is resumed. Batch would hold them
    in a disabled job anyway; not adding them holds them on any backend. The wait is an
    await_tasks of its own (phase paused), so a long pause keeps every history bounded."""
    holds = 0
    while True:
        added = yield _call(ctx, step, payload, trail)
        if not added.get("paused"):
            return added
        ctx.set_custom_status({"phase": "paused", "run": job["run"]})
        yield _wait(ctx, job, names.PAUSED, poll, holds, trail)
        holds += 1


def _probe_and_size(ctx: df.DurableOrchestrationContext, job: dict[str, Any], poll: float,
                    trail: list[str]) -> Generator[Any, Any, dict[str, Any]]:
    """An automatically sized job renders its probe chunks first (in rounds of their own, retries
    included), then plans the rest of its frames from their times; the rest renders as any job's."""
    result = yield from _render_rounds(ctx, job, poll, 0, trail, phase=names.PROBE)
    if "code" in result:
        return result
    sized = yield _call(ctx, names.SIZE_CHUNKS, job, trail)
    if not sized.get("ok", True):
        return dict(sized["error"])
    if not ctx.is_replaying:
        log.info("job %s (instance %s): sized %s more chunks of about %s frames", job["jobId"], ctx.instance_id,
                 sized.get("chunks"), sized.get("chunkSize"))
    return dict(sized)


def _render_rounds(ctx: df.DurableOrchestrationContext, job: dict[str, Any], poll: float, round_: int,
                   trail: list[str], phase: str = names.RENDER) -> Generator[Any, Any, dict[str, Any]]:
    """Adds the pending chunks' tasks, waits, requeues the failed ones, until none is left."""
    while True:
        ctx.set_custom_status({"phase": "rendering", "round": round_, "run": job["run"],
                               **({"probing": True} if phase == names.PROBE else {})})
        yield from _add_unless_paused(ctx, job, names.ADD_RENDER_TASKS, {**job, "attempt": round_}, poll, trail)
        yield _wait(ctx, job, phase, poll, round_, trail)
        results = yield _call(ctx, names.COLLECT_RENDER_RESULTS, {**job, "attempt": round_}, trail)
        if results.get("error"):
            return dict(results["error"])
        if not results["retry"]:
            return {"round": round_}
        round_ += 1


@bp.orchestration_trigger(context_name="context", orchestration=names.AWAIT_TASKS)
def await_tasks(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any] | None]:
    """Waits until no task of the job is active or running; returns the last counts."""
    ctx = context
    state: dict[str, Any] = ctx.get_input()
    poll = float(state["pollSeconds"])
    wakes = int(state.get("wakes", 0))
    next_wait = poll
    # One wait for the marker event, kept until an event resolves it: a fresh wait per
    # round would leave the old ones open, and an event arriving while we poll would
    # resolve a stale one and be missed until the next timer.
    marker = None

    # A paused job's new generation waits before it looks again: polling at once on every
    # continue_as_new would break the one-call-per-PAUSED_POLL_SECONDS budget.
    counts: dict[str, Any] | None = {"done": False, "paused": True} if state.get("paused") else None
    while True:
        if counts is None:
            counts = yield _call(ctx, names.POLL_TASKS, {"jobId": state["jobId"], "phase": state["phase"],
                                                         "run": int(state.get("run", 1)),
                                                         "waiter": ctx.instance_id})
        if counts["done"]:
            return counts
        if wakes >= WAKES_PER_GENERATION:
            ctx.continue_as_new({**state, "wakes": 0, "paused": bool(counts.get("paused"))})
            return None
        if counts.get("paused"):
            next_wait = PAUSED_POLL_SECONDS  # resume raises TASKS_CHANGED to this instance
        if marker is None:
            marker = ctx.wait_for_external_event(names.TASKS_CHANGED)
        timer = ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=next_wait))
        winner = yield ctx.task_any([timer, marker])
        if winner == marker:
            timer.cancel()
            marker = None
            next_wait = min(EVENT_REPOLL_SECONDS, poll)
        else:
            next_wait = poll
        wakes += 1
        counts = None
