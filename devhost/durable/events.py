"""History events in the JSON shape the Durable extension sends to the Python SDK.

The SDK parses `EventType` (DTFx's numbering), `EventId`, `IsPlayed` and `Timestamp`
and reads the rest by name (Name, Input, Result, Reason, Details, TaskScheduledId,
TimerId, FireAt...). The same dicts are stored in the task hub and shown by the
HTTP API with `showHistory=true`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

EXECUTION_STARTED = 0
EXECUTION_COMPLETED = 1
EXECUTION_TERMINATED = 3
TASK_SCHEDULED = 4
TASK_COMPLETED = 5
TASK_FAILED = 6
SUB_ORCHESTRATION_CREATED = 7
SUB_ORCHESTRATION_COMPLETED = 8
SUB_ORCHESTRATION_FAILED = 9
TIMER_CREATED = 10
TIMER_FIRED = 11
ORCHESTRATOR_STARTED = 12
ORCHESTRATOR_COMPLETED = 13
EVENT_RAISED = 15

Event = dict[str, Any]


def iso(ts: float) -> str:
    """The timestamp format the SDK's own client and actions use (UTC, microseconds, Z)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> float:
    from dateutil.parser import isoparse

    value = isoparse(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def now() -> float:
    return time.time()


def _event(event_type: int, ts: float, event_id: int = -1, **fields: Any) -> Event:
    return {"EventType": event_type, "EventId": event_id, "IsPlayed": False,
            "Timestamp": iso(ts), **fields}


def orchestrator_started(ts: float) -> Event:
    return _event(ORCHESTRATOR_STARTED, ts)


def orchestrator_completed(ts: float) -> Event:
    return _event(ORCHESTRATOR_COMPLETED, ts)


def execution_started(ts: float, *, name: str, input_json: str | None, instance_id: str,
                      execution_id: str, version: str | None,
                      parent: dict[str, Any] | None) -> Event:
    return _event(EXECUTION_STARTED, ts, Name=name, Input=input_json, Version=version or "",
                  OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
                  ParentInstance=parent, Tags=None)


def execution_completed(ts: float, *, status: str, result: str | None,
                        failure: dict[str, Any] | None = None) -> Event:
    return _event(EXECUTION_COMPLETED, ts, OrchestrationStatus=status, Result=result,
                  FailureDetails=failure)


def execution_terminated(ts: float, reason: str | None) -> Event:
    return _event(EXECUTION_TERMINATED, ts, Input=reason)


def task_scheduled(ts: float, task_id: int, name: str, input_json: str | None) -> Event:
    return _event(TASK_SCHEDULED, ts, task_id, Name=name, Input=input_json, Version="")


def task_completed(ts: float, task_id: int, result_json: str | None) -> Event:
    return _event(TASK_COMPLETED, ts, TaskScheduledId=task_id, Result=result_json)


# The SDK shows a failure as f"{Reason} \n {Details}": an empty Details reads better than None.
def task_failed(ts: float, task_id: int, reason: str, details: str | None) -> Event:
    return _event(TASK_FAILED, ts, TaskScheduledId=task_id, Reason=reason, Details=details or "")


def sub_orchestration_created(ts: float, task_id: int, name: str, instance_id: str,
                              input_json: str | None) -> Event:
    return _event(SUB_ORCHESTRATION_CREATED, ts, task_id, Name=name, InstanceId=instance_id,
                  Input=input_json, Version="")


def sub_orchestration_completed(ts: float, task_id: int, result_json: str | None) -> Event:
    return _event(SUB_ORCHESTRATION_COMPLETED, ts, TaskScheduledId=task_id, Result=result_json)


def sub_orchestration_failed(ts: float, task_id: int, reason: str, details: str | None) -> Event:
    return _event(SUB_ORCHESTRATION_FAILED, ts, TaskScheduledId=task_id, Reason=reason,
                  Details=details or "")


def timer_created(ts: float, timer_id: int, fire_at: str) -> Event:
    return _event(TIMER_CREATED, ts, timer_id, FireAt=fire_at)


def timer_fired(ts: float, timer_id: int, fire_at: str) -> Event:
    return _event(TIMER_FIRED, ts, TimerId=timer_id, FireAt=fire_at)


def event_raised(ts: float, name: str, input_json: str | None) -> Event:
    return _event(EVENT_RAISED, ts, Name=name, Input=input_json)
