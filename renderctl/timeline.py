"""`renderctl history`: an orchestration's history events as a timeline for ops.

Each activity, sub-orchestration (a wait) and timer becomes one row: start, duration,
outcome. Pairs are matched the way the Durable runtime links them: a completion names
its TaskScheduledId; a TimerFired its TimerId.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

_STARTS = {"TaskScheduled": "activity", "SubOrchestrationInstanceCreated": "wait", "TimerCreated": "timer"}
_ENDS = {"TaskCompleted": "completed", "TaskFailed": "failed",
         "SubOrchestrationInstanceCompleted": "completed", "SubOrchestrationInstanceFailed": "failed",
         "TimerFired": "fired"}


@dataclass
class Step:
    kind: str
    name: str
    start: str
    end: str | None = None
    outcome: str = "running"

    @property
    def seconds(self) -> float | None:
        begin, finish = _time(self.start), _time(self.end)
        return (finish - begin).total_seconds() if begin and finish else None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def steps(history: list[dict[str, Any]]) -> list[Step]:
    out: list[Step] = []
    open_by_id: dict[Any, Step] = {}
    for event in history:
        kind = event.get("EventType")
        when = str(event.get("Timestamp") or "")
        if kind in _STARTS:
            name = " ".join(str(event[k]) for k in ("Name", "InstanceId") if event.get(k))
            if kind == "TimerCreated":
                name = f"until {event.get('FireAt', '?')}"
            step = Step(_STARTS[kind], name, when)
            out.append(step)
            open_by_id[(_STARTS[kind], event.get("EventId"))] = step
        elif kind in _ENDS:
            family = "timer" if kind == "TimerFired" else ("wait" if kind.startswith("Sub") else "activity")
            ref = event.get("TimerId") if kind == "TimerFired" else event.get("TaskScheduledId")
            step_or_none = open_by_id.pop((family, ref), None)
            if step_or_none is not None:
                step_or_none.end, step_or_none.outcome = when, _ENDS[kind]
        elif kind == "EventRaised":
            out.append(Step("event", str(event.get("Name") or ""), when, when, "received"))
        elif kind in ("ExecutionStarted", "ExecutionCompleted", "ExecutionTerminated", "ExecutionFailed"):
            outcome = str(event.get("OrchestrationStatus") or kind.removeprefix("Execution").lower())
            out.append(Step("orchestration", kind.removeprefix("Execution").lower(), when, when, outcome))
    return out


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"
