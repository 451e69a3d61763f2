"""Status API under load: GET /api/jobs/{jobId} from 50 concurrent clients for 30 s, on the
local stack, from a second process on loopback (bench/loadgen.py, aiohttp).

Why aiohttp rather than wrk: it is already in the project's virtualenv (no root, no apt),
it records every request's latency exactly, and the same code runs wherever `make bench`
does. Its own CPU use is reported, since on a 2-core machine it shares the cores with the
server under test.

The job read is a real one: an upload that fails validation at once, so its document
(in the Cosmos server) is complete and nothing renders meanwhile.

    python -m bench.status_api_load [--smoke]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Report, main, process_cpu_seconds, run_guarded

NAME = "status_api_load"
TITLE = "Status API under load (GET /api/jobs/{id}, 50 clients, 30 s)"
CLIENTS = 50
SECONDS = 30.0
MAX_REQUESTS = 500_000
P99_TARGET_MS = 50.0
SINGLE_CLIENT_SECONDS = 5.0
FLOOR_SECONDS = 10.0
# --smoke: (clients, load seconds, one-client seconds, floor seconds)
SMOKE = (5, 1.0, 0.5, 0.5)


def load(url: str, header: str | None, clients: int, seconds: float) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.loadgen", "--url", url, "--clients", str(clients),
            "--seconds", str(seconds), "--max-requests", str(MAX_REQUESTS)]
    if header:
        argv += ["--header", header]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def host_floor(clients: int = CLIENTS, seconds: float = FLOOR_SECONDS) -> dict[str, Any]:
    """The same load on a function that does nothing (bench/apps/scale's /api/bench/stats): what
    devhost itself serves on this machine, whatever the function does."""
    from bench.orchestration_scale import ScaleHost

    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp, ScaleHost(Path(tmp)) as host:
        before = process_cpu_seconds(host.pid)
        summary = load(host.url + "/api/bench/stats", None, clients, seconds)
        summary["devhostCpuMsPerRequest"] = round(1000 * (process_cpu_seconds(host.pid) - before)
                                                  / max(1, summary["completed"]), 3)
    return summary


def body(report: Report, clients: int = CLIENTS, seconds: float = SECONDS,
         single_seconds: float = SINGLE_CLIENT_SECONDS, floor_seconds: float = FLOOR_SECONDS) -> None:
    from azure.storage.blob import BlobServiceClient

    from shared.job_document import upload_job_id
    from stack.local import LocalStack, api_request, wait_for

    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp, LocalStack(Path(tmp) / "stack") as stack:
        blob = BlobServiceClient.from_connection_string(stack.storage_connection_string).get_blob_client(
            "scenes", "bench/status.zip")
        result = blob.upload_blob(b"not a zip", overwrite=True)
        job_id = upload_job_id(blob.url, str(result["etag"]))
        doc = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1]["status"] == "failed" else None)(
            api_request(stack, "GET", f"/jobs/{job_id}")), 60, what=f"job {job_id} to fail")
        time.sleep(1)
        url, key = f"{stack.api_url}/jobs/{job_id}", f"x-functions-key={stack.function_key}"
        single = load(url, key, 1, single_seconds)  # the latency of one request when nothing queues
        pids = dict(stack.pids)
        cpu_before = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        summary = load(url, key, clients, seconds)
        wall = time.monotonic() - started
        cpu = {name: round(process_cpu_seconds(pid) - cpu_before[name], 2) for name, pid in pids.items()}
    report.add("requests per second", summary["requestsPerSecond"], "req/s")
    report.add("p50 latency", summary["p50ms"], "ms")
    report.add("p99 latency", summary["p99ms"], "ms", "<=", P99_TARGET_MS)
    report.add("max latency", summary["maxms"], "ms")
    report.add("errors", summary["errorCount"], "requests", "==", 0)
    report.add("requests sent", summary["requests"], "requests")
    report.add("devhost CPU per request", round(1000 * cpu["devhost"] / max(1, summary["completed"]), 2), "ms")
    report.add("one client alone: p50 latency", single["p50ms"], "ms")
    report.add("one client alone: p99 latency", single["p99ms"], "ms")
    report.add("one client alone: requests per second", single["requestsPerSecond"], "req/s")
    report.details.update(summary=summary, singleClient=single, processCpuSeconds=cpu, loadWallSeconds=round(wall, 1),
                          documentBytes=len(json.dumps(doc)))
    floor = host_floor(clients, floor_seconds)
    report.add("a function that does nothing, same load: requests per second", floor["requestsPerSecond"], "req/s")
    report.add("a function that does nothing, same load: p50 latency", floor["p50ms"], "ms")
    report.add("a function that does nothing, same load: p99 latency", floor["p99ms"], "ms")
    report.add("a function that does nothing: devhost CPU per request", floor["devhostCpuMsPerRequest"], "ms")
    report.details["hostFloor"] = floor
    busy = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu.items())
    report.notes.append(f"CPU during the load: {busy}; load generator {summary['loadgenCpuSeconds']:.1f} s "
                        f"(of {2 * summary['seconds']:.0f} core-seconds on 2 cores)")


def run(smoke: bool = False) -> Report:
    if smoke:
        return run_guarded(NAME, TITLE, lambda report: body(report, *SMOKE))
    return run_guarded(NAME, TITLE, body)


if __name__ == "__main__":
    raise SystemExit(main(run))
