"""Serve a DurableRuntime over real HTTP (aiohttp) for tests."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from devhost.durable import DurableExtension, DurableRuntime

TERMINAL = ("Completed", "Failed", "Terminated")
SYSTEM_KEY = "durable-system-key-for-tests"
MASTER_KEY = "master-key-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hosted:
    durable: DurableExtension
    base_url: str
    http: aiohttp.ClientSession

    @property
    def runtime(self) -> DurableRuntime:
        return self.durable.runtime

    @property
    def hook(self) -> str:
        return f"{self.base_url}/runtime/webhooks/durabletask"

    async def start(self, name: str, body: Any = None, instance_id: str | None = None) -> str:
        url = f"{self.hook}/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
        async with self.http.post(url, json=body) as resp:
            assert resp.status == 202, await resp.text()
            return str((await resp.json())["id"])

    async def status(self, instance_id: str, **query: str) -> tuple[int, Any]:
        async with self.http.get(f"{self.hook}/instances/{instance_id}", params=query) as resp:
            return resp.status, await resp.json(content_type=None)

    async def wait(self, instance_id: str, until: Callable[[dict[str, Any]], bool] | None = None,
                   timeout: float = 20.0, **query: str) -> dict[str, Any]:
        until = until or (lambda s: s.get("runtimeStatus") in TERMINAL)
        deadline = time.monotonic() + timeout
        while True:
            code, body = await self.status(instance_id, **query)
            if code != 404 and until(body):
                return dict(body)
            if time.monotonic() > deadline:
                raise AssertionError(f"instance {instance_id} did not get there: {code} {body}")
            await asyncio.sleep(0.05)

    async def raise_event(self, instance_id: str, name: str, data: Any) -> int:
        async with self.http.post(f"{self.hook}/instances/{instance_id}/raiseEvent/{name}", json=data) as r:
            return r.status


@asynccontextmanager
async def hosted(functions: list[Any], data_dir: Path, port: int | None = None,
                 **options: Any) -> AsyncIterator[Hosted]:
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    durable = DurableExtension(functions, data_dir=data_dir, base_url=base_url, system_key=SYSTEM_KEY,
                               master_key=MASTER_KEY, **options)
    app = web.Application()
    durable.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await durable.start()
    try:
        # The tests' own requests carry the system key, as a caller of the real API must.
        async with aiohttp.ClientSession(headers={"x-functions-key": SYSTEM_KEY}) as http:
            yield Hosted(durable, base_url, http)
    finally:
        await durable.stop()
        await runner.cleanup()
        await _reset_sdk_session()


async def _reset_sdk_session() -> None:
    # The SDK keeps one module-level aiohttp session; each test has its own event loop.
    from azure.durable_functions.models.utils import http_utils

    session = http_utils._client_session
    if session is not None and not session.closed:
        await session.close()
    http_utils._client_session = None
    http_utils._session_lock = asyncio.Lock()
