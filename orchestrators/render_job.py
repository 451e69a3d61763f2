"""The render_job orchestration and the await_tasks wait it uses for each phase.

render_job coordinates a handful of coarse steps; Batch does the per-frame
fan-out. Everything it holds is small (the job id and counters); the chunk list
lives in the job document, so history stays bounded however many frames a job has.
await_tasks wakes on a task's completion marker (an external event) or on a
durable timer, whichever comes first, and restarts itself with continue_as_new
every few wakes so that its history stays bounded too.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from datetime import timedelta
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


def _call(ctx: df.DurableOrchestrationContext, name: str, payload: dict[str, Any],
          trail: list[str] | None = None) -> Any:
    if trail is not None:
        trail.append(name)  # the step a failure belongs to, named in the job's error
    return ctx.call_activity_with_retry(name, ACTIVITY_RETRY, payload)


def _wait(ctx: df.DurableOrchestrationContext, job_id: str, phase: str, poll: float,
          round_: int = 0, trail: list[str] | None = None) -> Any:
    if trail is not None:
        trail.append(f"{names.AWAIT_TASKS} ({phase})")
    payload = {"jobId": job_id, "phase": phase, "pollSeconds": poll, "wakes": 0}
    return ctx.call_sub_orchestrator(names.AWAIT_TASKS, payload,
                                     instance_id=names.wait_instance_id(job_id, phase, round_))


@bp.orchestration_trigger(context_name="context", orchestration=names.RENDER_JOB)
def render_job(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    ctx = context
    request: dict[str, Any] = ctx.get_input()
    job_id: str = request["jobId"]
    trail: list[str] = []
    try:
        outcome = yield from _render(ctx, request, trail)
    except Exception as exc:  # a step failed even after its retries: the job fails, saying which
        outcome = step_failure(ctx, job_id, trail, exc)
    if not ctx.is_replaying:
        log.info("job %s (instance %s) ends: %s", job_id, ctx.instance_id,
                 outcome.get("code") or "completed")
    if "code" in outcome:
        yield _call(ctx, names.FAIL_JOB, {"jobId": job_id, "error": outcome})
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


def _render(ctx: df.DurableOrchestrationContext, request: dict[str, Any],
            trail: list[str]) -> Generator[Any, Any, dict[str, Any]]:
    """The steps of a job; returns {"outputs": ...} or the error that ends it."""
    job_id: str = request["jobId"]
    poll = float(request.get("pollSeconds", 30))

    yield _call(ctx, names.REGISTER_JOB, request, trail)
    ctx.set_custom_status({"phase": "validating"})
    checked = yield _call(ctx, names.VALIDATE_BUNDLE, {"jobId": job_id}, trail)
    if not checked["ok"]:
        return dict(checked["error"])

    started = yield _call(ctx, names.START_BATCH_JOB, {"jobId": job_id}, trail)
    if started.get("inspect"):
        ctx.set_custom_status({"phase": "inspecting"})
        yield _wait(ctx, job_id, names.INSPECT, poll, trail=trail)

    plan = yield _call(ctx, names.PLAN_JOB, {"jobId": job_id}, trail)
    if not plan["ok"]:
        return dict(plan["error"])

    if not ctx.is_replaying:
        log.info("job %s (instance %s): %s chunks, %s frames", job_id, ctx.instance_id,
                 plan.get("chunks"), plan.get("frames"))
    round_ = 0
    while True:
        ctx.set_custom_status({"phase": "rendering", "round": round_})
        yield _call(ctx, names.ADD_RENDER_TASKS, {"jobId": job_id, "attempt": round_}, trail)
        yield _wait(ctx, job_id, names.RENDER, poll, round_, trail)
        results = yield _call(ctx, names.COLLECT_RENDER_RESULTS, {"jobId": job_id, "attempt": round_}, trail)
        if results.get("error"):
            return dict(results["error"])
        if not results["retry"]:
            break
        round_ += 1

    if plan.get("video"):
        ctx.set_custom_status({"phase": "stitching"})
        yield _call(ctx, names.ADD_STITCH_TASK, {"jobId": job_id}, trail)
        yield _wait(ctx, job_id, names.STITCH, poll, trail=trail)

    ctx.set_custom_status({"phase": "verifying"})
    verified = yield _call(ctx, names.VERIFY_OUTPUTS, {"jobId": job_id}, trail)
    if not verified["ok"]:
        return dict(verified["error"])
    yield _call(ctx, names.FINALIZE_JOB, {"jobId": job_id, "outputs": verified["outputs"]}, trail)
    return {"outputs": verified["outputs"]}


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

    while True:
        counts = yield _call(ctx, names.POLL_TASKS, {"jobId": state["jobId"], "phase": state["phase"]})
        if counts["done"]:
            return counts
        if wakes >= WAKES_PER_GENERATION:
            ctx.continue_as_new({**state, "wakes": 0})
            return None
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
