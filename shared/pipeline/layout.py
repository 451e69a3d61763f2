"""Where a job's files live in the renders container (DESIGN.md, "Storage")."""

from __future__ import annotations

from shared.bootstrap import Services
from shared.errors import PipelineError

LOG_TAIL_BYTES = 4_000


def job_prefix(job_id: str) -> str:
    return f"{job_id}/"


def frames_prefix(job_id: str) -> str:
    return f"{job_id}/frames/"


def chunks_prefix(job_id: str) -> str:
    return f"{job_id}/chunks/"


def marker_blob(job_id: str, task_id: str) -> str:
    return f"{job_id}/chunks/{task_id}.json"


def logs_prefix(job_id: str, task_id: str) -> str:
    return f"{job_id}/logs/{task_id}/"


def previews_prefix(job_id: str) -> str:
    return f"{job_id}/previews/"


def preview_blob(job_id: str, frame: int) -> str:
    """A rendered frame's small JPEG, named by the frame number without padding (as the node writes it)."""
    return f"{job_id}/previews/{int(frame)}.jpg"


def heartbeat_blob(job_id: str, task_id: str) -> str:
    """What a running task PUTs every few seconds: its frames so far and their seconds."""
    return f"{job_id}/heartbeats/{task_id}.json"


def log_blob(job_id: str, task_id: str, stream: str) -> str:
    """A finished task's uploaded stdout.txt or stderr.txt."""
    return f"{logs_prefix(job_id, task_id)}{stream}.txt"


# Per-node health records. "~" is in no job id (letters, digits, - and _), so no job's prefix
# ever holds them, and no job's listing or read URL can reach them.
NODES_PREFIX = "~nodes/"
DISABLED_NODES_PREFIX = "~nodes/disabled/"


def node_blob(node_id: str) -> str:
    return f"{NODES_PREFIX}{node_id}.json"


def disabled_node_blob(node_id: str) -> str:
    return f"{DISABLED_NODES_PREFIX}{node_id}.json"


def tools_prefix(job_id: str) -> str:
    return f"{job_id}/tools/"


def input_blob(job_id: str, bundle_name: str) -> str:
    """The job's own copy of the bundle version it validated (written once); tasks read this."""
    return f"{job_id}/input/{bundle_name}"


def inspect_blob(job_id: str) -> str:
    return f"{job_id}/inspect.json"


def video_blob(job_id: str, name: str) -> str:
    return f"{job_id}/{name}"


def log_url(svc: Services, job_id: str, task_id: str) -> str:
    return svc.blobs.url(svc.settings.renders_container, logs_prefix(job_id, task_id) + "stderr.txt")


def log_tail(svc: Services, job_id: str, task_id: str) -> str:
    """The end of a task's stderr (then stdout), for error messages; empty if there is none."""
    for name in ("stderr.txt", "stdout.txt"):
        try:
            data = svc.blobs.download(svc.settings.renders_container, logs_prefix(job_id, task_id) + name)
        except PipelineError:
            continue
        text = data[-LOG_TAIL_BYTES:].decode("utf-8", errors="replace").strip()
        if text:
            return text
    return "(no log)"
