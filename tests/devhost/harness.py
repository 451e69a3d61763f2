"""Starting devhost as a real subprocess on a free port, and talking to it over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from stack.services import ROOT, free_port

APPS = Path(__file__).resolve().parent / "apps"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


async def _request(method: str, url: str, **kwargs: Any) -> Response:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as resp:
        body = await resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body,
                        resp.headers.getall("Set-Cookie", []))


def request(method: str, url: str, **kwargs: Any) -> Response:
    return asyncio.run(_request(method, url, **kwargs))


@dataclass
class Devhost:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    data_dir: Path
    work: Path
    values: dict[str, str]

    @property
    def keys(self) -> dict[str, str]:
        stored = json.loads((self.data_dir / "keys.json").read_text())
        configured = {"function": self.values.get("DEVHOST_FUNCTION_KEY"),
                      "master": self.values.get("DEVHOST_MASTER_KEY"),
                      "eventgrid_system": self.values.get("DEVHOST_EVENTGRID_SYSTEM_KEY"),
                      "eventgrid_topic": self.values.get("DEVHOST_EVENTGRID_TOPIC_KEY"),
                      "durabletask_system": self.values.get("DEVHOST_DURABLETASK_SYSTEM_KEY")}
        return {**stored, **{k: v for k, v in configured.items() if v}}

    def stdout(self) -> str:
        return (self.work / "stdout.txt").read_text(errors="replace")

    def stderr(self) -> str:
        return (self.work / "stderr.txt").read_text(errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_devhost(app: str, work: Path, values: dict[str, str] | None = None,
                  eventgrid: list[dict[str, Any]] | None = None, data_dir: Path | None = None,
                  port: int | None = None, timeout: float = 30.0) -> Devhost:
    """Start devhost for tests/devhost/apps/<app>; wait for its ready line."""
    work.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    data_dir = data_dir or work / "data"
    values = dict(values or {})
    (work / "settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    argv = [sys.executable, "-m", "devhost", "--app-dir", str(APPS / app), "--port", str(port),
            "--data-dir", str(data_dir), "--settings", str(work / "settings.json")]
    if eventgrid is not None:
        (work / "eventgrid.json").write_text(json.dumps(eventgrid))
        argv += ["--eventgrid-config", str(work / "eventgrid.json")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVHOST_")}
    env["PYTHONPATH"] = str(ROOT)
    with (work / "stdout.txt").open("ab") as out, (work / "stderr.txt").open("ab") as err:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    host = Devhost(process, f"http://127.0.0.1:{port}", port, data_dir, work, values)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f"devhost ready on {host.url}" in host.stdout():
            return host
        if process.poll() is not None:
            raise RuntimeError(f"devhost exited with {process.returncode}:\n{host.stderr()[-4000:]}")
        time.sleep(0.05)
    host.stop()
    raise RuntimeError(f"devhost did not become ready:\n{host.stderr()[-4000:]}")


def wait_for(probe: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll probe() until it returns something truthy; return it (or the last value)."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = probe()
    return value


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
