"""Reading a task's files (Batch's Get Task File with a tail), and the reads that must fail.

The attacks are real: a sandboxed task plants symlinks and a FIFO in its own working
directory, and raw requests send `..`, absolute, encoded and NUL paths past any client.
Each must be refused (400 or 404) without a byte of another file.
"""

from __future__ import annotations

import http.client
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from localbatch.launcher import LocalBatchProcess, start_localbatch
from shared.adapters.local_batch_backend import LocalBatchBackend
from shared.errors import NotFoundError, ValidationError
from shared.tasks import TaskSpec
from tests.contract.render_backend_contract import poll_until_done
from tests.localbatch.conftest import exchange_below
from tests.localbatch.helpers import py, wait_for, wait_running

LOG = b"".join(b"frame %05d done\n" % i for i in range(1000))


def raw_get(process: LocalBatchProcess, path: str) -> tuple[int, bytes]:
    """A GET sent exactly as written: no client resolves `..` or re-encodes it first."""
    url = urllib.parse.urlsplit(process.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.request("GET", path, headers={"x-localbatch-key": process.key})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def writes_log_then_waits(flag: Path) -> tuple[str, ...]:
    return py(f"import os, sys, time\nsys.stdout.buffer.write({LOG!r}); sys.stdout.flush()\n"
              f"os.makedirs('frames'); open('frames/shot 010_0001.png', 'wb').write(b'\\x89PNG-data')\n"
              f"while not os.path.exists({str(flag)!r}): time.sleep(0.02)")


@pytest.fixture(scope="module")
def process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBatchProcess]:
    """One localbatch for the module; each test uses a job of its own."""
    started = start_localbatch(tmp_path_factory.mktemp("localbatch"), slots=4)
    yield started
    started.stop()


@pytest.fixture
def job(process: LocalBatchProcess, unique_name: str) -> str:
    process.backend().create_job(unique_name)
    return unique_name


@pytest.fixture
def exchange(process: LocalBatchProcess, unique_name: str) -> Path:
    """A directory both this test and its tasks see (below the node's shared directory)."""
    return exchange_below(process, unique_name)


def test_a_running_tasks_log_tail_and_working_files_can_be_read(process: LocalBatchProcess, job: str,
                                                                exchange: Path) -> None:
    backend = process.backend()
    flag = exchange / "go"
    backend.add_tasks(job, [TaskSpec(id="render", argv=writes_log_then_waits(flag))])
    wait_running(backend, job, "render")
    wait_for(lambda: _size(backend, job, "render") == len(LOG), 20, "the log to be written")

    assert backend.read_task_file(job, "render", "stdout.txt", 100) == LOG[-100:]
    assert backend.read_task_file(job, "render", "stdout.txt", 10 * len(LOG)) == LOG
    assert backend.read_task_file(job, "render", "stderr.txt", 4096) == b""
    wait_for(lambda: _exists(backend, job, "render", "wd/frames/shot 010_0001.png"), 20, "the frame")
    assert backend.read_task_file(job, "render", "wd/frames/shot 010_0001.png", 4) == b"data"
    with pytest.raises(ValidationError):
        backend.read_task_file(job, "render", "wd/frames", 10)  # a directory
    with pytest.raises(NotFoundError):
        backend.read_task_file(job, "render", "wd/nope.txt", 10)
    flag.touch()
    poll_until_done(backend, job, 20)
    # A succeeded task's directory goes once its outputs are uploaded: its files with it.
    wait_for(lambda: not (process.data_dir / "work" / job / "render").exists(), 20, "the cleanup")
    with pytest.raises(NotFoundError):
        backend.read_task_file(job, "render", "stdout.txt", 100)


def test_a_failed_tasks_files_stay_readable_and_tasks_not_run_have_none(process: LocalBatchProcess, job: str) -> None:
    backend = process.backend()
    backend.add_tasks(job, [TaskSpec(id="bad", argv=py("import sys; print('no scene'); sys.exit(3)")),
                              TaskSpec(id="never", argv=("true",), depends_on=("bad",))])
    poll_until_done(backend, job, 20, ["bad"])
    assert backend.read_task_file(job, "bad", "stdout.txt", 1000) == b"no scene\n"
    for task_id in ("never", "missing"):
        with pytest.raises(NotFoundError):
            backend.read_task_file(job, task_id, "stdout.txt", 10)
    with pytest.raises(NotFoundError):
        backend.read_task_file("no-such-job", "bad", "stdout.txt", 10)


