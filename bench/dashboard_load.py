"""Dashboard load on the local stack: 100 viewers, each polling one job and the job list
every 2 s for 60 s, open loop, from a second process on loopback (bench/loadgen.py), with
If-None-Match as the dashboard sends it; then today's closed loop of 50 clients reading one
job back to back, kept as a reported figure, and the same closed loop on a function that
does nothing (what devhost itself can serve here).

The jobs are rendering jobs' documents in the Cosmos server (make_jobs) with nothing
rendering behind them. One job's document changes every 10 s (as a rendering job's
progress does), so the job list changes every 10 s and each job every 100 s; every other
poll may be answered 304.

Why aiohttp rather than wrk: it is already in the project's virtualenv (no root, no apt),
it records every request's latency exactly, and the same code runs wherever `make bench`
does. Its own CPU use is reported, since on a 2-core machine it shares the cores with the
server under test.

    python -m bench.dashboard_load [--smoke]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, Report, group_cpu_seconds, main, run_guarded

NAME = "dashboard_load"
TITLE = "Dashboard load (100 viewers polling a job and the job list every 2 s, open loop; 50 clients closed loop)"
P99_TARGET_MS = 100.0
MAX_REQUESTS = 500_000
LIST_PATH = "/jobs?top=25"  # the dashboard's jobs page (web/js/jobs.js, PAGE_SIZE)


@dataclass(frozen=True)
class Shape:
    viewers: int = 100
    interval: float = 2.0
    seconds: float = 60.0
    jobs: int = 10
    change_every: float = 10.0
    clients: int = 50
    closed_seconds: float = 30.0
    single_seconds: float = 5.0
    floor_seconds: float = 10.0


SMOKE = Shape(viewers=4, seconds=3.0, jobs=2, clients=4, closed_seconds=1.0,
              single_seconds=0.5, floor_seconds=0.5)


def loadgen(args: list[str], seconds: float) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.loadgen", "--seconds", str(seconds), *args]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def closed_loop(url: str, key: str | None, clients: int, seconds: float) -> dict[str, Any]:
    return loadgen(["--url", url, "--clients", str(clients), "--max-requests", str(MAX_REQUESTS),
                    *(["--header", key] if key else [])], seconds)


def host_floor(clients: int, seconds: float) -> dict[str, Any]:
    """The same closed loop on a function that does nothing (bench/apps/scale's /api/bench/stats)."""
    from bench.orchestration_scale import ScaleHost

    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp, ScaleHost(Path(tmp)) as host:
        before = group_cpu_seconds(host.pid)
        summary = closed_loop(host.url + "/api/bench/stats", None, clients, seconds)
        summary["devhostCpuMsPerRequest"] = round(1000 * (group_cpu_seconds(host.pid) - before)
                                                  / max(1, summary["completed"]), 3)
    return summary


class Changer(threading.Thread):
    """Changes one job's document every `every` seconds, round robin, as progress does."""

    def __init__(self, jobs: Any, job_ids: list[str], every: float) -> None:
        super().__init__(daemon=True)
        self.jobs, self.job_ids, self.every = jobs, job_ids, every
        self.stopping = threading.Event()
        self.changes = 0

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            job_id = self.job_ids[self.changes % len(self.job_ids)]
            doc = self.jobs.get(job_id)
            doc["progress"]["framesDone"] = min(240, doc["progress"]["framesDone"] + 10)
            doc["timestamps"]["updatedAt"] = datetime.now(UTC).isoformat()
            self.jobs.replace(doc, etag=doc["_etag"])
            self.changes += 1


def make_jobs(jobs: Any, count: int) -> list[str]:
    """Rendering jobs as the pipeline writes them (shared.job_document), stored in the stack's
    Cosmos server with no orchestration behind them: every poll takes the path a running
    job's does (the document read, then the orchestration's status for reconciliation),
    and nothing but the changer below changes them."""
    from shared.job_document import JobSource, SourceKind, job_document

    ids = []
    for n in range(count):
        job_id = f"job-dashboard-{n:03d}"
        source = JobSource(kind=SourceKind.HTTP, container="scenes", blob_name=f"bench/shot{n:03d}.zip",
                           blob_url=f"http://127.0.0.1/scenes/bench/shot{n:03d}.zip", submitter="bench")
        doc = job_document(job_id, source, now=datetime.now(UTC).isoformat(), renders_container="renders")
        doc["status"] = "rendering"
        doc["progress"].update(framesTotal=240, chunksTotal=24)
        jobs.create(doc)
        ids.append(job_id)
    return ids


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: group_cpu_seconds(pid) for name, pid in pids.items()}


