"""Orchestration scale: jobs of 100, 1,000, 5,000 and 10,000 render tasks (chunk size 1, so as many
tasks as frames, plus the stitch) through devhost's real Durable runtime, with a render node that
does no rendering (bench/apps/scale).

Per job: devhost's CPU seconds (/proc/<pid>/stat, before and after; the part spent inside
the activity handlers is measured by the app itself with thread_time), wall time, the
largest history of any one instance (showHistory), the replay episodes (devhost's
`episode instance=<job>...` log lines, the job's waits included), and the Cosmos document
writes (job documents and chunk pages) with their request units estimated from Cosmos DB's
documented cost of a write by item size. The bench app's stores are the in-memory fakes,
and the local Cosmos server answers every request with `x-ms-request-charge: 1` whatever it
did, so there is no measured request charge to report: the writes are counted instead.

    python -m bench.orchestration_scale [--smoke]
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import ROOT, Report, main, process_cpu_seconds, run_guarded
from shared import names
from stack.services import Service, free_port, http_ok

NAME = "orchestration_scale"
TITLE = "Orchestration scale (chunk size 1: one task per frame, tasks succeed at once)"
CHUNK_SIZE = 1
SIZES = (100, 1_000, 5_000, 10_000)
CPU_TARGET_S = 30.0
HISTORY_TARGET = 2_000
LINEAR_TOLERANCE = 1.5  # CPU per task at the largest size vs the second smallest, and the marginal CPU
JOB_TIMEOUT_S = 1_200.0
REPEATS = 3             # for the sizes under REPEAT_BELOW, where 10 ms clock ticks and neighbours matter
REPEAT_BELOW = 5_000
LARGE_REPEATS = 2       # the larger ones: a neighbour's burst can still cost one run a tenth
SMOKE_SIZES = (20, 60, 120, 240)


def _get(url: str, timeout: float = 30) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def _post(url: str, timeout: float = 30) -> Any:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class ScaleHost:
    """devhost serving bench/apps/scale on a free port, in a temporary data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.system_key = secrets.token_urlsafe(24)  # the Durable HTTP API refuses keyless calls
        self.service = Service(name="devhost-scale", data_dir=data_dir, argv=[
            sys.executable, "-m", "devhost", "--app-dir", str(ROOT / "bench" / "apps" / "scale"),
            "--port", str(self.port), "--data-dir", str(data_dir / "devhost")],
            env={"DEVHOST_DURABLETASK_SYSTEM_KEY": self.system_key})

    def __enter__(self) -> ScaleHost:
        self.service.start()
        try:
            self.service.wait_until(lambda: http_ok(self.url + "/admin/host/ping", any_status=False),
                                    timeout=120)
        except BaseException:
            self.service.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.service.stop()

    @property
    def pid(self) -> int:
        assert self.service.process is not None
        return self.service.process.pid

    def status(self, instance_id: str, history: bool = False) -> dict[str, Any] | None:
        query = "?showHistory=true&showHistoryOutput=false&showInput=false" if history else "?showInput=false"
        query += f"&code={self.system_key}"
        code, body = _get(f"{self.url}/runtime/webhooks/durabletask/instances/"
                          f"{urllib.parse.quote(instance_id, safe='')}{query}")
        return body if code in (200, 202) else None

    def episodes(self, job_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for line in self.service.log_path.read_text(errors="replace").splitlines():
            if f"episode instance={job_id}" in line:
                instance = line.split("episode instance=", 1)[1].split()[0]
                counts[instance] = counts.get(instance, 0) + 1
        return counts


def run_job(host: ScaleHost, frames: int) -> dict[str, Any]:
    cpu_before = process_cpu_seconds(host.pid)
    stats_before = _get(host.url + "/api/bench/stats")[1]
    started = time.perf_counter()
    job_id = _post(f"{host.url}/api/bench/jobs/{frames}?pollSeconds=1&chunkSize={CHUNK_SIZE}")["jobId"]
    deadline = time.monotonic() + JOB_TIMEOUT_S
    status: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        status = host.status(job_id)
        if status and status["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            break
        time.sleep(0.05)
    wall = time.perf_counter() - started
    cpu = process_cpu_seconds(host.pid) - cpu_before
    stats_after = _get(host.url + "/api/bench/stats")[1]
    if not status or status["runtimeStatus"] != "Completed" or (status.get("output") or {}).get("status") != \
            "completed":
        raise RuntimeError(f"job of {frames} frames did not complete: {status}")
    per_activity = {name: round(seconds - stats_before["activityCpuSeconds"].get(name, 0.0), 4)
                    for name, seconds in stats_after["activityCpuSeconds"].items()}
    activity_cpu = sum(per_activity.values())
    instances = [job_id, names.wait_instance_id(job_id, names.RENDER, 0), names.wait_instance_id(job_id,
                                                                                                 names.STITCH)]
    histories = {}
    for instance in instances:
        body = host.status(instance, history=True)
        histories[instance] = len(body.get("historyEvents") or body.get("history") or []) if body else 0
    episodes = host.episodes(job_id)
    tasks = -(-frames // CHUNK_SIZE)

    def grew(key: str) -> float:
        return float(stats_after[key] - stats_before[key])
    return {"frames": frames, "tasks": tasks, "jobId": job_id, "wallSeconds": round(wall, 3),
            "cpuSeconds": round(cpu, 3), "activityCpuSeconds": round(activity_cpu, 3),
            "activityCpuByName": per_activity, "runtimeCpuSeconds": round(cpu - activity_cpu, 3),
            "cpuMsPerTask": round(1000 * cpu / tasks, 4), "historyEvents": histories,
            "largestHistory": max(histories.values()), "episodes": episodes,
            "episodesTotal": sum(episodes.values()),
            "jobWrites": int(grew("jobWrites")), "pageWrites": int(grew("pageWrites")),
            "bytesWritten": int(grew("jobBytesWritten") + grew("pageBytesWritten")),
            "writeRuEstimate": round(grew("jobWriteRu") + grew("pageWriteRu"), 1),
            "largestPageBytes": int(stats_after["largestPageBytes"])}


def body(report: Report, sizes: tuple[int, ...] = SIZES, repeats: int = REPEATS) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, ScaleHost(Path(tmp)) as host:
        run_job(host, 10)  # warm-up: imports, the first episode, FFmpeg's first start
        # The small jobs take a few tenths of a CPU second, where the clock's 10 ms ticks and
        # whatever else runs matter: each runs `repeats` times and the cheapest run counts.
        runs = [run_job(host, frames) for frames in sizes
                for _ in range(repeats if frames < REPEAT_BELOW else min(repeats, LARGE_REPEATS))]
    results = [min((r for r in runs if r["frames"] == frames), key=lambda r: r["cpuSeconds"]) for frames in sizes]
    small, middle, largest = sizes[-3:]
    report.details["runs"] = results
    report.details["allRuns"] = [{k: r[k] for k in ("frames", "cpuSeconds", "wallSeconds")} for r in runs]
    for r in results:
        n = f"{r['tasks']:,} tasks (chunk size {CHUNK_SIZE})"
        last = r["frames"] == largest
        report.add(f"{n}: devhost CPU", r["cpuSeconds"], "s", *(("<=", CPU_TARGET_S) if last else (None, None)))
        report.add(f"{n}: of which in activity handlers (steps over the fakes)", r["activityCpuSeconds"], "s")
        report.add(f"{n}: of which Durable runtime, episodes, host", r["runtimeCpuSeconds"], "s")
        report.add(f"{n}: CPU per task", r["cpuMsPerTask"], "ms")
        report.add(f"{n}: wall time", r["wallSeconds"], "s")
        report.add(f"{n}: largest history (one instance)", r["largestHistory"], "events",
                   *(("<=", HISTORY_TARGET) if last else (None, None)))
        report.add(f"{n}: replay episodes (all instances)", r["episodesTotal"], "episodes")
        report.add(f"{n}: Cosmos document writes (job document + chunk pages)", r["jobWrites"] + r["pageWrites"],
                   "writes")
        report.add(f"{n}: of which chunk page writes", r["pageWrites"], "writes")
        report.add(f"{n}: Cosmos write request units, estimated from item sizes", r["writeRuEstimate"], "RU")
    biggest = results[-1]
    report.add(f"{biggest['tasks']:,} tasks: largest chunk page written", round(biggest["largestPageBytes"] / 1024, 1),
               "KB")
    report.add(f"{biggest['tasks']:,} tasks: estimated Cosmos write request units per task",
               round(biggest["writeRuEstimate"] / biggest["tasks"], 2), "RU")
    # Linear growth: CPU per task stays the same from a small job to the largest, and so does the
    # marginal CPU per added task from one size to the next (judged where it is well above the
    # clock's ticks: second smallest → middle against middle → largest).
    cpu = {r["frames"]: r["cpuSeconds"] for r in results}
    per_task = {r["frames"]: r["cpuSeconds"] / r["tasks"] for r in results}
    report.add(f"CPU per task, {largest:,} / {small:,} tasks (linear growth)",
               round(per_task[largest] / per_task[small], 2), "x", "<=", LINEAR_TOLERANCE)
    low = max((cpu[middle] - cpu[small]) / (middle - small), 1e-6)  # never 0: a smoke run's tiny jobs
    high = (cpu[largest] - cpu[middle]) / (largest - middle)
    report.add(f"marginal CPU per task, {small:,} → {middle:,}", round(1000 * low, 4), "ms")
    report.add(f"marginal CPU per task, {middle:,} → {largest:,}", round(1000 * high, 4), "ms")
    report.add(f"marginal CPU per task, {middle:,} → {largest:,} / {small:,} → {middle:,} (linear growth)",
               round(high / low, 2), "x", "<=", LINEAR_TOLERANCE)
    writes = {r["frames"]: (r["jobWrites"] + r["pageWrites"]) / r["tasks"] for r in results}
    report.add(f"Cosmos writes per task, {largest:,} / {small:,} tasks (linear growth)",
               round(writes[largest] / writes[small], 2), "x", "<=", LINEAR_TOLERANCE)
    report.notes.append("CPU is the whole devhost process (Durable runtime, episodes, activities over the "
                        "in-memory fakes and the simulated node); 'in activity handlers' is the part inside "
                        "shared.pipeline.steps, measured with thread_time by the bench app.")
    report.notes.append("Request units are estimated per write from Cosmos DB's documented cost of a write "
                        "by item size (bench/apps/scale WRITE_RU), not measured: the local Cosmos server "
                        "answers x-ms-request-charge: 1 to every request.")


def run(smoke: bool = False) -> Report:
    if smoke:
        return run_guarded(NAME, TITLE, lambda report: body(report, SMOKE_SIZES, 1))
    return run_guarded(NAME, TITLE, body)


if __name__ == "__main__":
    raise SystemExit(main(run))