@pytest.mark.parametrize("path", ["../other-task/stdout.txt", "/etc/passwd", "wd/../../x", "..", "",
                                  "wd\\..\\x", "a\0b"])
def test_the_adapter_refuses_paths_that_leave_the_task_directory(path: str) -> None:
    backend = LocalBatchBackend("http://127.0.0.1:9", key="k" * 32, timeout=1)  # nothing listens: not sent
    with pytest.raises(ValidationError):
        backend.read_task_file("job", "t", path, 10)


def test_symlinks_and_fifos_a_task_plants_are_not_followed(process: LocalBatchProcess, job: str,
                                                           exchange: Path) -> None:
    backend = process.backend()
    secret = exchange / "secret.txt"
    secret.write_text("another job's frame")
    key_file = process.data_dir.resolve() / "localbatch.key"
    plant = (f"ln -s {key_file} key && ln -s {secret} secret && ln -s ../../.. up && ln -s /etc etc "
             f"&& ln -s ../stdout.txt log && mkfifo pipe && echo planted && exec sleep 60")
    backend.add_tasks(job, [TaskSpec(id="evil", argv=("sh", "-c", plant))])
    wait_for(lambda: _log_is(backend, job, "evil", b"planted\n"), 20, "the plant")
    attempts = ["wd/key", "wd/secret", "wd/up/localbatch.key", "wd/etc/passwd", "wd/log", "wd/pipe"]
    for path in attempts:
        with pytest.raises(ValidationError):
            backend.read_task_file(job, "evil", path, 1024)
        status, body = raw_get(process, f"/jobs/{job}/tasks/evil/files/{urllib.parse.quote(path)}")
        assert status == 400
        assert process.key.encode() not in body and b"another job" not in body and b"root:" not in body
    backend.terminate_job(job)


@pytest.mark.parametrize("path", [
    "../../../localbatch.key", "wd/../../../../localbatch.key", "%2e%2e/%2e%2e/%2e%2e/localbatch.key",
    "..%2F..%2F..%2Flocalbatch.key", "/etc/passwd", "%2Fetc%2Fpasswd", "stdout.txt%00.png", "./stdout.txt",
    "wd//x", "stdout.txt?tailBytes=0", "stdout.txt?tailBytes=-5", "stdout.txt?tailBytes=16777217",
])
def test_raw_requests_with_escaping_paths_or_bad_tails_are_refused(process: LocalBatchProcess, job: str,
                                                                   path: str) -> None:
    backend = process.backend()
    backend.add_tasks(job, [TaskSpec(id="t", argv=("sh", "-c", "echo hello; exec sleep 60"))])
    wait_for(lambda: _log_is(backend, job, "t", b"hello\n"), 20, "the log")
    status, body = raw_get(process, f"/jobs/{job}/tasks/t/files/{path}")
    assert status in (400, 404)
    assert process.key.encode() not in body and b"root:" not in body and b"hello" not in body
    backend.terminate_job(job)


def test_a_keyless_file_read_is_refused(process: LocalBatchProcess, job: str) -> None:
    backend = process.backend()
    backend.add_tasks(job, [TaskSpec(id="t", argv=("sh", "-c", "echo hello; exec sleep 60"))])
    wait_for(lambda: _log_is(backend, job, "t", b"hello\n"), 20, "the log")
    url = urllib.parse.urlsplit(process.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    connection.request("GET", f"/jobs/{job}/tasks/t/files/stdout.txt")
    response = connection.getresponse()
    assert (response.status, b"hello" in response.read()) == (401, False)
    connection.close()
    backend.terminate_job(job)


def _size(backend: LocalBatchBackend, job: str, task_id: str) -> int:
    try:
        return len(backend.read_task_file(job, task_id, "stdout.txt", len(LOG) * 2))
    except NotFoundError:
        return -1


def _exists(backend: LocalBatchBackend, job: str, task_id: str, path: str) -> bool:
    try:
        backend.read_task_file(job, task_id, path, 1)
    except NotFoundError:
        return False
    return True


def _log_is(backend: LocalBatchBackend, job: str, task_id: str, expected: bytes) -> bool:
    try:
        return backend.read_task_file(job, task_id, "stdout.txt", 100) == expected
    except NotFoundError:  # not started yet: its directory or log is not made yet
        return False
