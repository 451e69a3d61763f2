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

from renderctl import ops
from renderctl.client import Api, ApiError, CliError
from renderctl.config import ConfigError, resolve
from renderctl.submitting import SubmitOptions, submit
from renderctl.waiting import wait as wait_for_job

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
    3 cancelled, 4 paused. Other failures: 1, 5 if the API is unreachable,
    6 if the API cannot do the command yet.
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
@click.option("--frame-order", type=click.Choice(["sequential", "reverse", "binary"]), help="Order of the frames.")
@click.option("--name", metavar="NAME", help="A name for the job, shown in `renderctl jobs`.")
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
    """Show JOB's progress until it completes (0), fails (2), is cancelled (3) or paused (4).

    Ctrl-C stops the waiting, never the job. With --json, the job as last read.
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
@json_option
@click.pass_context
def jobs_cmd(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """List jobs, newest first: id, name, status, progress, submitted, by."""
    page = api_of(ctx).list_jobs(status, limit)
    if as_json:
        print_json(page)
        return
    table = Table("id", "name", "status", "progress", "submitted", "by", box=None)
    for job in page.get("jobs", []):
        table.add_row(*ops.job_row(job))
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
    """The orchestration's steps as a timeline: each activity, wait and timer with start, duration, outcome."""
    data = api_of(ctx).call("GET", f"jobs/{job}/history")
    if as_json:
        print_json(data)
        return
    ops.history(data, out)


@cli.command("logs")
@click.argument("job")
@click.argument("task", required=False)
@click.option("--stderr", "stream", flag_value="stderr", help="The task's stderr instead of its stdout.")
@click.option("--follow", is_flag=True, help="Keep printing what the task writes until it ends.")
@click.pass_context
def logs_cmd(ctx: click.Context, job: str, task: str | None, stream: str | None, follow: bool) -> None:
    """A task's log (stdout, or --stderr); without TASK, the job's failed or first task."""
    ops.logs(api_of(ctx), job, task, stream or "stdout", follow, out)


@cli.command("download")
@click.argument("job")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--frames", is_flag=True, help="The rendered frames.")
@click.option("--video", is_flag=True, help="The stitched video.")
@click.option("--logs", is_flag=True, help="The tasks' logs.")
@click.pass_context
def download_cmd(ctx: click.Context, job: str, folder: Path | None, frames: bool, video: bool, logs: bool) -> None:
    """Fetch JOB's outputs into FOLDER (default ./JOB): with no flag, the video and the frames.

    Parallel and resumable: files already there with the right size are skipped.
    """
    kinds = {k for k, on in (("frame", frames), ("video", video), ("log", logs)) if on} or {"frame", "video"}
    ops.download(api_of(ctx), job, folder or Path(job), kinds, err)


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


def _action(name: str, verb: str, doc: str) -> None:
    @click.argument("job")
    @json_option
    @click.pass_context
    def command(ctx: click.Context, job: str, as_json: bool) -> None:
        result = api_of(ctx).call("POST", f"jobs/{job}/{verb}", feature=f"{verb} a job")
        if as_json:
            print_json(result)
        else:
            out.print(f"{result.get('id', job)} {result.get('status', verb)}")

    command.__doc__ = doc
    cli.command(name)(command)


_action("cancel", "cancel", "Cancel JOB: its render tasks stop; finished jobs cannot be cancelled.")
_action("retry", "retry", "Start a new run of a failed or cancelled JOB.")
_action("pause", "pause", "Pause JOB: running tasks finish, no new ones start.")
_action("resume", "resume", "Resume a paused JOB.")


@cli.command("priority")
@click.argument("job")
@click.argument("value", type=click.IntRange(-1000, 1000), metavar="N")
@json_option
@click.pass_context
def priority_cmd(ctx: click.Context, job: str, value: int, as_json: bool) -> None:
    """Set JOB's priority to N (-1000..1000)."""
    result = api_of(ctx).call("PATCH", f"jobs/{job}", body={"priority": value}, feature="change a job's priority")
    if as_json:
        print_json(result)
    else:
        out.print(f"{result.get('id', job)} priority {value}")


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
