"""Task submission: 10,000 tasks through the RenderBackend port.

Locally: LocalBatchBackend.add_tasks into a fresh localbatch (tasks `["true"]`,
which localbatch starts running while the rest are still being added, as a real
pool would). Against Azure's API: AzureBatchBackend.add_tasks against the Batch
REST test server (tests/batchrest), which records every request: how many, how
many tasks and bytes each, and how many were in flight at once.

    python -m bench.task_submission [--smoke]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import Report, main, run_guarded
from shared.tasks import TaskSpec

NAME = "task_submission"
TITLE = "Task submission (10,000 tasks)"
TASKS = 10_000
SMOKE_TASKS = 250  # still more than one request of 100
LOCAL_TARGET_S = 10.0
MAX_TASKS_PER_REQUEST = 100
MAX_REQUEST_BYTES = 1024 * 1024
SERVICE_DELAY_S = 0.05  # per addtaskcollection, held by the test server


def tasks(count: int) -> list[TaskSpec]:
    return [TaskSpec(id=f"t{i:05d}", argv=("true",)) for i in range(count)]


def local(report: Report, count: int) -> None:
    from localbatch.launcher import start_localbatch
    from shared.adapters.local_batch_backend import LocalBatchBackend

    with tempfile.TemporaryDirectory(prefix="bench-lb-") as tmp:
        process = start_localbatch(Path(tmp) / "lb", slots=2, poll_interval=0.5)
        try:
            backend = LocalBatchBackend(process.url, key=process.key, timeout=120)
            backend.create_job("bench-submit")
            specs = tasks(count)
            started = time.perf_counter()
            backend.add_tasks("bench-submit", specs)
            elapsed = time.perf_counter() - started
            counts = backend.task_counts("bench-submit")
            backend.terminate_job("bench-submit")
        finally:
            process.stop()
    total = counts.active + counts.running + counts.succeeded + counts.failed
    report.add(f"localbatch: add_tasks({count:,})", round(elapsed, 2), "s", "<=", LOCAL_TARGET_S)
    report.add("localbatch: tasks per second", round(count / elapsed), "tasks/s")
    report.add("localbatch: tasks stored", total, "tasks", "==", count)
    report.details["local"] = {"seconds": elapsed, "counts": counts.to_json(),
                               "requests": -(-count // 100)}


def azure(report: Report, count: int) -> None:
    from tests.batchrest.backend import make_backend
    from tests.batchrest.server import running_server

    with running_server() as server:
        backend = make_backend(server)
        try:
            backend.create_job("bench-submit")
            # The test server answers in well under a millisecond, so requests could never
            # overlap; Batch itself takes tens of milliseconds per collection.
            server.delay("/addtaskcollection", SERVICE_DELAY_S)
            server.clear_records()
            specs = tasks(count)
            started = time.perf_counter()
            backend.add_tasks("bench-submit", specs)
            elapsed = time.perf_counter() - started
            stored = len(server.job("bench-submit").tasks)
        finally:
            backend.close()
        records = [r for r in server.records() if r.path.endswith("/addtaskcollection")]
    sizes = [r.size for r in records]
    counts = [r.task_count or 0 for r in records]
    report.add("Azure: addtaskcollection requests", len(records), "requests")
    report.add("Azure: most tasks in one request", max(counts), "tasks", "<=", MAX_TASKS_PER_REQUEST)
    report.add("Azure: largest request body", max(sizes), "bytes", "<", MAX_REQUEST_BYTES)
    report.add("Azure: most requests in flight at once", max(r.in_flight for r in records), "requests", ">=", 2)
    report.add("Azure: tasks stored by the server", stored, "tasks", "==", count)
    report.add(f"Azure: add_tasks({count:,}), {SERVICE_DELAY_S * 1000:.0f} ms per request at the server",
               round(elapsed, 2), "s")
    report.add("Azure: same, if sent one at a time (requests x delay)",
               round(len(records) * SERVICE_DELAY_S, 2), "s")
    report.details["azure"] = {"seconds": elapsed, "requests": len(records), "bytesTotal": sum(sizes),
                               "bytesMean": round(sum(sizes) / len(sizes)), "tasksPerRequest": sorted(set(counts))}


def run(smoke: bool = False) -> Report:
    count = SMOKE_TASKS if smoke else TASKS

    def body(report: Report) -> None:
        local(report, count)
        azure(report, count)
        report.notes.append(f"The Batch REST test server held each addtaskcollection {SERVICE_DELAY_S * 1000:.0f} ms "
                            "(it answers in well under 1 ms), so that parallel requests can overlap and be seen.")
    return run_guarded(NAME, TITLE, body)


if __name__ == "__main__":
    raise SystemExit(main(run))
