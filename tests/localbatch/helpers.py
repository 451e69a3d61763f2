"""Small task commands and waits shared by the localbatch tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from shared.ports import RenderBackend
from shared.tasks import TaskState, TaskStatus


def py(code: str) -> tuple[str, ...]:
    """A task argv running Python code with the node's python3."""
    return ("python3", "-c", code)


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_running(backend: RenderBackend, job_id: str, task_id: str, timeout: float = 20.0) -> TaskState:
    wait_for(lambda: backend.get_task(job_id, task_id).status is TaskStatus.RUNNING, timeout,
             f"{task_id} to run")
    return backend.get_task(job_id, task_id)


def heartbeat(path: Path) -> tuple[str, ...]:
    """A command that appends a byte to `path` every 50 ms for as long as it lives.

    Inside the sandbox a task has pids of its own namespace, so tests watch a heartbeat
    instead of a pid to see whether a task's process (or its child) still runs.
    """
    return ("sh", "-c", 'while :; do printf . >> "$0"; sleep 0.05; done', str(path))


def beating(path: Path, within: float = 0.6) -> bool:
    """True if something appended to `path` in the next `within` seconds."""
    before = path.stat().st_size if path.exists() else -1
    time.sleep(within)
    return path.exists() and path.stat().st_size != before
