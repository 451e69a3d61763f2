"""task_runner.py's heartbeat PUT through a one-blob write SAS, against a real Azurite: seen from
outside while the task runs, never printed, and a heartbeat that cannot be sent never fails the task."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, ContainerClient, generate_blob_sas

from stack.services import AZURITE_ACCOUNT, AZURITE_KEY, Azurite, free_port
from tests.render.test_frame_watch import marker, run, runner_argv


def sas_url(azurite: Azurite, container: str, blob: str, permission: BlobSasPermissions) -> str:
    sas = generate_blob_sas(AZURITE_ACCOUNT, container, blob, account_key=AZURITE_KEY, permission=permission,
                            expiry=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    return f"{azurite.blob_endpoint}/{container}/{blob}?{sas}"


def make_container(azurite: Azurite, name: str) -> ContainerClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string).create_container(name)


def read_beat(container: ContainerClient, blob: str) -> dict[str, object] | None:
    try:
        download = container.get_blob_client(blob).download_blob()
    except ResourceNotFoundError:
        return None
    assert download.properties.content_settings.content_type == "application/json"
    return dict(json.loads(download.readall()))


def test_the_heartbeat_blob_is_seen_mid_task_and_the_url_never_printed(
        azurite: Azurite, unique_name: str, tmp_path: Path) -> None:
    container = make_container(azurite, unique_name)
    blob = "job-1/heartbeats/chunk-0001.json"
    url = sas_url(azurite, unique_name, blob, BlobSasPermissions(create=True, write=True))
    env = {**os.environ, "RENDER_HEARTBEAT_URL": url}
    proc = subprocess.Popen(runner_argv("--frames", "1-2", "--previews", "", "--heartbeat-every", "1",
                                        fake=["frames=1,2", "wait_for=go"]),
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline, beat = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            beat = read_beat(container, blob)
            if beat and beat["framesDone"] == [1]:
                break
            time.sleep(0.2)
        assert beat is not None and beat["framesDone"] == [1], beat
        assert beat["status"] == "running" and beat["taskId"] == "chunk-0001"
        assert isinstance(beat["frameSeconds"], dict) and set(beat["frameSeconds"]) == {"1"}
        assert proc.poll() is None  # seen while the task still runs
        (tmp_path / "go").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    final = read_beat(container, blob)
    assert final is not None and final["status"] == "succeeded" and final["framesDone"] == [1, 2]
    signature = url.split("sig=", 1)[1].split("&", 1)[0]
    for text in (out, err, (tmp_path / "marker.json").read_bytes(), (tmp_path / "heartbeat.json").read_bytes()):
        assert signature.encode() not in text and b"sig=" not in text


def test_a_heartbeat_that_cannot_be_written_never_fails_the_task(
        azurite: Azurite, unique_name: str, tmp_path: Path) -> None:
    container = make_container(azurite, unique_name)
    blob = "heartbeats/chunk-0001.json"
    read_only = sas_url(azurite, unique_name, blob, BlobSasPermissions(read=True))
    for url in (read_only, f"http://127.0.0.1:{free_port()}/{AZURITE_ACCOUNT}/x/y.json?sv=2021&sig=abc",
                "file:///etc/passwd?x"):
        work = tmp_path / str(abs(hash(url)))
        work.mkdir()
        result = run(work, "--frames", "1", "--previews", "", fake=["frames=1"],
                     env={**os.environ, "RENDER_HEARTBEAT_URL": url})
        assert result.returncode == 0, result.stderr
        assert marker(work)["status"] == "succeeded"
        assert b"heartbeat upload failed" in result.stderr or b"not an http(s) SAS URL" in result.stderr
        assert url.split("?")[1].encode() not in result.stderr
    assert read_beat(container, blob) is None  # the read-only SAS wrote nothing
