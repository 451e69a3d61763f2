"""Names that cross the boundary between triggers, orchestrators and activities.

Pure: orchestrators import this module, so it does no I/O and reads no clock.
"""

from __future__ import annotations

import re

# Orchestrators
RENDER_JOB = "render_job"
AWAIT_TASKS = "await_tasks"

# Activities
REGISTER_JOB = "register_job"
VALIDATE_BUNDLE = "validate_bundle"
START_BATCH_JOB = "start_batch_job"
PLAN_JOB = "plan_job"
ADD_RENDER_TASKS = "add_render_tasks"
POLL_TASKS = "poll_tasks"
COLLECT_RENDER_RESULTS = "collect_render_results"
ADD_STITCH_TASK = "add_stitch_task"
VERIFY_OUTPUTS = "verify_outputs"
FINALIZE_JOB = "finalize_job"
FAIL_JOB = "fail_job"

# External events
TASKS_CHANGED = "tasks_changed"

# Phases a job waits in; each wait is a sub-orchestration with its own instance id.
INSPECT = "inspect"
RENDER = "render"
STITCH = "stitch"

INSPECT_TASK_ID = "inspect"
STITCH_TASK_ID = "stitch"

_RETRY_SUFFIX = re.compile(r"-r(\d+)$")


def split_render_task_id(task_id: str) -> tuple[str, int]:
    """(chunk id, round): `chunk-0003` ran in round 0, its rerun `chunk-0003-r1` in round 1
    (planning.task_id names them)."""
    match = _RETRY_SUFFIX.search(task_id)
    if match is None:
        return task_id, 0
    return task_id[: match.start()], int(match.group(1))


def wait_instance_id(job_id: str, phase: str, round_: int = 0) -> str:
    """The instance id of the sub-orchestration that waits for one phase's tasks."""
    if phase == RENDER:
        return f"{job_id}:{RENDER}:{round_}"
    return f"{job_id}:{phase}"


def wait_instance_for_task(job_id: str, task_id: str) -> str:
    """Which waiting sub-orchestration a task's completion marker should wake."""
    if task_id == INSPECT_TASK_ID:
        return wait_instance_id(job_id, INSPECT)
    if task_id == STITCH_TASK_ID:
        return wait_instance_id(job_id, STITCH)
    _, attempt = split_render_task_id(task_id)
    return wait_instance_id(job_id, RENDER, attempt)
