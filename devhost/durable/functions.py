"""The app's durable functions, found in `app.get_functions()`, and how they are called:
orchestrators through the SDK's own handler (context JSON in, actions JSON out), and
activities with their input and output coded as the Python worker does.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import os
import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from azure.functions._durable_functions import OrchestrationContext, df_dumps, df_loads

from devhost.durable import actions as A


@dataclass(frozen=True)
class Activity:
    name: str
    input_name: str
    func: Callable[..., Any]
    client_names: tuple[str, ...] = ()  # durable_client_input parameters

    def arguments(self, value: Any, client_json: Callable[[], str] | None) -> dict[str, Any]:
        """Keyword arguments as the worker binds them: the trigger input, durable clients,
        and `context` when the function asks for it."""
        kwargs: dict[str, Any] = {self.input_name: value}
        for name in self.client_names:
            if client_json is not None:
                kwargs[name] = client_json()
        try:
            parameters = inspect.signature(self.func).parameters
        except (TypeError, ValueError):
            return kwargs
        if "context" in parameters and "context" not in kwargs:
            kwargs["context"] = ActivityContext(str(uuid.uuid4()), self.name)
        return kwargs


class ActivityContext:
    """The invocation context the worker passes to a `context` parameter."""

    def __init__(self, invocation_id: str, function_name: str) -> None:
        self.invocation_id = invocation_id
        self.function_name = function_name
        self.function_directory = os.getcwd()
        self.trace_context = None
        self.retry_context = None
        self.thread_local_storage = threading.local()


class DurableFunctions:
    def __init__(self, functions: list[Any]) -> None:
        self.orchestrators: dict[str, Callable[..., Any]] = {}
        self.activities: dict[str, Activity] = {}
        for fn in functions:
            trigger = fn.get_trigger()
            kind = getattr(trigger, "type", None) or trigger.get_binding_name()
            name = fn.get_function_name()
            # The legacy `orchestration=`/`activity=` trigger property names the function too.
            if kind == "orchestrationTrigger":
                for alias in {name, getattr(trigger, "orchestration", None) or name}:
                    self.orchestrators[alias] = fn.get_user_function()
            elif kind == "activityTrigger":
                clients = tuple(b.name for b in fn.get_bindings() if getattr(b, "type", None) == "durableClient")
                for alias in {name, getattr(trigger, "activity", None) or name}:
                    self.activities[alias] = Activity(alias, trigger.name, fn.get_user_function(), clients)


def run_orchestrator(handle: Callable[..., Any], context_json: str) -> A.EpisodeResult:
    """One episode on the SDK's replay code; an exception anywhere becomes a failed result."""
    try:
        # What the worker's OrchestrationTriggerConverter hands the registered handler.
        state = handle(OrchestrationContext(context_json))
    except BaseException as exc:  # user code must not take the runtime down
        return A.parse_failure(str(exc) or type(exc).__name__)
    try:
        return A.parse_state(state if isinstance(state, str) else str(state))
    except (ValueError, TypeError) as exc:
        return A.EpisodeResult(False, [], None, None, f"invalid orchestrator state: {exc}")


@dataclass(frozen=True)
class ActivityOutcome:
    ok: bool
    result_json: str | None = None
    reason: str = ""
    details: str | None = None


async def run_activity(activity: Activity, input_json: str | None, pool: Executor,
                       client_json: Callable[[], str] | None = None) -> ActivityOutcome:
    try:
        kwargs = activity.arguments(_decode_input(input_json), client_json)
        if inspect.iscoroutinefunction(activity.func):
            result = await activity.func(**kwargs)
        else:
            loop = asyncio.get_running_loop()
            call = functools.partial(activity.func, **kwargs)
            result = await loop.run_in_executor(pool, contextvars.copy_context().run, call)
        if inspect.isawaitable(result):
            result = await result
        return ActivityOutcome(True, result_json=df_dumps(result))
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # user code must not take the runtime down
        details = "".join(traceback.format_exception(exc)).strip()
        return ActivityOutcome(False, reason=f"Activity function '{activity.name}' failed: {exc}",
                               details=details)


def _decode_input(input_json: str | None) -> Any:
    # The worker's ActivityTriggerConverter: JSON if it parses, else the raw string.
    if input_json is None:
        return None
    try:
        return df_loads(input_json)
    except ValueError:
        return input_json
