"""A store of the local stack killed (kill -9) in the middle of a render and started again
the way the stack starts it: the job still completes, and nothing stored before is lost."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from shared.job_document import upload_job_id
from stack.local import LocalStack, StackInfo
from stack.mariadb import MariaDB
from stack.services import start_azurite, start_cosmos
from tests.e2e.conftest import blob_names, download, make_bundle, upload, wait_for_job

pytestmark = pytest.mark.slow


def _kill9(stack: LocalStack, name: str) -> None:
    service = stack.services[name]
    assert service.process is not None
    os.killpg(service.process.pid, signal.SIGKILL)
    service.process.wait(timeout=10)
    service.process = None


def _restart(stack: LocalStack, info: StackInfo, name: str) -> None:
    data_dir = Path(info.data_dir)
    if name == "azurite":
        mariadb = stack.services["mariadb"]
        assert isinstance(mariadb, MariaDB)
        stack.services[name] = start_azurite(data_dir, info.azurite_port, key=info.storage_key,
                                             database_url=mariadb.url, request_log=True)
    else:
        stack.services[name] = start_cosmos(data_dir, info.cosmos_port, key=info.cosmos_key)


@pytest.mark.parametrize("store", ["azurite", "cosmos"])
def test_a_render_survives_its_store_being_killed_and_restarted(store: str, small_blend: Path, tmp_path: Path):
    bundle = make_bundle(tmp_path / "shot030.zip", small_blend, {"chunkSize": 2, "video": {"name": "shot030.mp4"}})
    stack_ = LocalStack(tmp_path / "stack", settings_overrides={"POLL_INTERVAL_SECONDS": "2"})
    with stack_ as info:
        url, etag = upload(info, bundle, "artist-k/shot030.zip")
        job_id = upload_job_id(url, etag)
        wait_for_job(info, job_id, timeout=120, statuses={"rendering"})
        _kill9(stack_, store)
        _restart(stack_, info, store)
        doc = wait_for_job(info, job_id, timeout=300)
        assert doc["status"] == "completed", doc.get("error")
        assert doc["progress"]["framesDone"] == 6
        assert blob_names(info, "renders", f"{job_id}/frames/") == [
            f"{job_id}/frames/shot010_{n:04d}.png" for n in range(1, 7)]  # named for the .blend
        assert download(info, "scenes", "artist-k/shot030.zip") == bundle.read_bytes()
