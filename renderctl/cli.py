"""renderctl's commands (click) over the HTTP API; output through rich.

Expected failures (bad arguments, an unreachable API, 401/404/409, a rejected bundle)
print one line naming the error code and exit non-zero; only a bug shows a traceback.
"""

from __future__ import annotations

import json
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from renderctl import ops, task_logs
from renderctl.client import Api, ApiError, CliError, job_path
from renderctl.config import ConfigError, resolve
from renderctl.submitting import SubmitOptions, submit
from renderctl.waiting import wait as wait_for_job
from shared.job_spec import FRAME_ORDERS

F = TypeVar("F", bound=Callable[..., Any])
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
JOB_STATUSES = ["queued", "scheduled", "validating", "rendering", "paused", "stitching", "completed", "failed",
                "cancelled"]


def api_of(ctx: click.Context) -> Api:
    obj = ctx.find_root().obj
    if "api" not in obj:
        obj["api"] = Api(resolve(obj["url"], obj["key"], obj["profile"]))
    api: Api = obj["api"]
    return api


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer unchanged.")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--api", "url", metavar="URL", help="API base URL, e.g. https://<app>.azurewebsites.net/api "
              "(else RENDER_API_URL, a profile, or the local stack of `make up`).")
@click.option("--key", metavar="KEY", help="Function key (else RENDER_API_KEY or the profile's). Prefer the "
              "variable or a profile: the shell's history keeps command lines.")
@click.option("--profile", metavar="NAME", help="Profile of ~/.config/renderctl/config.toml ([profiles.NAME] "
              "with api and key).")
@click.version_option("0.1.0", prog_name="renderctl")
@click.pass_context
def cli(ctx: click.Context, url: str | None, key: str | None, profile: str | None) -> None:
    """Submit renders to the render pipeline, follow them, and fetch what they made.

    \b
    renderctl submit shot010/ --frames 1-48 --wait   pack a folder, upload, render, wait
    renderctl jobs --status rendering                what is running
    renderctl download JOB out/                      the video and the frames

    Exit codes of wait (and submit --wait): 0 completed, 1 timed out, 2 failed,
    3 cancelled, 4 paused. Other failures: 1 (the API's error code and message),
    2 a bad argument, 5 the API is unreachable, 6 the API cannot do the command yet,
    130 Ctrl-C.
    """
    ctx.ensure_object(dict)
    ctx.obj.update(url=url, key=key, profile=profile)


# ---------------------------------------------------------------- submit and wait


class ChunkSize(click.ParamType):
    """1..10000 frames, or "auto" (the pipeline sizes the chunks; also what no option means)."""

    name = "chunk size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        return int(click.IntRange(1, 10_000).convert(value, param, ctx))


@cli.command("submit")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--frames", metavar="SPEC", help='Frames to render: "1-240", "1,5,10-20", "1-100x5".')
@click.option("--chunk-size", type=ChunkSize(), metavar="N|auto",
              help='Frames per render task, or "auto": sized from the first frames\' render times.')
@click.option("--fps", type=click.FloatRange(0, 1000, min_open=True), help="Frame rate of the video.")
@click.option("--resolution", metavar="WxH", help='Output size, e.g. "1920x1080".')
@click.option("--samples", type=click.IntRange(1, 1_000_000), help="Render samples (Cycles).")
@click.option("--priority", type=click.IntRange(-1000, 1000), help="Batch priority, -1000..1000.")
@click.option("--video/--no-video", default=None, help="Stitch a video (default: as render.json says, else yes).")
@click.option("--at", "at", metavar="TIME", help="Do not start before TIME (ISO 8601; notBefore).")
@click.option("--paused", is_flag=True, help="Submit the job paused.")
@click.option("--frame-order", type=click.Choice(FRAME_ORDERS), help="Order of the frames: sequential, or preview "
              "(frames spread over the shot first, for an early look at all of it).")
@click.option("--name", metavar="NAME", help='A name for the job ("shot010 lighting v3"; 1-200 characters), '
              "shown by `renderctl jobs` and `show` and on the dashboard (wins over render.json's name; "
              "default: the bundle's file name).")
@click.option("--idempotency-key", metavar="KEY", help="Becomes the job id; rerunning with it returns the same job.")
@click.option("--as-bundle", is_flag=True, help="Send a folder as one zip, not by content (uploads everything).")
@click.option("--wait", "then_wait", is_flag=True, help="Wait for the job as `renderctl wait` does.")
@click.option("--timeout", type=click.FloatRange(0), help="With --wait: give up waiting after this many seconds.")
@json_option
@click.pass_context
def submit_cmd(ctx: click.Context, path: Path, frames: str | None, chunk_size: int | str | None, fps: float | None,
               resolution: str | None, samples: int | None, priority: int | None, video: bool | None,
               at: str | None, paused: bool, frame_order: str | None, name: str | None,
               idempotency_key: str | None, as_bundle: bool, then_wait: bool, timeout: float | None,
               as_json: bool) -> None:
    """Render PATH: a .blend, a bundle .zip, or a folder (with its render.json).

    A folder goes by content: every file is hashed (cached by path, size and mtime) and only
    the files the asset store lacks are uploaded. Files the pipeline's rules would reject are
    listed first and nothing is uploaded. Options win over render.json.
    """
    options = SubmitOptions(frames=frames, chunk_size=chunk_size, fps=fps, resolution=resolution, samples=samples,
                            priority=priority, video=video, at=at, paused=paused, frame_order=frame_order,
                            name=name, idempotency_key=idempotency_key, as_bundle=as_bundle)
    api = api_of(ctx)
    job, _created = submit(api, path, options, err, lambda line: err.print(line))
    if as_json:
        print_json(job)
    else:
        out.print(job["id"])
    if then_wait:
        ctx.exit(wait_for_job(api, job["id"], err, timeout=timeout))


