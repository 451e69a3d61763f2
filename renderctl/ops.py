"""What the reading commands print: job tables, a job's detail, the history timeline and
downloads (task logs are renderctl.task_logs)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from renderctl import timeline
from renderctl.client import Api, CliError, NotSupported, job_path
from renderctl.job_chunks import job_chunks
from renderctl.task_logs import failed_task, fetch_log
from renderctl.transfer import RemoteFile, download_files
from shared.job_spec import forbidden_in_name

LOG_TAIL_LINES = 15


def job_name(job: dict[str, Any]) -> str:
    """The job's name as the API gives it; for an API older than named jobs, derived as it would.
    Characters a name may not hold print as "?": a terminal must not act on them."""
    name = job.get("name") or (job.get("request") or {}).get("name")
    if isinstance(name, str) and name:
        return "".join("?" if forbidden_in_name(ch) else ch for ch in name)
    blob = str((job.get("source") or {}).get("blobName") or "")
    blend = (job.get("bundle") or {}).get("blendPath")
    if blob.startswith("manifests/") and isinstance(blend, str) and blend:
        return blend  # a folder sent by content: its manifest's hash says nothing to an artist
    return PurePosixPath(blob).name if blob else "-"


def progress_text(job: dict[str, Any]) -> str:
    progress = job.get("progress") or {}
    return f"{progress.get('framesDone', 0)}/{progress.get('framesTotal', 0)}"


def job_row(job: dict[str, Any]) -> tuple[str, ...]:
    source = job.get("source") or {}
    submitted = str((job.get("timestamps") or {}).get("createdAt") or "-")
    return (job["id"], job_name(job), job["status"], progress_text(job), submitted[:19].replace("T", " "),
            str(source.get("submitter") or source.get("kind") or "-"))


def show(api: Api, job: dict[str, Any], out: Console) -> None:
    stamps = job.get("timestamps") or {}
    # The name is the submitter's text: escaped, so "[red]" in it prints as written.
    out.print(f"[bold]{escape(str(job['id']))}[/bold]  {escape(str(job['status']))}  frames {progress_text(job)}  "
              f"({escape(job_name(job))})")
    out.print(f"submitted {stamps.get('createdAt', '-')}  started {stamps.get('startedAt') or '-'}  "
              f"finished {stamps.get('finishedAt') or '-'}")
    spec = job.get("spec") or {}
    if spec:
        out.print("spec: " + ", ".join(f"{k}={v}" for k, v in spec.items()), markup=False)
    _runs(job, out)
    chunks = job_chunks(api, job)
    if chunks:
        table = Table("chunk", "frames", "status", "attempts", "seconds", box=None)
        for chunk in chunks:
            seconds = chunk.get("seconds")
            table.add_row(chunk["id"], _frames(chunk.get("frames")), chunk.get("status", "?"),
                          str(chunk.get("attempts", 0)), "-" if seconds is None else f"{seconds:.1f}")
        out.print(table)
    error = job.get("error")
    if isinstance(error, dict) and error.get("code"):
        out.print(f"[red]error {error['code']}[/red]: {error.get('message', '')}")
        details = error.get("details") or {}
        for failed in (details.get("chunks") or []) if isinstance(details, dict) else []:
            out.print(f"  failed {failed.get('chunk')} frames {_frames(failed.get('frames'))} "
                      f"exit {failed.get('exitCode', '?')}: {failed.get('reason') or ''}", markup=False)
            _log_tail(api, job["id"], failed_task(failed), out)


def _runs(job: dict[str, Any], out: Console) -> None:
    """Each run of a retried job: when it started and ended, and how."""
    runs = [r for r in job.get("runs") or [] if isinstance(r, dict)]
    if len(runs) < 2:
        return
    for run in runs:
        error: dict[str, Any] = run["error"] if isinstance(run.get("error"), dict) else {}
        out.print(f"run {run.get('run')}: {run.get('status') or 'running'}  started {run.get('startedAt') or '-'}  "
                  f"ended {run.get('endedAt') or '-'}" + (f"  {error.get('code')}" if error.get("code") else ""),
                  markup=False)


def _frames(frames: Any) -> str:
    if isinstance(frames, list):
        return ",".join(str(f) for f in frames[:6]) + ("…" if len(frames) > 6 else "")
    return str(frames if frames is not None else "-")


def _log_tail(api: Api, job_id: str, task: str, out: Console) -> None:
    try:
        text = fetch_log(api, job_id, task, "stderr")
    except NotSupported:
        out.print("    (log tails need the API's task log route, which it does not have yet)")
        return
    except CliError as exc:
        out.print(f"    (no log: {exc.message})", markup=False)
        return
    for line in text.splitlines()[-LOG_TAIL_LINES:]:
        out.print(f"    {line}", markup=False)


def history(data: dict[str, Any], out: Console) -> None:
    out.print(f"[bold]{data.get('instanceId')}[/bold] {data.get('runtimeStatus')}  "
              f"created {data.get('createdTime', '-')}  updated {data.get('lastUpdatedTime', '-')}")
    waits = {sub.get("instanceId"): sub for sub in data.get("subOrchestrations") or []}
    for step in timeline.steps(data.get("history") or []):
        out.print(f"  {step.start[:23]:<23} {step.kind:<13} {step.name:<34} "
                  f"{timeline.duration(step.seconds):>8}  {step.outcome}", markup=False)
    for instance, sub in waits.items():
        steps = timeline.steps(sub.get("history") or [])
        kinds = {k: sum(1 for s in steps if s.kind == k) for k in ("activity", "timer", "event")}
        out.print(f"  wait {instance}: {sub.get('runtimeStatus')}, {kinds['activity']} polls, "
                  f"{kinds['timer']} timers, {kinds['event']} events", markup=False)


def download(api: Api, job_id: str, folder: Path, kinds: set[str], console: Console) -> dict[str, Any]:
    """Fetch the job's outputs of `kinds` into `folder`; what was fetched and what was there already."""
    data = api.call("GET", job_path(job_id, "outputs"), feature="download outputs (short-lived read URLs)")
    files = [RemoteFile(str(f["name"]), str(f["url"]), f.get("size")) for f in data.get("files", [])
             if f.get("kind") in kinds]
    if not files:
        raise CliError(f"job {job_id} has no {' or '.join(sorted(kinds))} outputs (yet)", code="no_outputs")
    total = sum(f.size or 0 for f in files)
    with Progress(TextColumn("download"), BarColumn(), DownloadColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("download", total=total or None)
        done, skipped = download_files(files, folder, lambda n: bar.advance(task, n))
    console.print(f"{len(done)} downloaded, {len(skipped)} already there, into {folder}")
    sizes = {f.name: f.size for f in files}
    return {"jobId": job_id, "folder": str(folder.resolve()), "downloaded": sorted(done), "skipped": sorted(skipped),
            "downloadedBytes": sum(sizes[name] or 0 for name in done)}


def dashboard_url(api_url: str, job: dict[str, Any]) -> str:
    """The job's page on the dashboard the app serves at <api>/ui/ (a hash route: the id never
    reaches a server log, and the page itself asks for the key)."""
    return f"{api_url.rstrip('/')}/ui/#/jobs/{quote(str(job['id']), safe='')}"
