"""The task sandbox, tested as the attacks it stops: a task reaches nothing outside its own directory."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from localbatch.launcher import LaunchError, LocalBatchProcess
from shared.adapters.local_batch_backend import LocalBatchBackend
from shared.tasks import TaskResult, TaskSpec
from tests.contract.render_backend_contract import poll_until_done
from tests.localbatch.conftest import Launch
from tests.localbatch.helpers import py, wait_for, wait_running

# Runs each attempt and records whether it was stopped (an OSError) or got through.
ATTEMPTS = """
import json, os, socket, sys
report, attempts = sys.argv[1], json.loads(sys.argv[2])
results = {}
for name, (kind, target) in attempts.items():
    try:
        if kind == "write":
            with open(target, "w") as handle:
                handle.write("pwned")
        elif kind == "read":
            with open(target, "rb") as handle:
                handle.read()
        elif kind == "list":
            os.listdir(target)
        elif kind == "connect":
            socket.create_connection(("127.0.0.1", int(target)), timeout=2).close()
        results[name] = "got through"
    except OSError as exc:
        results[name] = f"stopped: {type(exc).__name__}"
open(report, "w").write(json.dumps(results))
"""


def attack(backend: LocalBatchBackend, job: str, report: Path, attempts: dict[str, tuple[str, str]]) -> dict[str, str]:
    backend.create_job(job)
    backend.add_tasks(job, [TaskSpec(id="attacker", argv=(*py(ATTEMPTS), str(report), json.dumps(attempts)))])
    state = poll_until_done(backend, job, 30)["attacker"]
    assert state.result is TaskResult.SUCCESS, state.failure
    results: dict[str, str] = json.loads(report.read_text())
    return results


@pytest.fixture
def victim(backend: LocalBatchBackend, shared_localbatch: LocalBatchProcess, shared_exchange: Path,
           unique_name: str) -> Iterator[Path]:
    """Another job's running task, with a secret in its working directory; yields its task directory."""
    flag = shared_exchange / "victim-may-end"
    job = f"{unique_name}-victim"
    code = (f"import os, time\nopen('secret.txt', 'w').write('the other studio\\'s shot')\n"
            f"while not os.path.exists({str(flag)!r}): time.sleep(0.02)")
    backend.create_job(job)
    backend.add_tasks(job, [TaskSpec(id="render", argv=py(code))])
    wait_running(backend, job, "render")
    task_dir = shared_localbatch.data_dir.resolve() / "work" / job / "render"
    wait_for((task_dir / "wd" / "secret.txt").exists, 20, "the victim to write its secret")
    yield task_dir
    flag.touch()
    poll_until_done(backend, job, 20)


def test_a_task_cannot_write_into_another_tasks_directory(backend: LocalBatchBackend, victim: Path,
                                                          shared_exchange: Path, unique_name: str) -> None:
    results = attack(backend, unique_name, shared_exchange / "report.json", {
        "overwrite": ("write", str(victim / "wd" / "secret.txt")),
        "new file": ("write", str(victim / "wd" / "pwned.txt")),
        "its log": ("write", str(victim / "stdout.txt")),
    })
    assert all(r.startswith("stopped") for r in results.values()), results
    assert (victim / "wd" / "secret.txt").read_text() == "the other studio's shot"
    assert not (victim / "wd" / "pwned.txt").exists()


def test_a_task_cannot_read_another_jobs_files_or_localbatchs_own(
        backend: LocalBatchBackend, victim: Path, shared_localbatch: LocalBatchProcess, shared_exchange: Path,
        unique_name: str, tmp_path: Path) -> None:
    root = shared_localbatch.data_dir.resolve()
    elsewhere = tmp_path / "studio-notes.txt"
    elsewhere.write_text("any file of the host")
    results = attack(backend, unique_name, shared_exchange / "report.json", {
        "secret": ("read", str(victim / "wd" / "secret.txt")),
        "other jobs": ("list", str(victim.parent)),
        "queue": ("read", str(root / "localbatch.sqlite")),
        "api key": ("read", str(root / "localbatch.key")),
        "host file": ("read", str(elsewhere)),
        "history": ("read", "/root/.bash_history"),
        "etc": ("read", "/etc/hostname"),
    })
    assert all(r.startswith("stopped") for r in results.values()), results


def test_a_task_cannot_change_a_bundle_another_task_unpacked_but_can_add_its_own(
        backend: LocalBatchBackend, shared_localbatch: LocalBatchProcess, shared_exchange: Path,
        unique_name: str) -> None:
    bundles = shared_localbatch.data_dir.resolve() / "shared" / "bundles"
    other = bundles / f"{unique_name}-other"
    other.mkdir(parents=True)
    (other / "shot.blend").write_bytes(b"the other job's scene")
    results = attack(backend, unique_name, shared_exchange / "report.json", {
        "overwrite": ("write", str(other / "shot.blend")),
        "add to it": ("write", str(other / "extra.py")),
        "its own": ("write", str(bundles / f".{unique_name}.partial-1")),
    })
    assert results == {"overwrite": "stopped: OSError", "add to it": "stopped: OSError", "its own": "got through"}
    assert (other / "shot.blend").read_bytes() == b"the other job's scene"
    assert sorted(p.name for p in other.iterdir()) == ["shot.blend"]


def test_a_task_cannot_write_to_the_hosts_tmp(backend: LocalBatchBackend, shared_exchange: Path,
                                              unique_name: str) -> None:
    target = Path("/tmp") / f"localbatch-escape-{uuid.uuid4().hex}"
    results = attack(backend, unique_name, shared_exchange / "report.json", {"host tmp": ("write", str(target))})
    assert results == {"host tmp": "got through"}  # it wrote, but into the sandbox's own /tmp
    assert not target.exists()


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A TCP server on the host's loopback that records every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[str] = []

    def serve() -> None:
        while True:
            try:
                connection, peer = server.accept()
            except OSError:
                return
            accepted.append(str(peer))
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    server.close()
    thread.join(5)


def test_a_task_cannot_connect_to_the_hosts_loopback(backend: LocalBatchBackend, shared_localbatch: LocalBatchProcess,
                                                     shared_exchange: Path, unique_name: str,
                                                     listener: tuple[int, list[str]]) -> None:
    port, accepted = listener
    localbatch_port = shared_localbatch.url.rsplit(":", 1)[1]
    results = attack(backend, unique_name, shared_exchange / "report.json", {
        "listener": ("connect", str(port)), "localbatch": ("connect", localbatch_port)})
    assert all(r.startswith("stopped") for r in results.values()), results
    assert accepted == []


def test_without_the_sandbox_the_same_attack_gets_through(launch: Launch, exchange: Path,
                                                          listener: tuple[int, list[str]]) -> None:
    """The control: --no-sandbox (explicitly asked for) lets the attacks above through."""
    port, accepted = listener
    target = Path("/tmp") / f"localbatch-escape-{uuid.uuid4().hex}"
    try:
        results = attack(launch(sandbox=False).backend(), "job", exchange / "report.json", {
            "host tmp": ("write", str(target)), "listener": ("connect", str(port))})
        assert results == {"host tmp": "got through", "listener": "got through"}
        assert target.read_text() == "pwned" and len(accepted) == 1
    finally:
        target.unlink(missing_ok=True)


def test_without_bwrap_localbatch_refuses_to_start(launch: Launch, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LaunchError, match="bubblewrap"):
        launch()
