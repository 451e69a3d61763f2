"""A self-contained app for the kill -9 test: a fan-out whose activities leave one
marker file per run, so the test can count how often each one ran."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    tasks = [context.call_activity("slow_double", {**spec, "n": i}) for i in range(spec["count"])]
    return sum((yield context.task_all(tasks)))


@app.activity_trigger(input_name="payload")
def slow_double(payload: dict[str, Any]) -> int:
    Path(payload["marker_dir"], f"run-{payload['n']}-{uuid.uuid4().hex}").touch()
    time.sleep(payload["delay"])
    return int(payload["n"]) * 2
