"""The asset store on Azurite: real blobs, real SAS URLs; job documents in the in-memory store."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from shared.adapters.blob_sas import AccountKeySigner
from shared.adapters.blob_store import AzureBlobStore
from shared.adapters.fake_chunk_store import FakeChunkStore
from shared.adapters.fake_event_publisher import RecordingEventPublisher
from shared.adapters.fake_job_store import FakeJobStore
from shared.adapters.fake_render_backend import FakeRenderBackend
from shared.bootstrap import Services
from shared.config import Settings
from shared.pipeline import assets


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settings_for(azurite: Any, container: str, **extra: str) -> Settings:
    return Settings.from_env({"STORAGE_CONNECTION_STRING": azurite.connection_string,
                              "COSMOS_ENDPOINT": "https://cosmos.invalid/", "LOCALBATCH_URL": "http://lb.invalid",
                              "ASSETS_CONTAINER": container, **extra})


@dataclass
class Store:
    svc: Services
    signer: AccountKeySigner
    blobs: AzureBlobStore

    @property
    def container(self) -> str:
        return self.svc.settings.assets_container

    def upload(self, data: bytes, *, claimed: str | None = None, size: int | None = None) -> dict[str, Any]:
        """The client's side: ask, PUT to the write URL, commit. Returns the commit's answer."""
        ref = {"hash": claimed or sha(data), "size": len(data) if size is None else size}
        answer = assets.find_missing(self.svc, self.signer, {"assets": [ref]})
        if not answer["missing"]:
            return {"skipped": True}
        item = answer["missing"][0]
        put = requests.put(item["uploadUrl"], data=data, headers={"x-ms-blob-type": "BlockBlob"}, timeout=30)
        assert put.status_code == 201, put.text
        return assets.commit_asset(self.svc, {"hash": ref["hash"], "size": ref["size"],
                                              "blobName": item["blobName"]})


@pytest.fixture
def store(azurite, unique_name) -> Store:
    blobs = AzureBlobStore.from_connection_string(azurite.connection_string, retry_total=0)
    settings = settings_for(azurite, unique_name)
    for container in (settings.assets_container, settings.renders_container, settings.scenes_container):
        blobs.ensure_container(container)
    svc = Services(settings=settings, blobs=blobs, jobs=FakeJobStore(),
                   chunks=FakeChunkStore(), backend=FakeRenderBackend(),
                   events=RecordingEventPublisher(), now=lambda: "2026-12-01T10:00:00.000Z")
    return Store(svc=svc, signer=AccountKeySigner(azurite.connection_string), blobs=blobs)
