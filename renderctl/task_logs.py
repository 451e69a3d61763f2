"""`renderctl logs`: a task's stdout or stderr, printed once or followed while the task runs.

The API answers with the log's last lines (up to FULL_LOG_LINES), read from the task's node
while it runs (`source: node`) and from the log blob the task uploads when it ends
(`source: log`). So following a task prints the lines it has not printed yet after each read,
and stops at the first answer from the uploaded log: the task has ended.
"""

from __future__ import annotations

import time
from typing import Any

import click
from rich.console import Console

from renderctl.client import Api, ApiError, CliError, job_path
from renderctl.job_chunks import job_chunks

FULL_LOG_LINES = 5_000  # the most the API's `tail` gives
FOLLOW_INTERVAL = 1.0
FINISHED = ("completed", "failed", "cancelled")
_NOT_YET = ("task_not_found", "no_log")  # the task has not been added, or has written no log yet
_CONTEXT = 20  # lines that place the last shown line in a window that slid past the start


def read_log(api: Api, job_id: str, task: str, stream: str) -> dict[str, Any]:
    data = api.call("GET", job_path(job_id, "tasks", task, "log"), params={"stream": stream, "tail": FULL_LOG_LINES},
                    feature="task logs")
    if not isinstance(data, dict):
        raise CliError(f"the API answered the log of {task} with something other than JSON", code="bad_answer")
    return data


def fetch_log(api: Api, job_id: str, task: str, stream: str) -> str:
    return str(read_log(api, job_id, task, stream).get("text") or "")


def failed_task(failed: dict[str, Any]) -> str:
    """The task of a failed chunk's last attempt: named by its log URL (…/logs/<taskId>/…)."""
    parts = str(failed.get("log") or "").split("/")
    if "logs" in parts and parts.index("logs") + 1 < len(parts):
        return parts[parts.index("logs") + 1]
    return str(failed.get("chunk"))


def default_task(job: dict[str, Any], api: Api | None = None) -> str:
    """The last attempt of the first failed chunk, else the first chunk, else the inspection.
    With `api`, a job summary without its chunk list asks the chunk pages for them."""
    error = job.get("error") if isinstance(job.get("error"), dict) else {}
    details = (error or {}).get("details")
    failed = (details or {}).get("chunks") if isinstance(details, dict) else None
    if isinstance(failed, list) and failed and isinstance(failed[0], dict):
        return failed_task(failed[0])
    if api is not None and "chunks" not in job and job.get("id"):
        chunks = job_chunks(api, job, "failed", limit=1) or job_chunks(api, job, limit=1)
    else:
        chunks = job.get("chunks") or []
    bad = [c["id"] for c in chunks if c.get("status") == "failed"]
    if bad or chunks:
        return bad[0] if bad else str(chunks[0]["id"])
    total = (job.get("progress") or {}).get("chunksTotal")
    if isinstance(total, int) and total > 0:  # a summary without its chunk list: ids as the planner names them
        return f"chunk-{1:0{max(4, len(str(total)))}d}"
    return "inspect"


def new_lines(shown: list[str], lines: list[str]) -> list[str]:
    """The lines of `lines` (the log's last lines now) that come after the `shown` ones."""
    if lines[:len(shown)] == shown:
        return lines[len(shown):]  # the answer still starts at the log's first line
    context = shown[-_CONTEXT:]
    for end in range(len(lines), len(context) - 1, -1):  # the latest place the shown lines end
        if lines[end - len(context):end] == context:
            return lines[end:]
    return lines  # more was written between two reads than one answer holds


def follow(api: Api, job_id: str, task: str, stream: str, err: Console, *,
           interval: float = FOLLOW_INTERVAL) -> None:
    shown: list[str] = []
    waiting_noted = False
    while True:
        try:
            data = read_log(api, job_id, task, stream)
        except ApiError as exc:
            if exc.status != 404 or exc.code not in _NOT_YET:
                raise
            if api.get_job(job_id)["status"] in FINISHED:
                raise  # it never ran, and now it never will
            if not waiting_noted:
                err.print(f"waiting for task {task} to start…", markup=False)
                waiting_noted = True
            time.sleep(interval)
            continue
        lines = str(data.get("text") or "").splitlines()
        running = data.get("source") == "node"
        fresh = new_lines(shown, lines)
        if running and fresh:
            fresh = fresh[:-1]  # the last line may still be half written: it comes with the next read
        for line in fresh:
            click.echo(line)  # as the task wrote it: no markup, no emoji codes
        shown = (shown + fresh)[-FULL_LOG_LINES:]
        if not running:
            return
        time.sleep(interval)


def logs(api: Api, job_id: str, task: str | None, stream: str, follow_it: bool, err: Console) -> None:
    if task is None:
        task = default_task(api.get_job(job_id), api)
    if follow_it:
        follow(api, job_id, task, stream, err)
        return
    click.echo(fetch_log(api, job_id, task, stream), nl=False)
