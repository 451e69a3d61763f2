"""`renderctl wait` and `submit --wait`: a live progress bar until the job settles.

Exit codes follow Deadline's `job wait`: 0 completed, 1 timed out, 2 failed,
3 cancelled, 4 paused. Ctrl-C stops the waiting only; the job goes on.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from renderctl.client import Api

EXIT_CODES = {"completed": 0, "failed": 2, "cancelled": 3, "paused": 4}
TIMED_OUT = 1
INTERRUPTED = 130


def eta_text(job: dict[str, Any]) -> str:
    """The API's ETA when it gives one (progress.etaSeconds or eta), else nothing."""
    progress = job.get("progress") or {}
    seconds = progress.get("etaSeconds", job.get("etaSeconds"))
    if isinstance(seconds, int | float) and seconds >= 0:
        minutes, rest = divmod(int(seconds), 60)
        return f"ETA {minutes}m{rest:02d}s"
    eta = job.get("eta") or progress.get("eta")
    return f"ETA {eta}" if isinstance(eta, str) else ""


def result_line(job: dict[str, Any]) -> str:
    progress = job.get("progress") or {}
    line = f"{job['id']} {job['status']}: {progress.get('framesDone', 0)}/{progress.get('framesTotal', 0)} frames"
    error = job.get("error")
    if isinstance(error, dict) and error.get("code"):
        line += f"; {error['code']}: {error.get('message', '')}"
    video = (job.get("outputs") or {}).get("videoBlob")
    if job["status"] == "completed" and video:
        line += f"; video {video}"
    return line


def wait(api: Api, job_id: str, console: Console, *, timeout: float | None, interval: float = 1.0,
         last: list[dict[str, Any]] | None = None) -> int:
    """The exit code; `last`, if given, receives the job as last read."""
    deadline = None if timeout is None else time.monotonic() + timeout
    job = api.get_job(job_id)
    try:
        with Progress(TextColumn("{task.fields[phase]:<10}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("frames {task.fields[eta]}"), console=console, transient=True) as bar:
            task = bar.add_task("job", total=None, phase=job["status"], eta="")
            while job["status"] not in EXIT_CODES:
                progress = job.get("progress") or {}
                bar.update(task, total=progress.get("framesTotal") or None,
                           completed=progress.get("framesDone", 0), phase=job["status"], eta=eta_text(job))
                if deadline is not None and time.monotonic() >= deadline:
                    console.print(f"{job_id} still {job['status']} after {timeout:g}s (the job goes on)")
                    return TIMED_OUT
                time.sleep(interval)
                job = api.get_job(job_id)
    except KeyboardInterrupt:
        console.print(f"stopped waiting; {job_id} goes on (renderctl wait {job_id})")
        return INTERRUPTED
    finally:
        if last is not None:
            last.append(job)
    console.print(result_line(job))
    return EXIT_CODES[job["status"]]
