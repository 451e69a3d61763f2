"""The Durable extension as the host builds it: the runtime, the client binding that
points at this host, and the HTTP API over both, wired in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.durable import http_api
from devhost.durable.client_binding import ClientBinding
from devhost.durable.runtime import DurableRuntime


class DurableExtension:
    def __init__(self, functions: list[Any], *, data_dir: Path, base_url: str, system_key: str,
                 master_key: str = "", max_concurrent_activities: int = 4,
                 max_concurrent_orchestrations: int = 4, task_hub: str = "DevHostHub") -> None:
        if not system_key:
            raise ValueError("the durable extension needs a system key")
        self.accepted_keys = (system_key, master_key) if master_key else (system_key,)
        self.binding = ClientBinding(base_url, task_hub, system_key)
        self.runtime = DurableRuntime(functions, data_dir=data_dir,
                                      max_concurrent_activities=max_concurrent_activities,
                                      max_concurrent_orchestrations=max_concurrent_orchestrations,
                                      task_hub=task_hub, client_json=self.binding.json)

    def add_routes(self, app: web.Application) -> None:
        http_api.add_routes(app, self.runtime, self.binding, self.accepted_keys)

    def client_binding_json(self) -> str:
        return self.binding.json()

    async def start(self) -> None:
        await self.runtime.start()

    async def stop(self) -> None:
        await self.runtime.stop()
