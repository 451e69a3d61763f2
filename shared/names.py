"""Names that cross the boundary between triggers, orchestrators and activities.

Pure: orchestrators import this module, so it does no I/O and reads no clock.
"""

from __future__ import annotations

import hashlib
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
START_RENDERING = "start_rendering"    # a scheduled job's time has come
REQUEUE_CHUNKS = "requeue_chunks"      # frames verification found missing render again
START_RUN = "start_run"                # a retry's new run: its own Batch job
SIZE_CHUNKS = "size_chunks"            # an automatically sized job: the rest of its chunks, from its probes

# External events
TASKS_CHANGED = "tasks_changed"   # a task's marker arrived, or the job was resumed

# Phases a job waits in; each wait is a sub-orchestration with its own instance id.
INSPECT = "inspect"
RENDER = "render"
STITCH = "stitch"
PAUSED = "paused"   # a paused job's wait before it adds new tasks (ends when it is resumed)
PROBE = "probe"     # an automatically sized job's probe chunks, rendered before the rest is sized

# Probe chunks (planning.plan_probe_chunks) are named apart from the sized chunks: both start
# in round 0, and each task's marker must wake the wait its round is in.
PROBE_CHUNK_PREFIX = "probe-"

INSPECT_TASK_ID = "inspect"
STITCH_TASK_ID = "stitch"

_RETRY_SUFFIX = re.compile(r"-r(\d+)$")
MAX_BATCH_JOB_ID = 64


def split_render_task_id(task_id: str) -> tuple[str, int]:
    """(chunk id, round): `chunk-0003` ran in round 0, its rerun `chunk-0003-r1` in round 1
    (planning.task_id names them)."""
    match = _RETRY_SUFFIX.search(task_id)
    if match is None:
        return task_id, 0
    return task_id[: match.start()], int(match.group(1))


def wait_instance_id(job_id: str, phase: str, round_: int = 0, run: int = 1) -> str:
    """The instance id of the sub-orchestration that waits for one phase's tasks.

    A retried job's later runs wait under ids of their own (`:run2:`), so no instance id is
    ever started twice; the stitch's retries are rounds of their own too."""
    prefix = job_id if run <= 1 else f"{job_id}:run{run}"
    if phase == RENDER:
        return f"{prefix}:{RENDER}:{round_}"
    if phase == STITCH and round_:
        return f"{prefix}:{STITCH}:{round_}"
    if phase in (PAUSED, PROBE):
        return f"{prefix}:{phase}:{round_}"
    return f"{prefix}:{phase}"


def stitch_task_id(attempt: int) -> str:
    """Batch task ids are unique per Batch job, so a stitch run again is stitch-r1, stitch-r2…"""
    return STITCH_TASK_ID if attempt <= 0 else f"{STITCH_TASK_ID}-r{attempt}"


def batch_job_id(job_id: str, run: int = 1) -> str:
    """The Batch job of one run of a job. Run 1 is the job id itself (DESIGN.md); a retry needs
    a Batch job of its own, because a terminated Batch job takes no new tasks. Batch job ids
    are at most 64 characters: a long job id keeps its start and a digest of the whole."""
    if run <= 1:
        return job_id
    suffix = f"-run{run}"
    if len(job_id) + len(suffix) <= MAX_BATCH_JOB_ID:
        return job_id + suffix
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:12]
    return f"{job_id[:MAX_BATCH_JOB_ID - len(suffix) - 13]}-{digest}{suffix}"


def wait_instance_for_task(job_id: str, task_id: str, run: int = 1) -> str:
    """Which waiting sub-orchestration a task's completion marker should wake. Task ids are
    the same in every run (each run has a Batch job of its own), so the run comes from the
    job document (shared.pipeline.markers), not from the marker's name."""
    if task_id == INSPECT_TASK_ID:
        return wait_instance_id(job_id, INSPECT, 0, run)
    if task_id == STITCH_TASK_ID or task_id.startswith(STITCH_TASK_ID + "-r"):
        return wait_instance_id(job_id, STITCH, split_render_task_id(task_id)[1], run)
    _, attempt = split_render_task_id(task_id)
    return wait_instance_id(job_id, PROBE if task_id.startswith(PROBE_CHUNK_PREFIX) else RENDER, attempt, run)
