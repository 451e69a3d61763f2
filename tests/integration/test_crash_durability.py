"""Nothing a local store acknowledged is lost when it is killed (kill -9, no warning) and
started again the way the stack starts it: Azurite over MariaDB, the Cosmos server's journal."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import AzureError
from azure.storage.blob import BlobServiceClient

from shared.adapters.cosmos_job_store import CosmosJobStore, ensure_cosmos_container
from shared.config import Settings
from stack.mariadb import MariaDB, start_mariadb
from stack.services import Azurite, Service, new_account_key, start_azurite, start_cosmos


def kill9(service: Service) -> None:
    assert service.process is not None
    os.killpg(service.process.pid, signal.SIGKILL)
    service.process.wait(timeout=10)
    service.process = None


class DurableBlobs:
    """MariaDB + Azurite in one data directory, started and restarted as stack/local.py does."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.key = new_account_key()
        self.mariadb: MariaDB = start_mariadb(data_dir)
        self.azurite: Azurite = self.start_azurite()

    def start_azurite(self, port: int | None = None) -> Azurite:
        return start_azurite(self.data_dir, port, key=self.key, database_url=self.mariadb.url)

    def restart_azurite(self) -> None:
        self.azurite = self.start_azurite(self.azurite.port)

    def restart_all(self) -> None:
        self.mariadb = start_mariadb(self.data_dir, self.mariadb.port)
        self.restart_azurite()

    def client(self, **options: object) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.azurite.connection_string, **options)

    def stop(self) -> None:
        self.azurite.stop()
        self.mariadb.stop()


@pytest.fixture
def blobs(tmp_path: Path) -> Iterator[DurableBlobs]:
    stores = DurableBlobs(tmp_path)
    try:
        yield stores
    finally:
        stores.stop()


def test_a_blob_acknowledged_just_before_azurite_is_killed_survives(blobs: DurableBlobs) -> None:
    client = blobs.client()
    client.create_container("scenes")
    data = os.urandom(300_000)
    blobs.client().get_blob_client("scenes", "artist/shot010.zip").upload_blob(data)
    kill9(blobs.azurite)
    blobs.restart_azurite()
    assert blobs.client().get_blob_client("scenes", "artist/shot010.zip").download_blob().readall() == data


def _write_until_refused(client: BlobServiceClient, acknowledged: dict[str, bytes], started: threading.Event) -> None:
    container = client.get_container_client("renders")
    for n in range(100_000):
        name, data = f"job/frames/f_{n:05d}.png", os.urandom(512 + n % 4096)
        try:
            container.upload_blob(name, data)
        except AzureError:
            return
        acknowledged[name] = data
        if n == 50:
            started.set()


def test_every_blob_acknowledged_in_a_tight_loop_survives_a_kill(blobs: DurableBlobs) -> None:
    blobs.client().create_container("renders")
    acknowledged: dict[str, bytes] = {}
    started = threading.Event()
    writer = threading.Thread(target=_write_until_refused, daemon=True,
                              args=(blobs.client(retry_total=0), acknowledged, started))
    writer.start()
    assert started.wait(60)
    kill9(blobs.azurite)  # mid-loop: some upload is in flight
    writer.join(30)
    assert not writer.is_alive()
    blobs.restart_azurite()
    container = blobs.client().get_container_client("renders")
    stored = {b.name for b in container.list_blobs()}
    assert set(acknowledged) <= stored
    for name, data in acknowledged.items():
        assert container.download_blob(name).readall() == data, name


def test_blobs_survive_killing_azurite_and_its_database_together(blobs: DurableBlobs) -> None:
    client = blobs.client()
    client.create_container("assets")
    written = {f"sha256/{n:064x}": os.urandom(2048) for n in range(40)}
    for name, data in written.items():
        client.get_blob_client("assets", name).upload_blob(data)
    kill9(blobs.azurite)
    kill9(blobs.mariadb)
    blobs.restart_all()
    container = blobs.client().get_container_client("assets")
    assert {name: container.download_blob(name).readall() for name in written} == written


def test_the_cosmos_server_keeps_acknowledged_creates_and_replaces_through_a_kill(tmp_path: Path) -> None:
    server = start_cosmos(tmp_path)
    try:
        settings = Settings.from_env({
            "STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true", "LOCALBATCH_URL": "http://127.0.0.1:1",
            "COSMOS_ENDPOINT": server.endpoint, "COSMOS_KEY": server.key, "COSMOS_VERIFY_TLS": "false",
            "COSMOS_DATABASE": "render", "COSMOS_CONTAINER": "jobs"})
        ensure_cosmos_container(settings)
        store = CosmosJobStore.from_settings(settings)
        docs = [store.create({"id": f"job-{n:03d}", "status": "queued", "n": n}) for n in range(60)]
        replaced = store.replace({**docs[-1], "status": "rendering"}, etag=docs[-1]["_etag"])
        port = server.port
        kill9(server)  # at once: the last acknowledged write must be on disk already
        server = start_cosmos(tmp_path, port=port)
        store = CosmosJobStore.from_settings(settings)
        for n in range(59):
            assert store.get(f"job-{n:03d}")["n"] == n
        last = store.get("job-059")
        assert last["status"] == "rendering"
        assert last["_etag"] == replaced["_etag"]
    finally:
        server.stop()
