"""The extension's side of an episode: which events to deliver, and what the
returned actions mean (task ids, history events, work items, retries, completion).

The SDK numbers tasks with a counter in the order it meets them while replaying:
every new action in order, and for `*_with_retry` one more number when an attempt
fails (its retry timer) and one when that timer fires (the next attempt). To assign
the same numbers here without guessing the interleaving, an episode delivers at most
one retry-driving event and delivers it last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from devhost.durable import actions as A
from devhost.durable import events as E

TERMINAL = ("Completed", "Failed", "Terminated")


def new_state() -> dict[str, Any]:
    return {"seq": 0, "seen": 0, "action_ids": [], "cancelled": [], "tasks": {}, "groups": {},
            "waits": {}, "delivered": {}}


@dataclass
class ChildStart:
    instance_id: str
    name: str
    input_json: str | None
    task_id: int


@dataclass
class Outcome:
    status: str
    state: dict[str, Any]
    events: list[E.Event] = field(default_factory=list)
    activities: list[tuple[int, str, str | None]] = field(default_factory=list)
    timers: list[tuple[int, float, E.Event]] = field(default_factory=list)
    cancel_timers: list[int] = field(default_factory=list)
    children: list[ChildStart] = field(default_factory=list)
    messages: list[E.Event] = field(default_factory=list)
    output_json: str | None = None
    custom_status_json: str | None = None
    continue_input: str | None = None
    failure: tuple[str, str | None] | None = None  # for a parent orchestration


@dataclass
class Message:
    id: int
    execution_id: str | None
    event: E.Event


def retry_group(state: dict[str, Any], event: E.Event) -> str | None:
    """The retry group an event drives forward (an attempt failed, or its retry timer fired)."""
    kind = event.get("EventType")
    if kind in (E.TASK_FAILED, E.SUB_ORCHESTRATION_FAILED):
        task = state["tasks"].get(str(event.get("TaskScheduledId")))
    elif kind == E.TIMER_FIRED:
        task = state["tasks"].get(str(event.get("TimerId")))
        if task is not None and task["kind"] != "retry_timer":
            return None
    else:
        return None
    return None if task is None else task.get("group")


def outstanding_waits(state: dict[str, Any]) -> dict[str, int]:
    return {name: count - state["delivered"].get(name, 0) for name, count in state["waits"].items()}


def select_batch(state: dict[str, Any], execution_id: str,
                 messages: list[Message]) -> tuple[list[Message], list[int]]:
    """Messages to deliver now, and ids of stale ones (an older execution) to drop.

    External events wait in the inbox until the orchestrator waits for their name, so
    events raised early are delivered one per wait, in the order they were raised.
    """
    batch: list[Message] = []
    drop: list[int] = []
    free = outstanding_waits(state)
    for message in messages:
        if message.execution_id is not None and message.execution_id != execution_id:
            drop.append(message.id)
            continue
        kind = message.event.get("EventType")
        if kind == E.EXECUTION_TERMINATED:
            return [message], drop
        if kind == E.EVENT_RAISED:
            name = str(message.event.get("Name"))
            if free.get(name, 0) <= 0:
                continue
            free[name] -= 1
            batch.append(message)
            continue
        batch.append(message)
        if retry_group(state, message.event) is not None:
            break
    return batch, drop


def plan_terminate(state: dict[str, Any], ts: float, reason: str | None) -> Outcome:
    out = Outcome(status="Terminated", state=state)
    out.events = [E.orchestrator_started(ts), E.execution_terminated(ts, reason),
                  E.execution_completed(ts, status="Terminated", result=json.dumps(reason)),
                  E.orchestrator_completed(ts)]
    out.output_json = json.dumps(reason)
    out.failure = (f"The sub-orchestration was terminated: {reason}", None)
    return out


class _Planner:
    def __init__(self, state: dict[str, Any], *, name: str, instance_id: str, ts: float) -> None:
        self.state = state
        self.name = name
        self.instance_id = instance_id
        self.ts = ts
        self.out = Outcome(status="Running", state=state)

    def next_id(self) -> int:
        task_id = int(self.state["seq"])
        self.state["seq"] = task_id + 1
        return task_id

    def schedule_activity(self, task_id: int, name: str, input_json: str | None) -> None:
        self.out.events.append(E.task_scheduled(self.ts, task_id, name, input_json))
        self.out.activities.append((task_id, name, input_json))

    def schedule_child(self, task_id: int, name: str, input_json: str | None,
                       child_id: str | None) -> None:
        child = child_id or f"{self.instance_id}:{task_id}"
        self.out.events.append(E.sub_orchestration_created(self.ts, task_id, name, child, input_json))
        self.out.children.append(ChildStart(child, name, input_json, task_id))

    def schedule_timer(self, task_id: int, fire_ts: float, fire_at: str, cancelled: bool) -> None:
        self.out.events.append(E.timer_created(self.ts, task_id, fire_at))
        if not cancelled:
            self.out.timers.append((task_id, fire_ts, E.timer_fired(fire_ts, task_id, fire_at)))

    def new_action(self, action: dict[str, Any]) -> str | None:
        """Schedule one new action; returns an error when the action is not supported."""
        kind = action.get("actionType")
        task_id = self.next_id() if kind in A.SEQUENCED else None
        self.state["action_ids"].append(task_id)
        tasks = self.state["tasks"]
        if kind in A.UNSUPPORTED:
            return f"devhost does not support action type {kind} (durable entities, call_http)"
        if kind == A.WAIT_FOR_EXTERNAL_EVENT:
            event_name = action.get("externalEventName")
            self.state["waits"][event_name] = self.state["waits"].get(event_name, 0) + 1
            return None
        assert task_id is not None
        if kind == A.CREATE_TIMER:
            fire_at = str(action.get("fireAt"))
            tasks[str(task_id)] = {"kind": "timer"}
            self.schedule_timer(task_id, E.parse_iso(fire_at), fire_at, bool(action.get("isCanceled")))
        elif kind in (A.CALL_ACTIVITY, A.CALL_ACTIVITY_WITH_RETRY):
            group = self._open_group(task_id, action, "activity") if kind == A.CALL_ACTIVITY_WITH_RETRY \
                else None
            tasks[str(task_id)] = {"kind": "activity", "group": group}
            self.schedule_activity(task_id, str(action.get("functionName")), action.get("input"))
        elif kind in (A.CALL_SUB_ORCHESTRATOR, A.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            group = self._open_group(task_id, action, "suborch") \
                if kind == A.CALL_SUB_ORCHESTRATOR_WITH_RETRY else None
            tasks[str(task_id)] = {"kind": "suborch", "group": group}
            self.schedule_child(task_id, str(action.get("functionName")), action.get("input"),
                                action.get("instanceId"))
        elif kind == A.CONTINUE_AS_NEW:
            self.out.continue_input = action.get("input")
        else:
            return f"unknown action type {kind}"
        return None

    def _open_group(self, task_id: int, action: dict[str, Any], kind: str) -> str:
        policy = A.RetryPolicy.from_action(action)
        self.state["groups"][str(task_id)] = {
            "kind": kind, "name": action.get("functionName"), "input": action.get("input"),
            "instance": action.get("instanceId"), "policy": policy.to_json(), "attempts": 1,
            "first": self.ts, "error": None, "expired": False}
        return str(task_id)

    def retry_event(self, group_id: str, event: E.Event) -> None:
        """What DTFx's retry interceptor does on a failed attempt or a fired retry timer."""
        group = self.state["groups"][group_id]
        policy = A.RetryPolicy.from_json(group["policy"])
        if event["EventType"] != E.TIMER_FIRED:
            group["error"] = [event.get("Reason") or "", event.get("Details")]
            delay = policy.delay_seconds(group["attempts"])
            if policy.expired(group["first"], self.ts):
                group["expired"] = True
                delay = 0.0
            timer_id = self.next_id()
            self.state["tasks"][str(timer_id)] = {"kind": "retry_timer", "group": group_id}
            fire_ts = self.ts + delay
            self.schedule_timer(timer_id, fire_ts, E.iso(fire_ts), False)
            return
        if group["attempts"] >= policy.max_attempts:
            return  # the SDK fails the task with the last error
        task_id = self.next_id()
        group["attempts"] += 1
        self.state["tasks"][str(task_id)] = {"kind": group["kind"], "group": group_id}
        if group["expired"]:
            # The retry timeout passed: the SDK still waits for this attempt, so fail it at once.
            reason, details = group["error"] or ["", None]
            self.out.events.append(E.task_scheduled(self.ts, task_id, group["name"], group["input"]))
            failed = E.task_failed if group["kind"] == "activity" else E.sub_orchestration_failed
            self.out.messages.append(failed(self.ts, task_id, f"Retry timeout expired. {reason}", details))
        elif group["kind"] == "activity":
            self.schedule_activity(task_id, group["name"], group["input"])
        else:
            self.schedule_child(task_id, group["name"], group["input"], group["instance"])

    def cancelled_timers(self, flat: list[dict[str, Any]]) -> None:
        seen = self.state["seen"]
        for action, task_id in zip(flat[:seen], self.state["action_ids"], strict=False):
            if (action.get("actionType") == A.CREATE_TIMER and action.get("isCanceled")
                    and task_id is not None and task_id not in self.state["cancelled"]):
                self.state["cancelled"].append(task_id)
                self.out.cancel_timers.append(task_id)


