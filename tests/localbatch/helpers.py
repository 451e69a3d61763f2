"""Small task commands and waits shared by the localbatch tests."""

from __future__ import annotations

import os
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


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
