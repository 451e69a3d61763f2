"""Event latency: from a scene upload's commit (upload_blob returned) to its orchestration
being Running, over 50 uploads, on the local stack (Azurite → devhost's blob watcher →
on_scene_uploaded → render_job); and from a completion marker's commit to the waiting
orchestration's wake with 0, 10,000 and 100,000 blobs in `renders` (bench/marker_wake.py).

The uploads are small .zip blobs that are not valid bundles: each still starts a job
(the orchestration runs, validate_bundle rejects it, the job fails at once), so 50
measurements do not mean 50 renders. Each upload waits for the previous job to start.

Two measures per upload: "observed" polls the Durable HTTP API every 20 ms until the
instance is past Pending (an upper bound, ≤ 20 ms late); "history" reads the instance's
first OrchestratorStarted timestamp (same clock, no polling delay), split into event
delivery (upload → ExecutionStarted, i.e. start_new) and dispatch (→ first episode).

    python -m bench.event_latency [--smoke]
"""

from __future__ import annotations

import json
import random
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import Report, main, percentile, run_guarded

NAME = "event_latency"
TITLE = "Event latency (upload committed → orchestration Running; marker → orchestration wake)"
UPLOADS = 50
SMOKE_UPLOADS = 3
P95_TARGET_S = 1.0
POLL_S = 0.02
PER_UPLOAD_TIMEOUT_S = 30.0


def _status(devhost_url: str, master_key: str, instance_id: str, history: bool = False) -> dict[str, Any] | None:
    # The Durable HTTP API needs the system or the master key, as in Azure.
    query = f"?code={urllib.parse.quote(master_key)}&showInput=false"
    if history:
        query += "&showHistory=true&showHistoryOutput=false"
    url = f"{devhost_url}/runtime/webhooks/durabletask/instances/{urllib.parse.quote(instance_id, safe='')}{query}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["Timestamp"].replace("Z", "+00:00")).timestamp()


def body(report: Report, uploads: int = UPLOADS) -> None:
    from azure.storage.blob import BlobServiceClient

    from shared.job_document import upload_job_id
    from stack.local import LocalStack

    pauses = random.Random(6)
    observed: list[float] = []
    delivery: list[float] = []
    dispatch: list[float] = []
    total: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp, LocalStack(Path(tmp) / "stack") as info:
        container = BlobServiceClient.from_connection_string(info.storage_connection_string) \
            .get_container_client("scenes")
        time.sleep(2)  # let the blob watcher finish its first passes
        for n in range(uploads):
            blob = container.get_blob_client(f"bench/latency-{n:03d}.zip")
            result = blob.upload_blob(b"this is not a zip file " + str(n).encode(), overwrite=True)
            committed = time.time()
            job_id = upload_job_id(blob.url, str(result["etag"]))
            deadline = time.monotonic() + PER_UPLOAD_TIMEOUT_S
            while True:
                status = _status(info.devhost_url, info.master_key, job_id)
                if status is not None and status["runtimeStatus"] != "Pending":
                    observed.append(time.time() - committed)
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"upload {n}: job {job_id} not running after {PER_UPLOAD_TIMEOUT_S:.0f} s")
                time.sleep(POLL_S)
            status = _status(info.devhost_url, info.master_key, job_id, history=True) or {}
            history = status.get("historyEvents") or []
            started = next(_ts(e) for e in history if e["EventType"] == 0)     # ExecutionStarted
            first_episode = next(_ts(e) for e in history if e["EventType"] == 12)  # OrchestratorStarted
            delivery.append(started - committed)
            dispatch.append(first_episode - started)
            total.append(first_episode - committed)
            # A random pause, so uploads do not fall into step with the blob watcher's polling.
            time.sleep(pauses.uniform(0.1, 0.7))
    report.add("observed (polling) p50", round(percentile(observed, 50), 3), "s")
    report.add("observed (polling) p95", round(percentile(observed, 95), 3), "s", "<=", P95_TARGET_S)
    report.add("observed (polling) max", round(max(observed), 3), "s")
    report.add("from history p50", round(percentile(total, 50), 3), "s")
    report.add("from history p95", round(percentile(total, 95), 3), "s", "<=", P95_TARGET_S)
    report.add("from history max", round(max(total), 3), "s")
    report.add("  upload → start_new (blob watcher, event delivery) p50", round(percentile(delivery, 50), 3), "s")
    report.add("  upload → start_new p95", round(percentile(delivery, 95), 3), "s")
    report.add("  start_new → first episode p50", round(percentile(dispatch, 50), 3), "s")
    report.add("  start_new → first episode p95", round(percentile(dispatch, 95), 3), "s")
    report.details.update(uploads=uploads, observed=[round(x, 4) for x in observed],
                          fromHistory=[round(x, 4) for x in total], delivery=[round(x, 4) for x in delivery],
                          dispatch=[round(x, 4) for x in dispatch])


def run(smoke: bool = False) -> Report:
    from bench import marker_wake

    def both(report: Report) -> None:
        body(report, SMOKE_UPLOADS if smoke else UPLOADS)
        marker_wake.body(report, smoke)

    return run_guarded(NAME, TITLE, both)


if __name__ == "__main__":
    raise SystemExit(main(run))
