"""Starting and stopping devhost: signals, generated keys, start-up errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from stack.services import ROOT, free_port
from tests.devhost.harness import APPS, request, start_devhost


def test_sigterm_exits_0_and_generated_keys_survive_a_restart(tmp_path: Path) -> None:
    host = start_devhost("http_app", tmp_path / "one")
    keys = json.loads((host.data_dir / "keys.json").read_text())
    assert set(keys) == {"function", "master", "eventgrid_system", "eventgrid_topic", "durabletask_system"}
    assert keys["function"] in host.stdout()
    assert keys["eventgrid_topic"] in host.stdout()
    assert request("GET", f"{host.url}/svc/items/1", params={"code": keys["function"]}).status == 200
    started = time.monotonic()
    assert host.stop(timeout=10) == 0
    assert time.monotonic() - started < 10  # stop() would have killed it otherwise
    assert "devhost stopping" in host.stderr()
    again = start_devhost("http_app", tmp_path / "two", data_dir=host.data_dir)
    try:
        assert json.loads((again.data_dir / "keys.json").read_text()) == keys
        assert request("GET", f"{again.url}/svc/items/1", params={"code": keys["function"]}).status == 200
    finally:
        assert again.stop() == 0


def run_devhost(args: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devhost", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_app_that_fails_to_import_is_reported_with_non_zero_exit(tmp_path: Path) -> None:
    result = run_devhost(["--app-dir", str(APPS / "broken_app"), "--port", str(free_port()),
                          "--data-dir", str(tmp_path)])
    assert result.returncode != 0
    assert "failed to import on purpose" in result.stderr


def test_subscription_to_an_unknown_function_is_a_clear_start_up_error(tmp_path: Path) -> None:
    path = tmp_path / "eventgrid.json"
    path.write_text(json.dumps([{"name": "x", "functionName": "no_such_function", "container": "scenes"}]))
    result = run_devhost(["--app-dir", str(APPS / "events_app"), "--port", str(free_port()),
                          "--data-dir", str(tmp_path / "data"), "--eventgrid-config", str(path)])
    assert result.returncode == 2
    assert "no Event Grid triggered function named 'no_such_function'" in result.stderr
