"""The local Durable Functions runtime: a task hub in SQLite, the orchestration
engine on the SDK's real replay code, the durable client's RPC endpoints and the
public Durable HTTP API.

Interface used by the host (devhost/host.py):

    durable = DurableExtension(functions, data_dir=Path, base_url="http://127.0.0.1:PORT",
                               max_concurrent_activities=4, max_concurrent_orchestrations=4,
                               task_hub="DevHostHub")
    durable.add_routes(aiohttp_app)         # /runtime/webhooks/durabletask/... routes
    await durable.start()                   # recover unfinished work, start dispatchers
    durable.client_binding_json() -> str    # what a durable_client_input parameter receives
    await durable.stop()                    # stop dispatchers, close the store

`durable.runtime` (DurableRuntime) is the task hub and its client operations alone,
without HTTP.
"""

from __future__ import annotations

from devhost.durable.extension import DurableExtension
from devhost.durable.runtime import DurableRuntime

__all__ = ["DurableExtension", "DurableRuntime"]