@cli.command("wait")
@click.argument("job")
@click.option("--timeout", type=click.FloatRange(0), help="Give up waiting after this many seconds (exit 1).")
@json_option
@click.pass_context
def wait_cmd(ctx: click.Context, job: str, timeout: float | None, as_json: bool) -> None:
    """Follow JOB's progress until it completes, fails, is cancelled or paused.

    Exits 0 completed, 1 timed out (--timeout), 2 failed, 3 cancelled, 4 paused. Shows the
    phase, frames done/total and the ETA once the API has one: a live bar on a terminal, a
    line per change otherwise. Ctrl-C stops the waiting, never the job. With --json, the job
    as last read.
    """
    last: list[dict[str, Any]] = []
    code = wait_for_job(api_of(ctx), job, err, timeout=timeout, last=last)
    if as_json and last:
        print_json(last[-1])
    ctx.exit(code)


# ---------------------------------------------------------------- reading


@cli.command("jobs")
@click.option("--status", type=click.Choice(JOB_STATUSES), help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True, help="At most this many.")
@click.option("--name", "name_prefix", metavar="PREFIX", help='Only jobs whose name starts with PREFIX, e.g. "shot010" '
              "(ignoring case).")
@json_option
@click.pass_context
def jobs_cmd(ctx: click.Context, status: str | None, limit: int, name_prefix: str | None, as_json: bool) -> None:
    """List jobs, newest first: id, name, status, progress, submitted, by."""
    page = api_of(ctx).list_jobs(status, limit, name_prefix)
    if as_json:
        print_json(page)
        return
    table = Table("id", "name", "status", "progress", "submitted", "by", box=None)
    for job in page.get("jobs", []):
        table.add_row(*(Text(cell) for cell in ops.job_row(job)))  # Text: a name's "[red]" is no markup
    out.print(table)


@cli.command("show")
@click.argument("job")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, job: str, as_json: bool) -> None:
    """JOB's status, spec, chunks with their states and times, and its error."""
    doc = api_of(ctx).get_job(job)
    if as_json:
        print_json(doc)
        return
    ops.show(api_of(ctx), doc, out)


@cli.command("history")
@click.argument("job")
@json_option
@click.pass_context
def history_cmd(ctx: click.Context, job: str, as_json: bool) -> None:
    """The orchestration's steps as a timeline for ops.

    Each activity, wait and timer with its start, duration and outcome, then a summary of
    each wait's own polls, timers and events.
    """
    data = api_of(ctx).call("GET", job_path(job, "history"))
    if as_json:
        print_json(data)
        return
    ops.history(data, out)


@cli.command("logs")
@click.argument("job")
@click.argument("task", required=False)
@click.option("--stderr", "stream", flag_value="stderr", help="The task's stderr instead of its stdout.")
@click.option("--follow", is_flag=True, help="Wait for the task to start, print its lines as it writes them, "
              "and end when the task ends.")
@json_option
@click.pass_context
def logs_cmd(ctx: click.Context, job: str, task: str | None, stream: str | None, follow: bool,
             as_json: bool) -> None:
    """A task's log: its stdout, or --stderr, up to its last 5000 lines.

    TASK is a chunk's task (chunk-0001, a retry's chunk-0001-r1), inspect or stitch; without
    it, the last attempt of the job's first failed chunk, else its first chunk.
    """
    if as_json and follow:
        raise click.UsageError("--json prints one answer of the API; it cannot --follow")
    api = api_of(ctx)
    if as_json:
        task = task or task_logs.default_task(api.get_job(job), api)
        print_json(task_logs.read_log(api, job, task, stream or "stdout"))
        return
    task_logs.logs(api, job, task, stream or "stdout", follow, err)


@cli.command("download")
@click.argument("job")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--frames", is_flag=True, help="The rendered frames.")
@click.option("--video", is_flag=True, help="The stitched video.")
@click.option("--logs", is_flag=True, help="The tasks' logs.")
@click.option("--json", "as_json", is_flag=True,
              help="Print what was fetched as JSON: jobId, folder, downloaded, skipped, downloadedBytes.")
