"""A small Python v2 function app exercising the Durable APIs devhost emulates."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Per-process bookkeeping the tests read (the runtime runs in the test process).
ATTEMPTS: dict[str, int] = {}
CONCURRENCY = {"now": 0, "max": 0}
_lock = threading.Lock()


class BackoffRetryOptions(df.RetryOptions):
    """The extension's full RetryOptions; the Python SDK only sends the first two fields."""

    def __init__(self, first_ms: int, attempts: int, backoff: float, max_interval_ms: int,
                 timeout_ms: int | None = None) -> None:
        super().__init__(first_ms, attempts)
        self.extra = {"backoffCoefficient": backoff, "maxRetryIntervalInMilliseconds": max_interval_ms}
        if timeout_ms is not None:
            self.extra["retryTimeoutInMilliseconds"] = timeout_ms

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), **self.extra}


@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    names = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for name in names:
        results.append((yield context.call_activity("say_hello", name)))
    results.append((yield context.call_activity("say_hello_async", "async")))
    return results


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    return f"Hello {name}!"


@app.activity_trigger(input_name="name")
async def say_hello_async(name: str) -> str:
    await asyncio.sleep(0.01)
    return f"Hello {name}!"


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    tasks = [context.call_activity("slow_double", {"n": i, "delay": spec.get("delay", 0),
                                                   "marker_dir": spec.get("marker_dir")})
             for i in range(spec["count"])]
    results = yield context.task_all(tasks)
    return sum(results)


@app.activity_trigger(input_name="payload")
def slow_double(payload: dict[str, Any]) -> int:
    with _lock:
        CONCURRENCY["now"] += 1
        CONCURRENCY["max"] = max(CONCURRENCY["max"], CONCURRENCY["now"])
    try:
        if payload.get("marker_dir"):
            # One file per run, so a test can count how often each activity ran.
            Path(payload["marker_dir"], f"run-{payload['n']}-{uuid.uuid4().hex}").touch()
        time.sleep(payload.get("delay", 0))
        return int(payload["n"]) * 2
    finally:
        with _lock:
            CONCURRENCY["now"] -= 1


@app.orchestration_trigger(context_name="context")
def approval_race(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    deadline = context.current_utc_datetime + timedelta(seconds=spec["timeout"])
    timer = context.create_timer(deadline)
    approval = context.wait_for_external_event("approve")
    winner = yield context.task_any([approval, timer])
    if winner == approval:
        timer.cancel()
        # Keep running past the cancelled timer's due time: it must never fire.
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=spec["linger"]))
        return {"approved": approval.result}
    return {"approved": None, "timed_out": True}


@app.orchestration_trigger(context_name="context")
def retry_until(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    options = BackoffRetryOptions(spec["first_ms"], spec["attempts"], spec.get("backoff", 2.0),
                                  spec.get("max_ms", 1000), spec.get("timeout_ms"))
    try:
        result = yield context.call_activity_with_retry("flaky", options, spec)
    except Exception as exc:
        return {"error": str(exc)}
    return {"result": result}


@app.activity_trigger(input_name="spec")
def flaky(spec: dict[str, Any]) -> str:
    with _lock:
        ATTEMPTS[spec["key"]] = ATTEMPTS.get(spec["key"], 0) + 1
        attempt = ATTEMPTS[spec["key"]]
    if attempt <= spec["fail_times"]:
        raise RuntimeError(f"flaky failure {attempt}")
    return f"ok after {attempt}"


@app.orchestration_trigger(context_name="context")
def collect_events(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=0.3))
    got = []
    for _ in range(context.get_input()):
        got.append((yield context.wait_for_external_event("step")))
    return got


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    key = context.get_input()
    first = yield context.call_sub_orchestrator("child", 1)
    second = yield context.call_sub_orchestrator("child", 2, instance_id=f"{context.instance_id}-named")
    third = yield context.call_sub_orchestrator_with_retry(
        "flaky_child", df.RetryOptions(50, 3), {"key": key, "fail_times": 1},
        instance_id=f"{context.instance_id}-flaky")
    try:
        yield context.call_sub_orchestrator("failing_child", None)
        failure = None
    except Exception as exc:
        failure = str(exc)
    return {"results": [first, second, third], "failure": failure}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    value = yield context.call_activity("say_hello", str(context.get_input()))
    return {"value": value, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("flaky", context.get_input()))


@app.orchestration_trigger(context_name="context")
def failing_child(context: df.DurableOrchestrationContext):
    yield context.call_activity("say_hello", "x")
    raise ValueError("child gave up")


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    state = context.get_input()
    value = yield context.wait_for_external_event("add")
    state = {"total": state["total"] + value, "generation": state["generation"] + 1,
             "until": state["until"]}
    if state["generation"] >= state["until"]:
        return state
    context.continue_as_new(state)
    return None


@app.orchestration_trigger(context_name="context")
def with_status(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    value = yield context.wait_for_external_event("go")
    context.set_custom_status({"stage": "done", "value": value})
    return value


@app.orchestration_trigger(context_name="context")
def doomed(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("explode", "boom")
    except Exception as exc:
        raise ValueError(f"orchestrator gave up after: {exc}") from exc
    return "unreachable"


@app.activity_trigger(input_name="text")
def explode(text: str) -> str:
    raise RuntimeError(f"activity exploded: {text}")


@app.orchestration_trigger(context_name="context")
def wait_forever(context: df.DurableOrchestrationContext):
    yield context.wait_for_external_event("never")
    return "woke"


@app.orchestration_trigger(context_name="context")
def uses_http(context: df.DurableOrchestrationContext):
    yield context.call_http("GET", "http://127.0.0.1:9/never")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def mixed(context: df.DurableOrchestrationContext):
    key = context.get_input()
    now = context.current_utc_datetime
    results = yield context.task_all([
        context.call_activity_with_retry("flaky", df.RetryOptions(30, 4), {"key": f"{key}a", "fail_times": 2}),
        context.call_activity("slow_double", {"n": 1, "delay": 0.05}),
        context.call_activity_with_retry("flaky", df.RetryOptions(20, 4), {"key": f"{key}b", "fail_times": 1}),
        context.create_timer(now + timedelta(seconds=0.1)),
        context.call_sub_orchestrator_with_retry("flaky_child", df.RetryOptions(10, 3),
                                                 {"key": f"{key}d", "fail_times": 2}),
    ])
    last = yield context.call_activity_with_retry("flaky", df.RetryOptions(10, 2),
                                                  {"key": f"{key}c", "fail_times": 1})
    return [results[0], results[1], results[2], results[4], last]


EPISODES = {"now": 0, "max": 0}


@app.orchestration_trigger(context_name="context")
def busy(context: df.DurableOrchestrationContext):
    # Measures how many episodes run at once (a test probe, not a pattern for real orchestrators).
    with _lock:
        EPISODES["now"] += 1
        EPISODES["max"] = max(EPISODES["max"], EPISODES["now"])
    time.sleep(0.1)
    with _lock:
        EPISODES["now"] -= 1
    yield context.call_activity("say_hello", "busy")
    return "done"


@app.orchestration_trigger(context_name="context")
def poke_it(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("poke", context.get_input()))


@app.activity_trigger(input_name="target")
@app.durable_client_input(client_name="client")
async def poke(target: str, client: df.DurableOrchestrationClient, context: func.Context) -> str:
    # Activities get durable clients and a context like any other function.
    await client.raise_event(target, "never", context.function_name)
    return f"{context.function_name}:{bool(context.invocation_id)}"
