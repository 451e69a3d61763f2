"""What the chaos benchmark does to the local stack and what it watches while doing it.

- `kill9` / `restart`: a component killed with SIGKILL (its whole process group, so its
  children go too, as in a crash) and started again with the same ports, keys and data
  directory through the functions stack/local.py and stack/services.py start it with; the
  whole stack is killed as one and started again as `LocalStack(data_dir, ports=...)`.
- `BlobWitness`: every blob the client was told is stored (the bundles it uploaded) and
  every output the pipeline listed in renders/<job>/ (frames, completion markers, the video),
  checked again later: a name seen once and gone afterwards is an acknowledged blob lost.
- `task_starts`: how many times localbatch started each task, from its log (one
  "starting <job>/<task>" line per attempt, kept across restarts since the log is appended).
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.local import LocalStack, StackInfo
from stack.mariadb import MariaDB, start_mariadb
from stack.services import start_azurite, start_cosmos

COMPONENTS = ("azurite", "mariadb", "cosmos", "localbatch", "devhost", "stack")
# Outputs the pipeline writes once per job and never removes: losing one is losing data.
TRACKED_OUTPUTS = re.compile(r"^[^/]+/(frames/[^/]+|chunks/[^/]+\.json|[^/]+\.mp4)$")
_START_LINE = re.compile(r"starting (?P<job>\S+)/(?P<task>\S+) \(retry \d+\)")


def kill9(stack: LocalStack, component: str) -> list[str]:
    """SIGKILL the component's process group (every service for "stack"); the names killed."""
    names = list(stack.services) if component == "stack" else [component]
    for name in names:
        service = stack.services[name]
        if service.process is None:
            continue
        try:
            os.killpg(service.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        service.process.wait(timeout=10)
        service.process = None
    return names


def restart(stack: LocalStack, info: StackInfo, component: str) -> LocalStack:
    """Starts the killed component again as the stack starts it; the stack now running."""
    data_dir = Path(info.data_dir)
    if component == "stack":
        stack.services.clear()  # all dead: the new stack must not stop them again
        again = LocalStack(data_dir, ports=stack_ports(info), settings_overrides=stack.settings_overrides,
                           slots=stack.slots)
        again.start()
        return again
    if component == "mariadb":
        stack.services["mariadb"] = start_mariadb(data_dir, info.mariadb_port)
    elif component == "azurite":
        mariadb = stack.services["mariadb"]
        assert isinstance(mariadb, MariaDB)
        stack.services["azurite"] = start_azurite(data_dir, info.azurite_port, key=info.storage_key,
                                                  database_url=mariadb.url, request_log=True)
    elif component == "cosmos":
        stack.services["cosmos"] = start_cosmos(data_dir, info.cosmos_port, key=info.cosmos_key)
    elif component == "localbatch":
        stack._start_localbatch(info)  # the stack's own start, so argv and key cannot drift
    elif component == "devhost":
        stack._start_devhost(info, data_dir / "local.settings.json")
    else:
        raise ValueError(f"unknown component {component!r}; choose from {', '.join(COMPONENTS)}")
    return stack


def stack_ports(info: StackInfo) -> dict[str, int]:
    return {"mariadb": info.mariadb_port, "azurite": info.azurite_port, "cosmos": info.cosmos_port,
            "localbatch": info.localbatch_port, "devhost": info.devhost_port}


def task_starts(info: StackInfo, job_id: str) -> Counter[str]:
    """Attempts localbatch started per task of the job, over every localbatch process so far."""
    log = Path(info.data_dir) / "localbatch.log"
    starts: Counter[str] = Counter()
    for match in _START_LINE.finditer(log.read_text(errors="replace") if log.exists() else ""):
        if match["job"] == job_id:
            starts[match["task"]] += 1
    return starts


def _quick_client(connection_string: str) -> Any:
    """A client that gives up at once: the witness polls again instead of waiting out a restart."""
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(connection_string, retry_total=0,
                                                    connection_timeout=2, read_timeout=5)


@dataclass
class BlobWitness:
    """Acknowledged blobs of every trial, and a thread listing one job's outputs while it runs."""

    connection_string: str
    bundles: dict[str, str] = field(default_factory=dict)  # scenes blob name -> sha256 of what was uploaded
    outputs: dict[str, set[str]] = field(default_factory=dict)  # job id -> renders blob names seen
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def acknowledged_bundle(self, name: str, data: bytes) -> None:
        self.bundles[name] = hashlib.sha256(data).hexdigest()

    def watch(self, job_id: str, interval: float = 0.5) -> None:
        self.outputs.setdefault(job_id, set())
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, args=(job_id, interval), daemon=True)
        self._thread.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._thread = None

    def see(self, job_id: str, names: list[str]) -> None:
        self.outputs.setdefault(job_id, set()).update(n for n in names if TRACKED_OUTPUTS.match(n))

    def _poll(self, job_id: str, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.see(job_id, self.list_outputs(job_id))
            except Exception:  # the store is down or restarting: what it listed before still counts
                continue

    def list_outputs(self, job_id: str) -> list[str]:
        container = _quick_client(self.connection_string).get_container_client("renders")
        return [b.name for b in container.list_blobs(name_starts_with=f"{job_id}/")]

    def lost(self) -> dict[str, list[str]]:
        """Every acknowledged blob missing now (or, for a bundle, no longer what was uploaded)."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.connection_string)
        lost: dict[str, list[str]] = {}
        for name, digest in self.bundles.items():
            try:
                data = service.get_blob_client("scenes", name).download_blob().readall()
            except ResourceNotFoundError:
                lost.setdefault("scenes", []).append(name)
                continue
            if hashlib.sha256(data).hexdigest() != digest:
                lost.setdefault("scenes", []).append(f"{name} (changed)")
        container = service.get_container_client("renders")
        for job_id, names in self.outputs.items():
            present = {b.name for b in container.list_blobs(name_starts_with=f"{job_id}/")}
            missing = sorted(names - present)
            if missing:
                lost.setdefault(job_id, []).extend(missing)
        return lost

    def count(self) -> int:
        return len(self.bundles) + sum(len(v) for v in self.outputs.values())


def wait_until(predicate: Any, timeout: float, interval: float = 0.2) -> Any:
    """predicate()'s first truthy value, or None at the timeout; an exception counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # a component restarting answers nothing for a while
            value = None
        if value:
            return value
        time.sleep(interval)
    return None
