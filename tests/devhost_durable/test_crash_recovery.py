"""kill -9 during a fan-out, then restart on the same task hub: the orchestration
completes, and no activity whose completion was recorded runs again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from tests.devhost_durable.hosting import free_port

REPO = Path(__file__).resolve().parents[2]
HOOK = "/runtime/webhooks/durabletask"


CRASH_APP = Path(__file__).resolve().parent / "apps" / "crash_app"
KEY = {"x-functions-key": "crash-test-durable-key"}


def _host_command(port: int, data_dir: Path) -> list[str]:
    """The real devhost CLI, as a process that can be killed."""
    return [sys.executable, "-m", "devhost", "--app-dir", str(CRASH_APP), "--port", str(port),
            "--data-dir", str(data_dir), "--max-concurrent-activities", "2"]


def _start_host(port: int, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(_host_command(port, data_dir), cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT,
                                env={**os.environ, "DEVHOST_DURABLETASK_SYSTEM_KEY": KEY["x-functions-key"]})


def _get(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=KEY), timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _recorded_completions(db_path: Path) -> set[int]:
    """Activity inputs whose completion the task hub had committed."""
    db = sqlite3.connect(str(db_path))
    try:
        events = [json.loads(r[0]) for r in db.execute("SELECT event FROM history")]
        events += [json.loads(r[0]) for r in db.execute("SELECT event FROM messages")]
    finally:
        db.close()
    inputs = {e["EventId"]: json.loads(e["Input"])["n"] for e in events if e["EventType"] == 4}
    return {inputs[e["TaskScheduledId"]] for e in events if e["EventType"] == 5}


def test_kill_during_fan_out_then_restart_completes_without_rerunning_recorded_work(tmp_path):
    data_dir, markers, log = tmp_path / "hub", tmp_path / "markers", tmp_path / "host.log"
    markers.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}{HOOK}"
    host = _start_host(port, data_dir, log)
    try:
        _wait_for(lambda: _get(f"{base}/instances")[0] == 200, 30, "the host to listen")

        async def start() -> None:
            async with aiohttp.ClientSession(headers=KEY) as http, http.post(
                    f"{base}/orchestrators/fan_out/crash-1",
                    json={"count": 8, "delay": 0.3, "marker_dir": str(markers)}) as resp:
                assert resp.status == 202

        asyncio.run(start())

        def some_done() -> bool:
            code, body = _get(f"{base}/instances/crash-1?showHistory=true")
            return code == 202 and sum(e["EventType"] == 5 for e in body["historyEvents"]) >= 3

        _wait_for(some_done, 30, "a few activities to complete")
        os.kill(host.pid, signal.SIGKILL)
        host.wait(10)
        recorded = _recorded_completions(data_dir / "DevHostHub.sqlite3")
        assert 3 <= len(recorded) < 8

        host = _start_host(port, data_dir, log)
        _wait_for(lambda: _get(f"{base}/instances")[0] == 200, 30, "the host to restart")
        status = _wait_for(lambda: (lambda r: r[0] == 200 and r[1])(_get(f"{base}/instances/crash-1")),
                           60, "the orchestration to complete")
        assert status["runtimeStatus"] == "Completed", log.read_text()[-3000:]
        assert status["output"] == sum(2 * n for n in range(8))
        runs = Counter(int(p.name.split("-")[1]) for p in markers.iterdir())
        assert set(runs) == set(range(8))
        for n in recorded:
            assert runs[n] == 1, f"activity {n} completed before the crash but ran {runs[n]} times"
    finally:
        host.kill()
        host.wait(10)