def plan_episode(state: dict[str, Any], *, name: str, instance_id: str, ts: float,
                 batch: list[E.Event], result: A.EpisodeResult) -> Outcome:
    """Turn an episode's result into history events, work and the instance's new status."""
    planner = _Planner(state, name=name, instance_id=instance_id, ts=ts)
    out = planner.out
    out.events.append(E.orchestrator_started(ts))
    out.events.extend(batch)
    for event in batch:
        if event.get("EventType") == E.EVENT_RAISED:
            event_name = event.get("Name")
            state["delivered"][event_name] = state["delivered"].get(event_name, 0) + 1
    out.custom_status_json = result.custom_status_json
    error = result.error
    ending = result.is_done or error is not None
    if not ending:
        planner.cancelled_timers(result.actions)
    for action in result.actions[state["seen"]:]:
        problem = planner.new_action(action)
        if problem and error is None:
            error = problem
    state["seen"] = len(result.actions)
    if batch and error is None and not result.is_done:
        group_id = retry_group(state, batch[-1])
        if group_id is not None:
            planner.retry_event(group_id, batch[-1])
    if error is not None:
        message = f"Orchestrator function '{name}' failed: {error}"
        _finish(out, "Failed", json.dumps(message), ts)
        out.events[-2]["FailureDetails"] = {"ErrorType": "OrchestrationFailure", "ErrorMessage": message}
        out.failure = (message, None)
    elif out.continue_input is not None or (result.is_done and _has_continue(result.actions)):
        _finish(out, "ContinuedAsNew", out.continue_input, ts)
        out.status = "ContinuedAsNew"
    elif result.is_done:
        _finish(out, "Completed", result.output_json, ts)
        out.output_json = result.output_json
    else:
        out.events.append(E.orchestrator_completed(ts))
    return out


def plan_failure(state: dict[str, Any], *, name: str, ts: float, batch: list[E.Event],
                 error: str) -> Outcome:
    """Fail the instance when its episode cannot be applied (e.g. a malformed action)."""
    out = Outcome(status="Failed", state=state)
    out.events = [E.orchestrator_started(ts), *batch]
    message = f"Orchestrator function '{name}' failed: {error}"
    _finish(out, "Failed", json.dumps(message), ts)
    out.failure = (message, None)
    return out


def _has_continue(flat: list[dict[str, Any]]) -> bool:
    return any(a.get("actionType") == A.CONTINUE_AS_NEW for a in flat)


def _finish(out: Outcome, status: str, result_json: str | None, ts: float) -> None:
    # An ending episode schedules nothing: DTFx drops the actions of a finished execution.
    out.status = status
    out.activities.clear()
    out.timers.clear()
    out.children.clear()
    out.messages.clear()
    if status == "Failed":
        out.output_json = result_json
    out.events.append(E.execution_completed(ts, status=status, result=result_json))
    out.events.append(E.orchestrator_completed(ts))
