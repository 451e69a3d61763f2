"""Calling a function as the Python worker does: arguments by binding name, a
func.Context for a parameter named `context`, sync functions in a thread pool and
async ones on the event loop; the host's Executing/Executed log lines around it."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import _abc

from devhost.indexing import FunctionInfo

log = logging.getLogger("devhost")


class _TraceContext(_abc.TraceContext):
    def __init__(self) -> None:
        self._parent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00"

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    """What the worker passes to a parameter named `context`."""

    _tls = threading.local()

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace = _TraceContext()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._tls

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> _abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> _abc.RetryContext:
        return _RetryContext()


class Invoker:
    def __init__(self, app_dir: Path, executor: ThreadPoolExecutor,
                 durable_client_json: Callable[[], str] | None = None) -> None:
        self.app_dir = app_dir
        self.executor = executor
        self.durable_client_json = durable_client_json

    def _arguments(self, fn: FunctionInfo, trigger_value: Any, invocation_id: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {fn.trigger_name: trigger_value}
        for name in fn.durable_client_names:
            if self.durable_client_json is None:
                raise RuntimeError("this function needs the durable client, which is not running")
            kwargs[name] = self.durable_client_json()
        parameters = inspect.signature(fn.callable).parameters
        if "context" in parameters and "context" not in kwargs:
            kwargs["context"] = InvocationContext(invocation_id, fn.name, str(self.app_dir))
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        return kwargs if takes_any else {k: v for k, v in kwargs.items() if k in parameters}

    async def invoke(self, fn: FunctionInfo, trigger_value: Any, reason: str) -> Any:
        """Run the function; its exception propagates after being logged with the traceback."""
        invocation_id = str(uuid.uuid4())
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", fn.name, reason, invocation_id)
        started = time.monotonic()
        try:
            kwargs = self._arguments(fn, trigger_value, invocation_id)
            if inspect.iscoroutinefunction(fn.callable):
                result = await fn.callable(**kwargs)
            else:
                call = functools.partial(fn.callable, **kwargs)
                ctx = contextvars.copy_context()
                result = await asyncio.get_running_loop().run_in_executor(self.executor, ctx.run, call)
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)", fn.name,
                          invocation_id, (time.monotonic() - started) * 1000)
            raise
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", fn.name, invocation_id,
                 (time.monotonic() - started) * 1000)
        return result
