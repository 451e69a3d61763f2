"""Outbound lifecycle events: RenderPipeline.Job.Queued|Started|Completed|Failed|Cancelled|Requeued|Paused|Resumed."""

from __future__ import annotations

import logging
from typing import Any

from shared.bootstrap import Services
from shared.errors import PipelineError
from shared.ports import LifecycleEvent

log = logging.getLogger(__name__)

EVENT_PREFIX = "RenderPipeline.Job."
REPEATABLE = frozenset({"Paused", "Resumed"})


def lifecycle_event(kind: str, doc: dict[str, Any], now: str) -> LifecycleEvent:
    """The event id is derived from job, run and kind, so a retried activity republishes the same
    event; events that may happen more than once in a run (Paused, Resumed) add when."""
    job_id = doc["id"]
    run = int(doc.get("run") or 1)
    key = f"{job_id}:{kind.lower()}" + (f":run{run}" if run > 1 else "")
    if kind in REPEATABLE:
        key += f":{now}"
    data = {
        "jobId": job_id,
        "status": doc["status"],
        "source": doc.get("source"),
        "progress": doc.get("progress"),
        "outputs": doc.get("outputs"),
        "error": doc.get("error"),
    }
    data["run"] = run
    return LifecycleEvent(id=key, event_type=EVENT_PREFIX + kind,
                          subject=f"/jobs/{job_id}", data=data, event_time=now)


def publish(svc: Services, kind: str, doc: dict[str, Any]) -> None:
    """Publishing is best effort after the state change it reports: a lost event is logged, not fatal,
    unless the topic is only briefly unreachable, in which case the activity's retry sends it again."""
    event = lifecycle_event(kind, doc, svc.now())
    try:
        svc.events.publish([event])
    except PipelineError as exc:
        if exc.transient:
            raise
        log.error("could not publish %s for job %s: %s", event.event_type, doc["id"], exc)
