"""DurableRuntime: the task hub store, the dispatchers, and the client operations
(start, status, raise event, terminate, purge) that the Durable HTTP API exposes.

It knows nothing of HTTP: the API (http_api.py) calls it, and the client binding JSON
that activities with a durable client receive is handed in as a callable.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devhost.durable import events as E
from devhost.durable.engine import Engine
from devhost.durable.functions import DurableFunctions
from devhost.durable.records import Query
from devhost.durable.store import TaskHubStore
from devhost.durable.transitions import InstanceExists

log = logging.getLogger("devhost.durable")

MAX_INSTANCE_ID = 256
_BAD_ID = re.compile(r"[/\\#?\x00-\x1f\x7f]")


class ClientError(Exception):
    """A request the runtime refuses; status is the HTTP status the extension would use."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def validate_instance_id(instance_id: str) -> str:
    if not instance_id or len(instance_id) > MAX_INSTANCE_ID or _BAD_ID.search(instance_id) \
            or instance_id.strip() != instance_id:
        raise ClientError(400, "Instance IDs must be 1-256 characters without '/', '\\', '#', '?', "
                               "control characters or surrounding whitespace.")
    return instance_id


class DurableRuntime:
    def __init__(self, functions: list[Any], *, data_dir: Path, max_concurrent_activities: int = 4,
                 max_concurrent_orchestrations: int = 4, task_hub: str = "DevHostHub",
                 client_json: Callable[[], str] | None = None) -> None:
        self.functions = DurableFunctions(functions)
        self.data_dir = Path(data_dir)
        self.task_hub = task_hub
        self.client_json = client_json
        self.max_concurrent_activities = max_concurrent_activities
        self.max_concurrent_orchestrations = max_concurrent_orchestrations
        self._store: TaskHubStore | None = None
        self._engine: Engine | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._store = TaskHubStore(self.data_dir / f"{self.task_hub}.sqlite3")
        self._engine = Engine(self.functions, self._store,
                              max_concurrent_activities=self.max_concurrent_activities,
                              max_concurrent_orchestrations=self.max_concurrent_orchestrations,
                              client_json=self.client_json)
        await self._engine.start()
        log.info("durable task hub %s in %s: %d orchestrators, %d activities", self.task_hub,
                 self.data_dir, len(self.functions.orchestrators), len(self.functions.activities))

    async def stop(self) -> None:
        if self._engine is not None:
            await self._engine.stop()
        if self._store is not None:
            self._store.close()
        self._engine = None
        self._store = None

    @property
    def store(self) -> TaskHubStore:
        if self._store is None:
            raise ClientError(503, "The durable runtime is not started.")
        return self._store

    def _wake(self) -> None:
        if self._engine is not None:
            self._engine.wake()

    # ---- client operations -----------------------------------------------------------------

    def start_new(self, name: str, instance_id: str | None = None, input_json: str | None = None,
                  version: str | None = None) -> str:
        if name not in self.functions.orchestrators:
            raise ClientError(400, f"The function '{name}' doesn't exist, is disabled, or is not an "
                                   "orchestrator function.")
        instance_id = validate_instance_id(instance_id) if instance_id is not None else uuid.uuid4().hex
        if self._engine is not None and self._engine.is_busy(instance_id):
            raise ClientError(409, f"An orchestration instance with ID '{instance_id}' is running.")
        try:
            self.store.create_instance(name=name, instance_id=instance_id, input_json=input_json,
                                       now=time.time(), version=version)
        except InstanceExists as exc:
            raise ClientError(409, str(exc)) from exc
        log.info("started instance=%s name=%s", instance_id, name)
        self._wake()
        return instance_id

    def get_status(self, instance_id: str, *, show_history: bool = False,
                   show_history_output: bool = False, show_input: bool = True) -> dict[str, Any] | None:
        inst = self.store.get_instance(instance_id)
        if inst is None:
            return None
        status: dict[str, Any] = {
            "name": inst.name,
            "instanceId": inst.instance_id,
            "runtimeStatus": inst.status,
            "input": _json_value(inst.input) if show_input else None,
            "customStatus": _json_value(inst.custom_status),
            "output": _json_value(inst.output),
            "createdTime": _iso_seconds(inst.created_ts),
            "lastUpdatedTime": _iso_seconds(inst.updated_ts),
        }
        if show_history:
            history = [_history_view(e, show_history_output) for e in self.store.history(instance_id)]
            # The HTTP API documents historyEvents; the SDK's status object reads history.
            status["historyEvents"] = history
            status["history"] = history
        return status

    def list_statuses(self, query: Query, *, offset: int, top: int,
                      show_input: bool) -> tuple[list[dict[str, Any]], int | None]:
        rows = self.store.list_instances(query, offset, top + 1)
        page = rows[:top]
        statuses = [self.get_status(r.instance_id, show_input=show_input) for r in page]
        more = offset + top if len(rows) > top else None
        return [s for s in statuses if s is not None], more

    def raise_event(self, instance_id: str, event_name: str, data_json: str | None) -> None:
        if not event_name:
            raise ClientError(400, "The event name must not be empty.")
        status = self.store.send(instance_id, E.event_raised(time.time(), event_name, data_json))
        self._check_target(instance_id, status)
        log.info("event raised instance=%s name=%s", instance_id, event_name)
        self._wake()

    def terminate(self, instance_id: str, reason: str | None) -> None:
        status = self.store.send(instance_id, E.execution_terminated(time.time(), reason))
        self._check_target(instance_id, status)
        log.info("terminate requested instance=%s reason=%s", instance_id, reason)
        self._wake()

    def purge(self, instance_id: str) -> int:
        status = self.store.purge(instance_id)
        if status is None:
            raise ClientError(404, f"No instance with ID '{instance_id}' found.")
        if status not in ("Completed", "Failed", "Terminated"):
            raise ClientError(404, f"Instance '{instance_id}' is {status}; only finished instances "
                                   "are purged.")
        return 1

    def purge_by(self, query: Query) -> int:
        return self.store.purge_by(query)

    @staticmethod
    def _check_target(instance_id: str, status: str | None) -> None:
        if status is None:
            raise ClientError(404, f"No instance with ID '{instance_id}' found.")
        if status in ("Completed", "Failed", "Terminated"):
            raise ClientError(410, f"Instance with ID '{instance_id}' is gone: it is {status.lower()}.")


def _json_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _iso_seconds(ts: float) -> str:
    return E.iso(ts).split(".")[0] + "Z"


_OUTPUT_FIELDS = ("Input", "Result")


def _history_view(event: dict[str, Any], show_output: bool) -> dict[str, Any]:
    if show_output:
        return event
    return {k: v for k, v in event.items() if k not in _OUTPUT_FIELDS}