def body(report: Report, shape: Shape) -> None:
    from shared.adapters.cosmos_job_store import CosmosJobStore
    from shared.config import Settings
    from stack.local import LocalStack, api_request, app_settings

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp, LocalStack(Path(tmp) / "stack") as stack:
        store = CosmosJobStore.from_settings(Settings.from_env(app_settings(stack)))
        job_ids = make_jobs(store, shape.jobs)
        for path in [*(f"/jobs/{j}" for j in job_ids), LIST_PATH]:  # a warm host, as a dashboard finds it
            status, _ = api_request(stack, "GET", path)
            assert status == 200, f"GET {path}: {status}"
        key = f"x-functions-key={stack.function_key}"
        changer = Changer(store, job_ids, shape.change_every)
        pids = dict(stack.pids)
        before = cpu_of(pids)
        changer.start()
        try:
            viewers = loadgen(["--viewers", str(shape.viewers), "--interval", str(shape.interval),
                               *(a for j in job_ids for a in ("--url", f"{stack.api_url}/jobs/{j}")),
                               "--also", f"{stack.api_url}{LIST_PATH}", "--header", key], shape.seconds)
        finally:
            changer.stopping.set()
            changer.join()
        open_cpu = {n: round(c - before[n], 2) for n, c in cpu_of(pids).items()}
        url = f"{stack.api_url}/jobs/{job_ids[0]}"
        single = closed_loop(url, key, 1, shape.single_seconds)  # the latency when nothing queues
        before = cpu_of(pids)
        closed = closed_loop(url, key, shape.clients, shape.closed_seconds)
        closed_cpu = {n: round(c - before[n], 2) for n, c in cpu_of(pids).items()}
    label = f"{shape.viewers} viewers"
    report.add(f"{label}: p99 latency", viewers["p99ms"], "ms", "<=", P99_TARGET_MS)
    report.add(f"{label}: errors", viewers["errorCount"], "requests", "==", 0)
    report.add(f"{label}: share of 304 answers", round(100 * (viewers["share304"] or 0), 1), "%")
    report.add(f"{label}: share of 304 answers, job polls", round(100 * (viewers["share304Job"] or 0), 1), "%")
    report.add(f"{label}: share of 304 answers, job list polls", round(100 * (viewers["share304List"] or 0), 1), "%")
    report.add(f"{label}: p50 latency", viewers["p50ms"], "ms")
    report.add(f"{label}: max latency", viewers["maxms"], "ms")
    report.add(f"{label}: job poll p99 latency", viewers["job"]["p99ms"], "ms")
    report.add(f"{label}: job list poll p99 latency", viewers["list"]["p99ms"], "ms")
    report.add(f"{label}: requests per second", viewers["requestsPerSecond"], "req/s")
    report.add(f"{label}: devhost CPU per request",
               round(1000 * open_cpu["devhost"] / max(1, viewers["completed"]), 2), "ms")
    report.add(f"{label}: load generator p99 send lag", viewers["sendLagP99ms"], "ms")
    report.add(f"{shape.clients} clients closed loop (GET one job back to back): p99 latency", closed["p99ms"], "ms")
    report.add(f"{shape.clients} clients closed loop: p50 latency", closed["p50ms"], "ms")
    report.add(f"{shape.clients} clients closed loop: requests per second", closed["requestsPerSecond"], "req/s")
    report.add(f"{shape.clients} clients closed loop: errors", closed["errorCount"], "requests")
    report.add(f"{shape.clients} clients closed loop: devhost CPU per request",
               round(1000 * closed_cpu["devhost"] / max(1, closed["completed"]), 2), "ms")
    report.add("one client alone: p50 latency", single["p50ms"], "ms")
    report.add("one client alone: p99 latency", single["p99ms"], "ms")
    floor = host_floor(shape.clients, shape.floor_seconds)
    report.add(f"a function that does nothing, {shape.clients} clients: requests per second",
               floor["requestsPerSecond"], "req/s")
    report.add(f"a function that does nothing, {shape.clients} clients: p99 latency", floor["p99ms"], "ms")
    report.add("a function that does nothing: devhost CPU per request", floor["devhostCpuMsPerRequest"], "ms")
    report.details.update(viewers=viewers, openLoopCpuSeconds=open_cpu, documentChanges=changer.changes,
                          jobs=len(job_ids), closedLoop=closed, closedLoopCpuSeconds=closed_cpu, singleClient=single,
                          hostFloor=floor)
    busy = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in open_cpu.items())
    report.notes.append(f"CPU during the viewers' {viewers['seconds']:.0f} s (each service's process group): {busy}; "
                        f"load generator {viewers['loadgenCpuSeconds']:.1f} s; {changer.changes} document changes")


def run(smoke: bool = False) -> Report:
    return run_guarded(NAME, TITLE, lambda report: body(report, SMOKE if smoke else Shape()))


if __name__ == "__main__":
    raise SystemExit(main(run))
