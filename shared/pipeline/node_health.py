"""Node health: a node on which three attempts in a row failed (of any job) is taken out of scheduling.

Each node has a small JSON blob in the renders container, `~nodes/<nodeId>.json`: its last
attempts (job, task, ok, when) and its run of failures. A blob, not a Cosmos document: the
jobs container holds job documents only (its listing is GET /api/jobs), and a blob read and
write per finished attempt is the cheapest durable store there is. A node taken out also gets
`~nodes/disabled/<nodeId>.json`, so GET /api/health lists only those.

On Azure Batch the node's scheduling is disabled (running tasks finish; no new ones come) with
the reason logged by the adapter, and `RenderPipeline.Node.Disabled` is published. A backend
without node control (localbatch, one machine) gets the record and the health listing only.

Two jobs finishing attempts on one node at the same moment may both rewrite its blob (last
writer wins, an attempt may go uncounted): a missed count delays a disable by one failure,
which is the price of not locking across jobs.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.bootstrap import Services
from shared.errors import NotFoundError, PipelineError
from shared.pipeline import layout
from shared.ports import LifecycleEvent

log = logging.getLogger(__name__)

FAILURES_TO_DISABLE = 3
RECENT = 10                 # attempts kept per node
MAX_LISTED = 100            # disabled nodes GET /api/health lists
NODE_EVENT = "RenderPipeline.Node.Disabled"
# Batch node ids (`tvmps_<hex>_d`), localbatch host names (letters, digits, dots, hyphens).
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Attempt:
    """A finished attempt, counted on its node once (when watching first records its result)."""

    job_id: str
    task_id: str
    node: str | None
    ok: bool
    reason: str | None
    ended_at: str | None


def valid_node_id(node_id: str) -> bool:
    return bool(_NODE_ID.fullmatch(node_id)) and ".." not in node_id


def failures_in_a_row(recent: Sequence[dict[str, Any]]) -> int:
    """Failed attempts at the end of the node's history, in the order they ended."""
    count = 0
    for attempt in sorted(recent, key=lambda a: str(a.get("at") or "")):
        count = 0 if attempt.get("ok") else count + 1
    return count


def _read(svc: Services, blob: str) -> dict[str, Any] | None:
    try:
        data = json.loads(svc.blobs.download(svc.settings.renders_container, blob, max_bytes=64 * 1024))
    except NotFoundError:
        return None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _write(svc: Services, blob: str, body: dict[str, Any]) -> None:
    svc.blobs.upload(svc.settings.renders_container, blob, json.dumps(body).encode(), overwrite=True,
                     content_type="application/json")


def record_attempts(svc: Services, attempts: Iterable[Attempt]) -> None:
    """Count each finished attempt on its node; take out a node after FAILURES_TO_DISABLE in a row."""
    for attempt in attempts:
        if not attempt.node or not valid_node_id(attempt.node):
            continue
        try:
            _record(svc, attempt)
        except PipelineError as exc:  # health bookkeeping never fails a poll
            log.warning("node %s: attempt %s/%s not counted: %s", attempt.node, attempt.job_id,
                        attempt.task_id, exc)


def _record(svc: Services, attempt: Attempt) -> None:
    assert attempt.node is not None
    node = attempt.node
    blob = layout.node_blob(node)
    record = _read(svc, blob) or {"nodeId": node, "recent": []}
    key = f"{attempt.job_id}/{attempt.task_id}"
    recent = [a for a in record.get("recent") or [] if isinstance(a, dict) and a.get("attempt") != key]
    recent.append({"attempt": key, "ok": attempt.ok, "reason": attempt.reason, "at": attempt.ended_at})
    recent = sorted(recent, key=lambda a: str(a.get("at") or ""))[-RECENT:]
    record.update(nodeId=node, recent=recent, failuresInARow=failures_in_a_row(recent))
    disable = record["failuresInARow"] >= FAILURES_TO_DISABLE and not record.get("disabledAt")
    if disable:
        reason = (f"{record['failuresInARow']} attempts in a row failed on this node, the last "
                  f"{key} ({attempt.reason or 'failed'})")
        record.update(disabledAt=attempt.ended_at, reason=reason,
                      schedulingDisabled=_disable_scheduling(svc, node, reason))
    _write(svc, blob, record)
    if disable:
        _write(svc, layout.disabled_node_blob(node), {k: record[k] for k in (
            "nodeId", "disabledAt", "reason", "schedulingDisabled", "failuresInARow")})
        _publish(svc, record)


def _disable_scheduling(svc: Services, node: str, reason: str) -> bool:
    if svc.settings.render_backend != "azure_batch":
        log.warning("node %s is unhealthy (%s); this backend cannot take it out of scheduling", node, reason)
        return False
    try:
        svc.backend.disable_node_scheduling(node, reason)
    except PipelineError as exc:
        if exc.transient:
            raise
        log.warning("node %s: scheduling not disabled: %s", node, exc)
        return False
    return True


def _publish(svc: Services, record: dict[str, Any]) -> None:
    node = record["nodeId"]
    event = LifecycleEvent(id=f"node:{node}:disabled:{record.get('disabledAt')}", event_type=NODE_EVENT,
                           subject=f"/nodes/{node}", event_time=svc.now(),
                           data={"nodeId": node, "reason": record["reason"],
                                 "schedulingDisabled": record["schedulingDisabled"]})
    try:
        svc.events.publish([event])
    except PipelineError as exc:
        log.error("could not publish %s for node %s: %s", NODE_EVENT, node, exc)


def disabled_nodes(svc: Services) -> list[dict[str, Any]]:
    """The nodes taken out (at most MAX_LISTED), for GET /api/health."""
    listed = []
    for info in svc.blobs.list(svc.settings.renders_container, layout.DISABLED_NODES_PREFIX):
        record = _read(svc, info.name)
        if record is not None:
            listed.append({k: record.get(k) for k in ("nodeId", "disabledAt", "reason", "schedulingDisabled")})
        if len(listed) >= MAX_LISTED:
            break
    return listed


def health_listing(svc: Services) -> dict[str, Any]:
    """GET /api/health's `nodes`: the disabled ones; a storage failure shows in the storage check."""
    try:
        return {"disabled": disabled_nodes(svc)}
    except Exception as exc:  # the health endpoint must answer whatever storage does
        return {"disabled": [], "error": type(exc).__name__}