@click.pass_context
def download_cmd(ctx: click.Context, job: str, folder: Path | None, frames: bool, video: bool, logs: bool,
                 as_json: bool) -> None:
    """Fetch JOB's outputs into FOLDER (default ./JOB).

    With no flag, the video and the frames; --frames, --video and --logs pick. Parallel and
    resumable: files already there with the right size are skipped, others fetched again
    (a file appears only once it is whole).
    """
    kinds = {k for k, on in (("frame", frames), ("video", video), ("log", logs)) if on} or {"frame", "video"}
    result = ops.download(api_of(ctx), job, folder or Path(job), kinds, err)
    if as_json:
        print_json(result)


@cli.command("open")
@click.argument("job")
@click.option("--browser", "in_browser", is_flag=True, help="Also open it in the web browser (BROWSER, else the "
              "system's).")
@click.pass_context
def open_cmd(ctx: click.Context, job: str, in_browser: bool) -> None:
    """Print JOB's dashboard URL (<api>/ui/#/jobs/JOB); the page asks for the key itself."""
    api = api_of(ctx)
    url = ops.dashboard_url(api.target.api_url, api.get_job(job))  # a job that does not exist is an error here
    out.print(url, markup=False)
    if in_browser and not webbrowser.open(url):
        raise CliError("no web browser could be started: open the URL above yourself", code="no_browser")


# ---------------------------------------------------------------- changing jobs


def _print_changed(result: dict[str, Any], job: str, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    run = result.get("run")
    out.print(f"{result.get('id', job)} {result.get('status', '?')}" + (f" (run {run})" if run else ""),
              markup=False)


def _action(name: str, verb: str, doc: str) -> None:
    @click.argument("job")
    @json_option
    @click.pass_context
    def command(ctx: click.Context, job: str, as_json: bool) -> None:
        _print_changed(api_of(ctx).call("POST", job_path(job, verb), feature=f"{verb} a job"), job, as_json)

    command.__doc__ = doc
    cli.command(name)(command)


_action("cancel", "cancel", "Cancel JOB: its render tasks stop.\n\nA finished job cannot be cancelled "
        "(409 job_finished).")
_action("retry", "retry", "Start a new run of a failed or cancelled JOB.\n\nChunks that succeeded keep their "
        "frames; the others render again (`renderctl show` lists the runs).")
_action("resume", "resume", "Resume a paused JOB where it was.")


@cli.command("pause")
@click.argument("job")
@click.option("--mode", type=click.Choice(["wait", "requeue"]), default="wait", show_default=True,
              help="wait: running tasks finish; requeue: running tasks stop and render again on resume.")
@json_option
@click.pass_context
def pause_cmd(ctx: click.Context, job: str, mode: str, as_json: bool) -> None:
    """Pause JOB: no new task starts until `renderctl resume`.

    Meanwhile `renderctl wait` exits 4. A finished or paused job cannot be paused (409).
    """
    result = api_of(ctx).call("POST", job_path(job, "pause"), body={"mode": mode}, feature="pause a job")
    _print_changed(result, job, as_json)


# ignore_unknown_options: "-5" is the priority, not an option.
@cli.command("priority", context_settings={"ignore_unknown_options": True})
@click.argument("job")
@click.argument("value", type=click.IntRange(-1000, 1000), metavar="N")
@json_option
@click.pass_context
def priority_cmd(ctx: click.Context, job: str, value: int, as_json: bool) -> None:
    """Set JOB's priority to N, -1000..1000 (higher renders first).

    Only while the job has not finished (409 invalid_status after).
    """
    result = api_of(ctx).call("PATCH", job_path(job), body={"priority": value}, feature="change a job's priority")
    if as_json:
        print_json(result)
    else:
        out.print(f"{result.get('id', job)} priority {(result.get('spec') or {}).get('priority', value)}")


def hide_key(argv: list[str]) -> list[str]:
    """argv with the value of --key masked: what the process list may show."""
    shown, mask_next = [], False
    for arg in argv:
        if mask_next:
            shown.append("***")
            mask_next = False
        elif arg == "--key":
            shown.append(arg)
            mask_next = True
        elif arg.startswith("--key="):
            shown.append("--key=***")
        else:
            shown.append(arg)
    return shown


def _retitle(argv: list[str]) -> None:
    """The kernel shows a process's command line to every user: rewrite ours without the key."""
    masked = hide_key(argv)
    if masked != argv:
        import setproctitle

        setproctitle.setproctitle(" ".join(["renderctl", *masked]))


def main(argv: list[str] | None = None) -> None:
    if argv is None:
        _retitle(sys.argv[1:])
    try:
        # standalone_mode=False: click returns ctx.exit()'s code, and raises the errors handled here.
        code = cli.main(args=argv, prog_name="renderctl", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        err.print("aborted")
        sys.exit(130)
    except ConfigError as exc:
        err.print(f"error: config: {exc}")
        sys.exit(1)
    except CliError as exc:
        text = str(exc) if isinstance(exc, ApiError) else f"{exc.code + ': ' if exc.code else ''}{exc.message}"
        err.print(f"error: {text}", markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
