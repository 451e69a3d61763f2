"""Resource and output transfers when storage is briefly down: retried as Batch does, against a real Azurite."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from localbatch.launcher import LocalBatchProcess
from shared.tasks import OutputFile, ResourceFile, TaskResult, TaskSpec
from stack.services import Azurite, start_azurite
from tests.contract.render_backend_contract import poll_until_done
from tests.localbatch.conftest import Launch
from tests.localbatch.helpers import py, wait_for

CONTAINER = "transfers"


@dataclass
class Storage:
    """An Azurite of this test alone, which it can stop and start again (same port, same blobs)."""

    directory: Path
    service: Azurite

    @property
    def connection_string(self) -> str:
        return self.service.connection_string

    def blobs(self) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.connection_string)

    def stop(self) -> None:
        self.service.stop()

    def start(self) -> None:
        self.service = start_azurite(self.directory, self.service.port)

    def start_after(self, seconds: float) -> threading.Thread:
        thread = threading.Thread(target=lambda: (time.sleep(seconds), self.start()))
        thread.start()
        return thread


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    storage = Storage(tmp_path / "storage", start_azurite(tmp_path / "storage"))
    storage.blobs().create_container(CONTAINER)
    yield storage
    storage.stop()


def task_json(process: LocalBatchProcess, job: str, task: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{process.url}/jobs/{job}/tasks/{task}",
                                     headers={"x-localbatch-key": process.key})
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def retried(process: LocalBatchProcess, what: str) -> bool:
    return f"{what} failed (ServiceRequestError); trying again" in process.log_path.read_text()


def test_a_download_while_storage_is_briefly_down_is_retried_within_the_attempt(
        launch: Launch, storage: Storage) -> None:
    storage.blobs().get_blob_client(CONTAINER, "scene.blend").upload_blob(b"BLEND")
    process = launch(storage_connection_string=storage.connection_string)
    backend = process.backend()
    backend.create_job("job")
    storage.stop()
    backend.add_tasks("job", [TaskSpec(
        id="render", argv=py("assert open('scene.blend', 'rb').read() == b'BLEND'"),
        resource_files=(ResourceFile(CONTAINER, "scene.blend", blob="scene.blend"),))])
    wait_for(lambda: retried(process, f"download of {CONTAINER}/scene.blend"), 20, "a failed download")
    storage.start_after(0.5).join()
    state = poll_until_done(backend, "job", 30)["render"]
    assert (state.result, state.retry_count) == (TaskResult.SUCCESS, 0)


def test_a_download_that_keeps_failing_is_a_failed_attempt_with_a_server_error(
        launch: Launch, storage: Storage) -> None:
    storage.blobs().get_blob_client(CONTAINER, "scene.blend").upload_blob(b"BLEND")
    process = launch(storage_connection_string=storage.connection_string, slots=2)
    backend = process.backend()
    backend.create_job("job")
    storage.stop()
    resource = (ResourceFile(CONTAINER, "scene.blend", blob="scene.blend"),)
    backend.add_tasks("job", [TaskSpec(id="once", argv=("true",), resource_files=resource, max_retries=0),
                              TaskSpec(id="again", argv=("true",), resource_files=resource, max_retries=3)])
    wait_for(lambda: backend.get_task("job", "again").retry_count >= 1, 40, "the first attempt to fail")
    once = task_json(process, "job", "once")
    assert (once["result"], once["retryCount"], once["exitCode"]) == ("failure", 0, None)
    assert once["failureInfo"]["category"] == "ServerError"
    assert once["failure"].startswith(f"resource file download failed: {CONTAINER}/scene.blend: "
                                      "storage unavailable after 5 tries")
    storage.start()
    state = poll_until_done(backend, "job", 40)["again"]
    assert state.result is TaskResult.SUCCESS and 1 <= state.retry_count <= 3
    assert "failureInfo" not in task_json(process, "job", "again")


def render_while_storage_stops(launch: Launch, storage: Storage, exchange: Path,
                               max_retries: int = 0) -> LocalBatchProcess:
    """A task that writes a frame to upload once storage has been stopped under it."""
    flag = exchange / "go"
    process = launch(storage_connection_string=storage.connection_string)
    backend = process.backend()
    backend.create_job("job")
    code = (f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.02)\n"
            "open('frame.png', 'w').write('png')")
    backend.add_tasks("job", [TaskSpec(id="render", argv=py(code), max_retries=max_retries,
                                       output_files=(OutputFile("frame.png", CONTAINER, "job/frame.png"),))])
    wait_for(lambda: backend.get_task("job", "render").status.value == "running", 20, "the task to run")
    storage.stop()
    flag.touch()
    return process


def test_an_upload_while_storage_is_briefly_down_is_retried_within_the_attempt(
        launch: Launch, storage: Storage, exchange: Path) -> None:
    process = render_while_storage_stops(launch, storage, exchange)
    backend = process.backend()
    wait_for(lambda: retried(process, f"upload of {CONTAINER}/job/frame.png"), 20, "a failed upload")
    storage.start_after(0.5).join()
    state = poll_until_done(backend, "job", 30)["render"]
    assert (state.result, state.retry_count) == (TaskResult.SUCCESS, 0)
    assert storage.blobs().get_blob_client(CONTAINER, "job/frame.png").download_blob().readall() == b"png"


def test_an_upload_that_keeps_failing_fails_the_attempt_and_the_task_is_retried(
        launch: Launch, storage: Storage, exchange: Path) -> None:
    process = render_while_storage_stops(launch, storage, exchange, max_retries=2)
    backend = process.backend()
    wait_for(lambda: backend.get_task("job", "render").retry_count >= 1, 40, "the first attempt to fail")
    storage.start()
    state = poll_until_done(backend, "job", 40)["render"]
    assert state.result is TaskResult.SUCCESS and state.retry_count >= 1
    assert storage.blobs().get_blob_client(CONTAINER, "job/frame.png").download_blob().readall() == b"png"


def test_a_missing_blob_is_a_user_error_and_not_retried(launch: Launch, storage: Storage) -> None:
    process = launch(storage_connection_string=storage.connection_string)
    backend = process.backend()
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="render", argv=("true",), max_retries=3,
                                       resource_files=(ResourceFile(CONTAINER, "x.blend", blob="missing.blend"),))])
    state = poll_until_done(backend, "job", 20)["render"]
    assert (state.result, state.retry_count) == (TaskResult.FAILURE, 0)
    assert task_json(process, "job", "render")["failureInfo"]["category"] == "UserError"


def test_a_resource_larger_than_the_free_disk_fails_the_task_clearly(launch: Launch, storage: Storage) -> None:
    storage.blobs().get_blob_client(CONTAINER, "scene.blend").upload_blob(b"B" * 4096)
    # The reserve leaves less free space than the 4 KiB blob, whatever the disk holds.
    process = launch(storage_connection_string=storage.connection_string,
                     extra_args=("--disk-reserve-bytes", str(2**62)))
    backend = process.backend()
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="render", argv=("true",), max_retries=2,
                                       resource_files=(ResourceFile(CONTAINER, "scene.blend", blob="scene.blend"),))])
    state = poll_until_done(backend, "job", 20)["render"]
    assert (state.result, state.exit_code, state.retry_count) == (TaskResult.FAILURE, None, 0)
    assert state.failure is not None
    assert state.failure.startswith(f"not enough disk space for resource file {CONTAINER}/scene.blend: "
                                    "it needs 4096 bytes")
