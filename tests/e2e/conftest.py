"""The whole local stack (Azurite, Cosmos server, localbatch, devhost) for end-to-end tests,
and small real scenes made with bpy."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack.local import LocalStack, StackInfo, api_request, wait_for
from stack.services import ROOT

TERMINAL = {"completed", "failed", "cancelled"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    with LocalStack(tmp_path_factory.mktemp("stack"), settings_overrides={"POLL_INTERVAL_SECONDS": "2"}) as info:
        yield info


def make_blend(path: Path, frames: int, width: int = 96, height: int = 54, samples: int = 4,
               extra: list[str] | None = None) -> Path:
    subprocess.run([sys.executable, str(ROOT / "samples" / "make_scene.py"), str(path), "--frames", str(frames),
                    "--width", str(width), "--height", str(height), "--samples", str(samples), *(extra or [])],
                   check=True, stdout=subprocess.DEVNULL)
    return path


def make_bundle(path: Path, blend: Path, manifest: dict[str, Any] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(blend, blend.name)
        if manifest is not None:
            archive.writestr("render.json", json.dumps(manifest))
    return path


@pytest.fixture(scope="session")
def small_blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_blend(tmp_path_factory.mktemp("scene") / "shot010.blend", frames=6)


def upload(info: StackInfo, local: Path, blob_name: str) -> tuple[str, str]:
    from azure.storage.blob import BlobServiceClient

    blob = BlobServiceClient.from_connection_string(info.storage_connection_string).get_blob_client(
        "scenes", blob_name)
    with local.open("rb") as stream:
        result = blob.upload_blob(stream, overwrite=True)
    return blob.url, str(result["etag"])


def wait_for_job(info: StackInfo, job_id: str, timeout: float = 300,
                 statuses: set[str] = TERMINAL) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        status, body = api_request(info, "GET", f"/jobs/{job_id}")
        if status == 200 and body["status"] in statuses:
            return body
        return None
    return wait_for(done, timeout, interval=0.5, what=f"job {job_id} to reach {sorted(statuses)}")


def job_chunks(info: StackInfo, job_id: str, limit: int = 2) -> list[dict[str, Any]]:
    """Every chunk of the job, from GET /api/jobs/{jobId}/chunks page by page (small pages, so
    the stack tests go through the continuation tokens too)."""
    chunks: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = f"?limit={limit}" + (f"&continuationToken={token}" if token else "")
        status, body = api_request(info, "GET", f"/jobs/{job_id}/chunks{query}")
        assert status == 200, body
        chunks += body["chunks"]
        token = body["continuationToken"]
        if token is None:
            return chunks


def download(info: StackInfo, container: str, name: str) -> bytes:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(info.storage_connection_string)
    return service.get_blob_client(container, name).download_blob().readall()


def blob_names(info: StackInfo, container: str, prefix: str) -> list[str]:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(info.storage_connection_string)
    return sorted(b.name for b in service.get_container_client(container).list_blobs(name_starts_with=prefix))
