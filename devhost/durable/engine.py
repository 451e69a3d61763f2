"""Dispatchers: orchestration episodes (one at a time per instance, up to N instances
at once) and activity work items (up to M at once), both fed from the task hub."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devhost.durable import actions as A
from devhost.durable import events as E
from devhost.durable.functions import DurableFunctions, run_activity, run_orchestrator
from devhost.durable.records import Instance, WorkItem
from devhost.durable.shim import (
    TERMINAL,
    Outcome,
    plan_episode,
    plan_failure,
    plan_terminate,
    select_batch,
)
from devhost.durable.store import TaskHubStore

log = logging.getLogger("devhost.durable")

IDLE_POLL_SECONDS = 0.5
# The extension announces schema V2 (compound actions) and, for newer SDKs, V3.
SCHEMA = {"upperSchemaVersion": 1, "upperSchemaVersionNew": 2}


class Engine:
    def __init__(self, functions: DurableFunctions, store: TaskHubStore, *,
                 max_concurrent_activities: int, max_concurrent_orchestrations: int,
                 client_json: Callable[[], str] | None = None) -> None:
        self.functions = functions
        self.client_json = client_json
        self.store = store
        self.max_activities = max(1, max_concurrent_activities)
        self.max_orchestrations = max(1, max_concurrent_orchestrations)
        self._activity_pool = ThreadPoolExecutor(self.max_activities, thread_name_prefix="activity")
        self._orchestrator_pool = ThreadPoolExecutor(self.max_orchestrations,
                                                     thread_name_prefix="orchestrator")
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._activities: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._orchestration_wake = asyncio.Event()
        self._activity_wake = asyncio.Event()

    async def start(self) -> None:
        requeued = self.store.recover()
        if requeued:
            log.info("requeued %d activities that were running when the host stopped", requeued)
        self._loops = [asyncio.create_task(self._orchestration_loop(), name="durable-orchestrations"),
                       asyncio.create_task(self._activity_loop(), name="durable-activities")]

    async def stop(self) -> None:
        tasks = [*self._loops, *self._in_flight.values(), *self._activities]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._activity_pool.shutdown(wait=False, cancel_futures=True)
        self._orchestrator_pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        self._orchestration_wake.set()
        self._activity_wake.set()

    def is_busy(self, instance_id: str) -> bool:
        return instance_id in self._in_flight

    # ---- orchestrations --------------------------------------------------------------------

    async def _orchestration_loop(self) -> None:
        while True:
            try:
                now = time.time()
                free = self.max_orchestrations - len(self._in_flight)
                if free > 0:
                    for instance_id in self.store.ready_instances(now, free + len(self._in_flight)):
                        if instance_id in self._in_flight or free <= 0:
                            continue
                        free -= 1
                        self._in_flight[instance_id] = asyncio.create_task(self._episode(instance_id))
                next_ts = self.store.next_timer_ts(now)
                timeout = IDLE_POLL_SECONDS if next_ts is None else min(IDLE_POLL_SECONDS,
                                                                          max(0.001, next_ts - now))
            except Exception:
                log.exception("orchestration dispatcher error")
                timeout = IDLE_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._orchestration_wake.wait(), timeout)
            self._orchestration_wake.clear()

    async def _episode(self, instance_id: str) -> None:
        try:
            await self._run_episode(instance_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("episode of instance %s failed in the runtime; it will be retried", instance_id)
            await asyncio.sleep(1.0)
        finally:
            self._in_flight.pop(instance_id, None)
            self.wake()

    async def _run_episode(self, instance_id: str) -> None:
        inst = self.store.get_instance(instance_id)
        now = time.time()
        messages = self.store.inbox(instance_id, now)
        if inst is None or inst.status in TERMINAL:
            self.store.drop_messages([m.id for m in messages])  # late results of a finished run
            return
        batch, stale = select_batch(inst.shim, inst.execution_id, messages)
        self.store.drop_messages(stale)
        if not batch:
            return
        state = copy.deepcopy(inst.shim)
        events = [m.event for m in batch]
        if events[0]["EventType"] == E.EXECUTION_TERMINATED:
            outcome = plan_terminate(state, now, events[0].get("Input"))
        else:
            result = await self._invoke(inst, now, events)
            try:
                outcome = plan_episode(state, name=inst.name, instance_id=instance_id, ts=now,
                                       batch=events, result=result)
            except Exception as exc:
                log.exception("could not apply the episode of instance %s", instance_id)
                outcome = plan_failure(copy.deepcopy(inst.shim), name=inst.name, ts=now, batch=events,
                                       error=f"devhost could not apply the orchestrator's actions: {exc!r}")
        self.store.commit_episode(inst, [m.id for m in batch], outcome, time.time())
        self._log_episode(inst, events, outcome)

    async def _invoke(self, inst: Instance, ts: float, new_events: list[E.Event]) -> A.EpisodeResult:
        handle = self.functions.orchestrators.get(inst.name)
        if handle is None:
            return A.EpisodeResult(False, [], None, None, f"The function '{inst.name}' doesn't exist, "
                                   "is disabled, or is not an orchestrator function.")
        past = self.store.history(inst.instance_id)
        context = {
            "history": [*past, E.orchestrator_started(ts), *new_events],
            "instanceId": inst.instance_id,
            "isReplaying": bool(past),
            "parentInstanceId": inst.parent_instance_id,
            "input": _input_for_context(past, new_events),
            **SCHEMA,
        }
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._orchestrator_pool, run_orchestrator, handle,
                                          json.dumps(context))

    def _log_episode(self, inst: Instance, events: list[E.Event], outcome: Outcome) -> None:
        log.info("episode instance=%s name=%s delivered=%d scheduled=%d status=%s",
                 inst.instance_id, inst.name, len(events),
                 len(outcome.activities) + len(outcome.timers) + len(outcome.children), outcome.status)
        if outcome.status == "Failed":
            log.warning("orchestration instance=%s failed: %s", inst.instance_id, outcome.output_json)

    # ---- activities ------------------------------------------------------------------------

    async def _activity_loop(self) -> None:
        while True:
            try:
                for item in self.store.claim_activities(self.max_activities - len(self._activities)):
                    task = asyncio.create_task(self._activity(item))
                    self._activities.add(task)
                    task.add_done_callback(self._activities.discard)
            except Exception:
                log.exception("activity dispatcher error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._activity_wake.wait(), IDLE_POLL_SECONDS)
            self._activity_wake.clear()

    async def _activity(self, item: WorkItem) -> None:
        try:
            activity = self.functions.activities.get(item.name)
            log.info("activity start instance=%s name=%s task=%d", item.instance_id, item.name, item.task_id)
            now = time.time()
            if activity is None:
                event = E.task_failed(now, item.task_id, f"The function '{item.name}' doesn't exist, is "
                                      "disabled, or is not an activity function.", None)
            else:
                result = await run_activity(activity, item.input, self._activity_pool, self.client_json)
                now = time.time()
                if result.ok:
                    event = E.task_completed(now, item.task_id, result.result_json)
                else:
                    log.warning("activity failed instance=%s name=%s: %s", item.instance_id, item.name,
                                result.reason)
                    event = E.task_failed(now, item.task_id, result.reason, result.details)
            self.store.complete_activity(item, event)
            log.info("activity done instance=%s name=%s task=%d ok=%s", item.instance_id, item.name,
                     item.task_id, event["EventType"] == E.TASK_COMPLETED)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("activity %s of instance %s could not be recorded", item.name, item.instance_id)
        finally:
            self.wake()


def _input_for_context(past: list[E.Event], new_events: list[E.Event]) -> Any:
    for event in (*past, *new_events):
        if event.get("EventType") == E.EXECUTION_STARTED:
            return event.get("Input")
    return None
