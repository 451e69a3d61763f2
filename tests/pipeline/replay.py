"""A small in-memory driver for orchestrator unit tests.

It feeds the registered orchestrator functions histories in the Durable
extension's JSON shape and runs them through the SDK's own replay code, carrying
out the actions they return: activities (from a table of Python callables),
sub-orchestrations, timers, external events and continue_as_new. It is not the
local host (devhost/ is); it exists so orchestration logic can be tested in
milliseconds with fakes.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

(CALL_ACTIVITY, CALL_ACTIVITY_RETRY, CALL_SUB, CALL_SUB_RETRY,
 CONTINUE_AS_NEW, CREATE_TIMER, WAIT_EVENT) = range(7)
T0 = datetime(2026, 1, 1)


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _flatten(actions: list[Any]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for item in actions:
        if isinstance(item, list):
            flat += _flatten(item)
        elif "compoundActions" in item:
            flat += _flatten(item["compoundActions"])
        else:
            flat.append(item)
    return flat


def _ids(actions: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Task ids as the SDK numbers them: external-event waits are keyed by name and take none."""
    numbered, seq = [], 0
    for action in actions:
        if action["actionType"] == WAIT_EVENT:
            numbered.append((-1, action))
        else:
            numbered.append((seq, action))
            seq += 1
    return numbered


@dataclass
class InstanceRun:
    instance_id: str
    name: str
    status: str = "Running"
    output: Any = None
    error: str | None = None
    custom_status: Any = None
    history: list[dict[str, Any]] = field(default_factory=list)
    generations: int = 1
    episodes: int = 0
    max_history: int = 0


