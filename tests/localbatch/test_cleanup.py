"""Task directories go once a task has ended: at once after a success, after the retention after a failure."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from azure.storage.blob import BlobServiceClient

from shared.tasks import OutputFile, TaskResult, TaskSpec
from stack.services import Azurite
from tests.contract.render_backend_contract import poll_until_done
from tests.localbatch.conftest import Launch
from tests.localbatch.helpers import py, wait_for


def test_a_succeeded_tasks_directory_goes_at_once_after_its_outputs_are_uploaded(
        launch: Launch, azurite: Azurite, blobs: BlobServiceClient, container: str) -> None:
    process = launch(storage_connection_string=azurite.connection_string)
    backend = process.backend()
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="render", argv=py("open('frame.png', 'w').write('png'); print('done')"),
                                       output_files=(OutputFile("*.png", container, "frames/"),
                                                     OutputFile("../std*.txt", container, "logs/")))])
    assert poll_until_done(backend, "job", 20)["render"].result is TaskResult.SUCCESS
    job_dir = process.data_dir / "work" / "job"
    wait_for(lambda: not job_dir.exists(), 5, "the task's (and its job's) directory to go")
    assert blobs.get_blob_client(container, "frames/frame.png").download_blob().readall() == b"png"
    assert blobs.get_blob_client(container, "logs/stdout.txt").download_blob().readall() == b"done\n"


def test_a_failed_tasks_directory_is_kept_for_the_retention_then_goes(
        launch: Launch, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALBATCH_FAILED_TASK_RETENTION_SECONDS", "3")
    process = launch()
    backend = process.backend()
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="bad", argv=py("print('why it failed'); raise SystemExit(3)"))])
    state = poll_until_done(backend, "job", 20)["bad"]
    assert state.result is TaskResult.FAILURE and state.end_time is not None
    task_dir = process.data_dir / "work" / "job" / "bad"
    time.sleep(1)
    assert (task_dir / "stdout.txt").read_text() == "why it failed\n"  # there to be looked at
    wait_for(lambda: not task_dir.exists(), 15, "the failed task's directory to go")
    ended = datetime.fromisoformat(state.end_time.replace("Z", "+00:00"))
    assert (datetime.now(UTC) - ended).total_seconds() >= 3


def test_a_task_that_succeeds_on_a_retry_leaves_no_directory(launch: Launch) -> None:
    process = launch()
    backend = process.backend()
    backend.create_job("job")
    # Fails on its first attempt only, counted by a file in the node's shared directory
    # (the working directory is emptied for every attempt).
    marker = process.data_dir / "shared" / "attempted"
    code = (f"import os, sys\nif not os.path.exists({str(marker)!r}):\n"
            f"    open({str(marker)!r}, 'w').close(); sys.exit(1)")
    backend.add_tasks("job", [TaskSpec(id="flaky", argv=py(code), max_retries=1)])
    state = poll_until_done(backend, "job", 20)["flaky"]
    assert (state.result, state.retry_count) == (TaskResult.SUCCESS, 1)
    wait_for(lambda: not (process.data_dir / "work" / "job").exists(), 5, "the task's directory to go")
