"""Marker → orchestration wake with 0, 10,000 and 100,000 blobs in `renders`, on the local
stack (MariaDB-backed Azurite → devhost's blob watcher → on_render_output → raise_event →
the job's waiting await_tasks orchestration). Part of bench/event_latency.py.

The waiting orchestration is the project's own await_tasks, started through the Durable
HTTP API under the instance id a render task's marker wakes, and kept waiting by a
localbatch job with one long task (so POLL_TASKS says "not done" without rendering
anything). Each marker is a small `<job>/chunks/chunk-NNNN.json`; the wake is the
orchestrator episode that took in its TASKS_CHANGED event, read from the instance's
history (same clock as the upload, no polling delay).

The blobs in `renders` are seeded once per size into a stack kept in
.data/bench/marker-wake-<size>/ and reused by later runs: 32 parallel uploads of 1-byte
frames and logs (uploading 10,000 blobs one by one took 123 s). The first run at 100,000
blobs therefore spends its first minutes seeding (an interrupted seeding resumes where it
stopped). On a restarted stack the watcher's first
full background listing starts with the measurement, so the markers compete with it.

The measurement is part of event_latency (`python -m bench.event_latency`). To seed the
cached stacks ahead of it, without make bench's per-run budget (100,000 blobs took 37 min
here, ~45 blobs/s):

    python -m bench.marker_wake --seed-only [--budget SECONDS] [--sizes 10000 100000]
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, Report, percentile

SIZES = (0, 10_000, 100_000)
SMOKE_SIZES = (0, 300)
MARKERS = 20
SMOKE_MARKERS = 3
P95_TARGET_S = 1.0
PER_MARKER_TIMEOUT_S = 30.0
CACHE = ROOT / ".data" / "bench"
SEED_WORKERS = 32
# make bench gives a benchmark 15 minutes; seeding 100,000 blobs takes ~40 (once), so a run
# seeds for at most this long and the next run resumes.
SEED_BUDGET_S = 420.0
EVENT_RAISED, ORCHESTRATOR_STARTED = 15, 12


def seed_names(size: int) -> list[str]:
    """What a render job leaves beside its markers: 95 frames and 5 logs per job folder."""
    return [f"seed{j:05d}/frames/{f:04d}.png" if f < 95 else f"seed{j:05d}/logs/t{f}/stderr.txt"
            for j in range(-(-size // 100)) for f in range(100)][:size]


def seed(container: Any, size: int, budget: float = SEED_BUDGET_S) -> tuple[float, int | None]:
    """Uploads the seed blobs unless a finished seeding left its sentinel, for at most
    budget seconds: (seconds spent, None when complete or else how many blobs are there)."""
    sentinel = container.get_blob_client(f"seed-complete-{size}")
    if size == 0 or sentinel.exists():
        return 0.0, None
    started = time.monotonic()
    stop_at = started + budget
    # An interrupted seeding resumes: listing what is there costs far less than uploading it again.
    present = {b.name for b in container.list_blobs(name_starts_with="seed")}
    missing = [n for n in seed_names(size - 1) if n not in present]

    def upload(name: str) -> bool:
        if time.monotonic() > stop_at:
            return False
        container.upload_blob(name, b"x", overwrite=True)
        return True

    with ThreadPoolExecutor(SEED_WORKERS) as pool:
        uploaded = sum(pool.map(upload, missing))
    if uploaded < len(missing):
        return time.monotonic() - started, len(present) + uploaded
    sentinel.upload_blob(b"done", overwrite=True)  # the size-th blob
    return time.monotonic() - started, None


def _durable(info: Any, method: str, path: str, body: Any = None) -> Any:
    url = f"{info.devhost_url}/runtime/webhooks/durabletask/{path}"
    url += ("&" if "?" in url else "?") + f"code={urllib.parse.quote(info.master_key)}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["Timestamp"].replace("Z", "+00:00")).timestamp()


def _wake_after(info: Any, instance: str, committed: float) -> tuple[float, float] | None:
    """(raised, woke): when a TASKS_CHANGED was raised after `committed`, and when the
    episode that took it in started."""
    quoted = urllib.parse.quote(instance, safe="")
    status = _durable(info, "GET", f"instances/{quoted}?showHistory=true&showHistoryOutput=false&showInput=false")
    episode: float | None = None
    for event in (status or {}).get("historyEvents") or []:
        if event["EventType"] == ORCHESTRATOR_STARTED:
            episode = _ts(event)
        elif event["EventType"] == EVENT_RAISED and _ts(event) >= committed - 0.002:
            raised = _ts(event)
            return raised, max(episode, raised) if episode is not None else raised
    return None


def measure(info: Any, container: Any, markers: int, label: str) -> tuple[list[float], list[float]]:
    """Per marker: commit → wake, and commit → raised (the blob watcher and on_render_output)."""
    from shared import names
    from shared.adapters.local_batch_backend import LocalBatchBackend
    from shared.tasks import TaskSpec

    job_id = f"wake{int(time.time() * 1000) % 10**10}{label}"
    batch = LocalBatchBackend(info.localbatch_url, key=info.localbatch_key)
    batch.create_job(job_id)
    batch.add_tasks(job_id, [TaskSpec(id="holder", argv=("python3", "-c", "import time; time.sleep(900)"))])
    instance = names.wait_instance_id(job_id, names.RENDER, 0)
    # Not the render phase: POLL_TASKS then asks localbatch only, and the job needs no document.
    _durable(info, "POST", f"orchestrators/{names.AWAIT_TASKS}/{urllib.parse.quote(instance, safe='')}",
             {"jobId": job_id, "phase": "bench", "pollSeconds": 600})
    waits: list[float] = []
    raised: list[float] = []
    try:
        deadline = time.monotonic() + 60
        while (_durable(info, "GET", f"instances/{urllib.parse.quote(instance, safe='')}") or {}) \
                .get("runtimeStatus") != "Running" or batch.task_counts(job_id).running == 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{instance} is not waiting after 60 s")
            time.sleep(0.1)
        time.sleep(1.5)  # past the first POLL_TASKS and its 1 s re-poll: the instance now waits for a marker
        for n in range(markers):
            blob = container.get_blob_client(f"{job_id}/chunks/chunk-{n:04d}.json")
            blob.upload_blob(b'{"exitCode": 0}', overwrite=True)
            committed = time.time()
            until = time.monotonic() + PER_MARKER_TIMEOUT_S
            while (woke := _wake_after(info, instance, committed)) is None:
                if time.monotonic() > until:
                    raise TimeoutError(f"marker {n} did not wake {instance} in {PER_MARKER_TIMEOUT_S:.0f} s")
                time.sleep(0.02)
            raised.append(woke[0] - committed)
            waits.append(woke[1] - committed)
            time.sleep(1.3)  # the event's 1 s re-poll passes, so the next marker finds a plain wait
    finally:
        batch.terminate_job(job_id)
        try:
            _durable(info, "POST", f"instances/{urllib.parse.quote(instance, safe='')}/terminate?reason=bench")
        except OSError:
            pass
    return waits, raised


def stack_dir(size: int, tmp: Path) -> Path:
    return tmp / "stack" if size == 0 else CACHE / f"marker-wake-{size}"


def body(report: Report, smoke: bool) -> None:
    from azure.storage.blob import BlobServiceClient

    from stack.local import LocalStack

    sizes, markers = (SMOKE_SIZES, SMOKE_MARKERS) if smoke else (SIZES, MARKERS)
    details: dict[str, Any] = {}
    # Twice per size: as configured (the safety-net listing every 60 s, so a window of
    # markers may or may not overlap one), and with the listing running throughout (the
    # worst case: every marker competes with it for Azurite).
    runs = [(size, listing) for size in sizes for listing in (False, True)]
    with tempfile.TemporaryDirectory(prefix="bench-wake-") as tmp:
        for size, listing in runs:
            data_dir = Path(tmp) / f"smoke-{size}" if smoke else stack_dir(size, Path(tmp))
            overrides = {"DEVHOST_BLOB_FULL_LISTING_SECONDS": "0.1"} if listing else {}
            with LocalStack(data_dir, settings_overrides=overrides) as info:
                container = BlobServiceClient.from_connection_string(info.storage_connection_string) \
                    .get_container_client("renders")
                seeded, partial = seed(container, size)
                if partial is None:
                    time.sleep(2)  # the watcher's passes after start-up
                    waits, raised = measure(info, container, markers, f"{size}{'l' if listing else ''}")
            if partial is not None:
                report.add(f"{size:,} blobs: marker → wake p95", None, "s", "<=", P95_TARGET_S)
                report.notes.append(f"{size:,} blobs: not measured, seeding stopped at {partial:,} blobs after "
                                    f"{seeded:.0f} s; the next run resumes it ({data_dir})")
                break
            suffix = ", full listing running throughout" if listing else ""
            label = f"{size:,} blobs{suffix}: marker → wake"
            report.add(f"{label} p50", round(percentile(waits, 50), 3), "s")
            report.add(f"{label} p95", round(percentile(waits, 95), 3), "s", "<=", P95_TARGET_S)
            report.add(f"{label} max", round(max(waits), 3), "s")
            report.add(f"  {size:,} blobs{suffix}: marker → event raised (blob watcher, on_render_output) p95",
                       round(percentile(raised, 95), 3), "s")
            dispatch = [w - r for w, r in zip(waits, raised, strict=True)]
            report.add(f"  {size:,} blobs{suffix}: event raised → episode (Durable dispatch) p95",
                       round(percentile(dispatch, 95), 3), "s")
            details[f"{size}{' listing' if listing else ''}"] = {
                "waits": [round(w, 4) for w in waits], "raised": [round(r, 4) for r in raised],
                "seedSeconds": round(seeded, 1)}
    report.details["markerWake"] = details


def seed_only(sizes: list[int], budget: float) -> int:
    """Seeds the cached stacks of these sizes (each for at most budget seconds); 0 once all are full."""
    from azure.storage.blob import BlobServiceClient

    from stack.local import LocalStack

    unfinished = 0
    for size in sizes:
        with LocalStack(stack_dir(size, CACHE)) as info:
            container = BlobServiceClient.from_connection_string(info.storage_connection_string) \
                .get_container_client("renders")
            seconds, partial = seed(container, size, budget)
        state = "complete" if partial is None else f"stopped at {partial:,} blobs; run again to resume"
        print(f"{size:,} blobs: {state} ({seconds:.0f} s, {stack_dir(size, CACHE)})", flush=True)
        unfinished += partial is not None
    return 1 if unfinished else 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.marker_wake")
    parser.add_argument("--seed-only", action="store_true", required=True,
                        help="seed the cached stacks; the measurement runs in bench.event_latency")
    parser.add_argument("--budget", type=float, default=3600.0, help="seconds of seeding per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[s for s in SIZES if s])
    options = parser.parse_args()
    raise SystemExit(seed_only(options.sizes, options.budget))
