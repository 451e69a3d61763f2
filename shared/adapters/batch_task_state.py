"""Batch's view of a task (its REST JSON) → the port's TaskState.

SDK models are mappings of their REST JSON; reading that directly is what keeps
listing 10,000 tasks fast (the models' attributes convert on every read).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from shared.tasks import TaskResult, TaskState, TaskStatus

# What list and get ask for: enough for TaskState, nothing the nodes wrote.
TASK_FIELDS = ["id", "state", "executionInfo", "dependsOn"]
_STATUS = {
    "active": TaskStatus.ACTIVE,
    "preparing": TaskStatus.RUNNING,  # on a node, downloading resource files
    "running": TaskStatus.RUNNING,
    "completed": TaskStatus.COMPLETED,
}


def task_state(task: Mapping[str, Any], *, job_ended: bool = False,
               failed_ids: set[str] | frozenset[str] = frozenset()) -> TaskState:
    """Two things Batch leaves implicit are made explicit, as the port promises: an
    active task of a terminated job never runs, so it is reported completed and
    failed; and an active task blocked by a failed dependency says which one."""
    task_id = str(task["id"])
    status = _STATUS.get(str(task.get("state")), TaskStatus.ACTIVE)
    info: Mapping[str, Any] = task.get("executionInfo") or {}
    retries = int(info.get("retryCount") or 0)
    if status is TaskStatus.ACTIVE:
        if job_ended:
            return TaskState(id=task_id, status=TaskStatus.COMPLETED, result=TaskResult.FAILURE,
                             retry_count=retries, failure="terminated")
        blocker = _blocking_dependency(task, failed_ids)
        return TaskState(id=task_id, status=status, retry_count=retries,
                         failure=f"blocked by failed dependency {blocker}" if blocker else None)
    result = None
    if status is TaskStatus.COMPLETED:
        result = TaskResult.FAILURE if failed(task) else TaskResult.SUCCESS
    failure_info: Mapping[str, Any] = info.get("failureInfo") or {}
    exit_code = info.get("exitCode")
    return TaskState(id=task_id, status=status, result=result,
                     exit_code=int(exit_code) if exit_code is not None else None, retry_count=retries,
                     start_time=iso_utc(info.get("startTime")), end_time=iso_utc(info.get("endTime")),
                     failure=failure_info.get("message") or failure_info.get("code"))


def failed(task: Mapping[str, Any]) -> bool:
    info: Mapping[str, Any] = task.get("executionInfo") or {}
    if task.get("state") != "completed" or not info:
        return False
    if info.get("result") is not None:
        return bool(info["result"] == "failure")
    return info.get("exitCode") != 0 or bool(info.get("failureInfo"))  # answers without `result`


def wire_text(value: object) -> str:
    """An SDK enum member (or the plain string of a value it does not know) as its wire value."""
    return str(value.value) if isinstance(value, Enum) else str(value)


def iso_utc(value: Any) -> str | None:
    """Batch's timestamp (ISO 8601, up to 7 fractional digits) as fixed-width UTC ISO 8601,
    so the strings also sort as times."""
    if not value:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _blocking_dependency(task: Mapping[str, Any], failed_ids: set[str] | frozenset[str]) -> str | None:
    """The first failed dependency: named ids in order, then ranges in ascending id order."""
    depends: Mapping[str, Any] = task.get("dependsOn") or {}
    if not depends or not failed_ids:
        return None
    for dep in depends.get("taskIds") or []:
        if dep in failed_ids:
            return str(dep)
    numeric = sorted(int(i) for i in failed_ids if i.isdigit())
    for span in depends.get("taskIdRanges") or []:
        for number in numeric:
            if int(span["start"]) <= number <= int(span["end"]):
                return str(number)
    return None
