"""Composition: store, node, scheduler and API in one asyncio process, stopped by a signal."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import re
import signal
import socket
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO

from aiohttp import web

from localbatch.api import make_app
from localbatch.auth import load_key
from localbatch.files import BlobFiles
from localbatch.nodebin import make_bin
from localbatch.runner import Node
from localbatch.sandbox import find_sandbox
from localbatch.scheduler import Scheduler
from localbatch.store import Store

log = logging.getLogger("localbatch")


@dataclass(frozen=True)
class Options:
    data_dir: Path
    port: int
    storage_connection_string: str | None
    slots: int
    poll_interval: float
    failed_task_retention_seconds: float
    host: str = "127.0.0.1"
    key: str | None = None  # None: the key in DIR/localbatch.key (made at the first start)
    sandbox: bool = True    # False only when asked for (--no-sandbox): tasks then run unisolated
    disk_reserve_bytes: int = 0  # free disk a resource file download must leave
    node_id: str = ""  # Batch's nodeInfo.nodeId of this node; "" = from the host name (node_id_from_host)
    pin_cpus: bool = True  # each slot's tasks run on that slot's share of the cores (when slots <= cores)


class AlreadyRunning(RuntimeError):
    pass


def node_id_from_host(host_name: str) -> str:
    """The host name as a Batch node id (letters, digits, '-', '_'; at most 128)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", host_name)[:128] or "localbatch"


def _lock(data_dir: Path) -> IO[str]:
    """One localbatch per data directory: two would run the same tasks twice."""
    handle = (data_dir / "localbatch.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise AlreadyRunning(f"another localbatch is using {data_dir}") from exc
    return handle


async def serve(options: Options) -> None:
    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    sandbox = find_sandbox() if options.sandbox else None  # SandboxUnavailable: refuse to start
    if sandbox is None:
        log.warning("--no-sandbox: tasks run as localbatch's user and can reach every file it can")
    lock = _lock(data_dir)
    key = load_key(data_dir, options.key)
    store = Store(data_dir / "localbatch.sqlite")
    node = Node(root=data_dir, bin_dir=make_bin(data_dir), files=BlobFiles(options.storage_connection_string,
                                                                   disk_reserve_bytes=options.disk_reserve_bytes),
                sandbox=sandbox, node_id=options.node_id or node_id_from_host(socket.gethostname()))
    node.shared_dir.mkdir(exist_ok=True)
    scheduler = Scheduler(store, node, slots=options.slots, poll_interval=options.poll_interval,
                          failed_retention=timedelta(seconds=options.failed_task_retention_seconds),
                          pin_cpus=options.pin_cpus)
    scheduler.recover()

    runner = web.AppRunner(make_app(store, scheduler, key), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port)
    await site.start()
    port = runner.addresses[0][1]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scheduling = asyncio.create_task(scheduler.loop())
    print(f"localbatch ready on http://{options.host}:{port}", flush=True)
    log.info("node %s: %d slot(s), data in %s", node.node_id, options.slots, data_dir)
    if scheduler.cpu_sets is not None:
        log.info("slots pinned to cores: %s", "; ".join(",".join(map(str, c)) for c in scheduler.cpu_sets))
    try:
        await stop.wait()
    finally:
        log.info("stopping: running tasks are killed and requeued")
        await runner.cleanup()  # no new requests while the tasks stop
        await scheduler.shutdown()
        scheduling.cancel()
        await asyncio.gather(scheduling, return_exceptions=True)
        store.close()
        lock.close()