class Replay:
    """Runs orchestrations to completion. `activities[name](input) -> result` (raise to fail)."""

    def __init__(self, functions: list[Any], activities: dict[str, Callable[[Any], Any]]) -> None:
        self.orchestrators = {}
        for f in functions:
            if any(b.type == "orchestrationTrigger" for b in f.get_bindings()):
                self.orchestrators[f.get_function_name()] = f.get_user_function()
        self.activities = activities
        self.events: dict[str, deque[tuple[str, Any]]] = defaultdict(deque)
        self.runs: dict[str, InstanceRun] = {}
        self.clock = T0
        self.on_quiet: Callable[[], None] | None = None  # called when only timers are left
        self.on_continue: Callable[[InstanceRun, Any], None] | None = None  # at each continue_as_new
        self.activity_failures: list[tuple[str, str]] = []

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        self.events[instance_id].append((name, data))

    def run(self, name: str, data: Any, instance_id: str) -> InstanceRun:
        run = InstanceRun(instance_id, name)
        self.runs[instance_id] = run
        self._execute(run, data)
        return run

    def _event(self, kind: int, **fields: Any) -> dict[str, Any]:
        return {"EventType": kind, "EventId": fields.pop("EventId", -1), "IsPlayed": False,
                "Timestamp": _ts(self.clock), **fields}

    def _execute(self, run: InstanceRun, data: Any) -> None:
        handle = self.orchestrators[run.name]
        history = [self._event(12), self._event(0, Name=run.name, Input=json.dumps(data), Version="")]
        done_actions = 0
        timers: dict[int, datetime] = {}
        waits: list[tuple[int, str]] = []
        while True:
            ctx = {"history": history, "input": json.dumps(data), "instanceId": run.instance_id,
                   "isReplaying": False, "parentInstanceId": None, "upperSchemaVersion": 2}
            result = json.loads(handle(json.dumps(ctx)))
            run.episodes += 1
            run.custom_status = result.get("customStatus")
            run.max_history = max(run.max_history, len(history))
            for event in history:
                event["IsPlayed"] = True
            history.append(self._event(13))
            flat = _ids(_flatten(result.get("actions", [])))
            restart = next((a for _, a in flat[done_actions:] if a["actionType"] == CONTINUE_AS_NEW), None)
            if restart is not None:
                raw = restart.get("input")
                data = json.loads(raw) if isinstance(raw, str) else raw
                run.generations += 1
                if self.on_continue is not None:
                    self.on_continue(run, data)
                history = [self._event(12), self._event(0, Name=run.name, Input=json.dumps(data), Version="")]
                done_actions, timers, waits = 0, {}, []
                continue
            if result.get("isDone"):
                run.status, run.output, run.history = "Completed", result.get("output"), history
                return
            if result.get("error"):
                run.status, run.error, run.history = "Failed", result["error"], history
                return
            new, done_actions = flat[done_actions:], len(flat)
            completions: list[dict[str, Any]] = [self._event(12)]
            for idx, action in new:
                kind = action["actionType"]
                if kind in (CALL_ACTIVITY, CALL_ACTIVITY_RETRY):
                    history.append(self._event(4, EventId=idx, Name=action["functionName"]))
                    completions.append(self._activity(idx, action))
                elif kind in (CALL_SUB, CALL_SUB_RETRY):
                    history.append(self._event(7, EventId=idx, Name=action["functionName"],
                                               InstanceId=action["instanceId"]))
                    completions.append(self._sub(idx, action))
                elif kind == CREATE_TIMER:
                    fire_at = datetime.strptime(action["fireAt"][:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
                    history.append(self._event(10, EventId=idx, FireAt=action["fireAt"]))
                    if not action.get("isCanceled"):
                        timers[idx] = fire_at
                elif kind == WAIT_EVENT:
                    waits.append((idx, action["externalEventName"]))
            # cancelled timers are reported in later action lists
            for idx, action in flat:
                if action["actionType"] == CREATE_TIMER and action.get("isCanceled"):
                    timers.pop(idx, None)
            if not completions:
                continue
            if len(completions) == 1:  # nothing finished at once: deliver an event, else fire a timer
                queue = self.events[run.instance_id]
                if not queue and self.on_quiet is not None:
                    self.on_quiet()
                if queue and waits:
                    name, payload = queue.popleft()
                    completions.append(self._event(15, Name=name, Input=json.dumps(payload)))
                    waits = [w for w in waits if w[1] != name]
                elif timers:
                    idx = min(timers, key=lambda i: timers[i])
                    self.clock = max(self.clock, timers.pop(idx))
                    completions.append(self._event(11, TimerId=idx, FireAt=_ts(self.clock)))
                else:
                    raise RuntimeError(f"{run.instance_id} waits for something that never comes "
                                       f"(activity failures: {self.activity_failures[-3:]})")
            history += completions

    def _activity(self, idx: int, action: dict[str, Any]) -> dict[str, Any]:
        """Retries of call_activity_with_retry happen here, out of history: the extension's
        timer-and-reschedule dance is devhost's business, not this driver's."""
        payload = json.loads(action["input"]) if action.get("input") is not None else None
        attempts = action.get("retryOptions", {}).get("maxNumberOfAttempts", 1)
        for attempt in range(1, attempts + 1):
            try:
                result = self.activities[action["functionName"]](payload)
            except Exception as exc:
                self.activity_failures.append((action["functionName"], str(exc)))
                if attempt == attempts:
                    return self._event(6, TaskScheduledId=idx, Reason=str(exc), Details=type(exc).__name__)
                continue
            return self._event(5, TaskScheduledId=idx, Result=json.dumps(result))
        raise AssertionError("unreachable")

    def _sub(self, idx: int, action: dict[str, Any]) -> dict[str, Any]:
        payload = json.loads(action["input"]) if action.get("input") is not None else None
        child = self.run(action["functionName"], payload, action["instanceId"])
        if child.status == "Completed":
            return self._event(8, TaskScheduledId=idx, Result=json.dumps(child.output))
        return self._event(9, TaskScheduledId=idx, Reason=str(child.error), Details="")
