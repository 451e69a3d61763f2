"""`renderctl wait` and `submit --wait`: a live progress bar until the job settles.

Exit codes follow Deadline's `job wait`: 0 completed, 1 timed out, 2 failed,
3 cancelled, 4 paused. Ctrl-C stops the waiting only; the job goes on.

On a terminal the progress is a rich bar redrawn in place; elsewhere (a CI log, a pipe) a
bar cannot be redrawn, so each change of phase, frames or ETA is printed as one line instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from renderctl.client import Api

EXIT_CODES = {"completed": 0, "failed": 2, "cancelled": 3, "paused": 4}
TIMED_OUT = 1
INTERRUPTED = 130


def _remaining(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{rest:02d}s" if hours else f"{minutes}m{rest:02d}s"


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def eta_text(job: dict[str, Any], now: datetime | None = None) -> str:
    """The API's ETA when it gives one, else nothing. The API's `progress.eta` is the UTC time
    the frames should be done; shown as that time and how long until then."""
    progress = job.get("progress") or {}
    seconds = progress.get("etaSeconds", job.get("etaSeconds"))
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0:
        return f"ETA {_remaining(seconds)}"
    eta = progress.get("eta") or job.get("eta")
    if not isinstance(eta, str):
        return ""
    moment = _parse_time(eta)
    if moment is None:
        return f"ETA {eta}"
    now = now or datetime.now(UTC)
    clock = moment.strftime("%H:%M:%SZ" if moment.date() == now.date() else "%Y-%m-%d %H:%M:%SZ")
    left = (moment - now).total_seconds()
    # An estimate that has passed while frames are still rendering: say so rather than count down past zero.
    return f"ETA {clock} (in {_remaining(left)})" if left >= 1 else f"ETA {clock} (overdue)"


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


Show = Callable[[dict[str, Any]], None]  # shows the job as just read


@contextmanager
def display(console: Console) -> Iterator[Show]:
    if console.is_terminal:
        with Progress(TextColumn("{task.fields[phase]:<10}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("frames {task.fields[eta]}"), console=console, transient=True) as bar:
            task = bar.add_task("job", total=None, phase="", eta="")

            def redraw(job: dict[str, Any]) -> None:
                progress = job.get("progress") or {}
                bar.update(task, total=progress.get("framesTotal") or None,
                           completed=progress.get("framesDone", 0), phase=job["status"], eta=eta_text(job))
            yield redraw
        return
    shown: list[str] = []

    def print_changes(job: dict[str, Any]) -> None:
        progress = job.get("progress") or {}
        line = " ".join(part for part in (
            f"{job['id']} {job['status']}",
            f"{progress.get('framesDone', 0)}/{progress.get('framesTotal', 0)} frames", eta_text(job)) if part)
        # The countdown changes every second; a line per change of what the job reports is enough.
        key = line.split(" (in ")[0]
        if not shown or shown[-1] != key:
            shown.append(key)
            console.print(line, markup=False)
    yield print_changes


def wait(api: Api, job_id: str, console: Console, *, timeout: float | None, interval: float = 1.0,
         last: list[dict[str, Any]] | None = None) -> int:
    """The exit code; `last`, if given, receives the job as last read."""
    deadline = None if timeout is None else time.monotonic() + timeout
    job = api.get_job(job_id)
    try:
        with display(console) as show:
            while job["status"] not in EXIT_CODES:
                show(job)
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
