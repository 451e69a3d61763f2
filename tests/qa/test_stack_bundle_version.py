"""An artist overwrites a bundle while its job renders, on the whole local stack with real
Blender: the job renders the version it validated, and the new upload is a job of its own."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from shared.job_document import upload_job_id
from stack.local import api_request, wait_for
from tests.e2e.conftest import blob_names, download, make_bundle, small_blend, upload, wait_for_job

__all__ = ["small_blend"]
pytestmark = pytest.mark.slow


def test_an_overwrite_after_validation_leaves_the_running_job_on_the_first_version(stack, small_blend, tmp_path):
    first = make_bundle(tmp_path / "v1.zip", small_blend, {"frames": "1-2", "chunkSize": 1, "video": None})
    # The second version has no shot010.blend: a task that read it could not render at all.
    second = tmp_path / "v2.zip"
    with zipfile.ZipFile(second, "w") as archive:
        archive.write(small_blend, "renamed/other.blend")
    url, etag = upload(stack, first, "artist-q/overwritten.zip")
    job_id = upload_job_id(url, etag)
    wait_for(lambda: "input" in (api_request(stack, "GET", f"/jobs/{job_id}")[1] or {}), 120,
             interval=0.2, what="validation to store the input copy")
    new_url, new_etag = upload(stack, second, "artist-q/overwritten.zip")

    doc = wait_for_job(stack, job_id)
    assert doc["status"] == "completed", doc["error"]
    assert doc["input"]["blob"] == f"{job_id}/input/overwritten.zip"
    assert download(stack, "renders", doc["input"]["blob"]) == Path(first).read_bytes()
    assert blob_names(stack, "renders", f"{job_id}/frames/") == [
        f"{job_id}/frames/shot010_0001.png", f"{job_id}/frames/shot010_0002.png"]
    newer = wait_for_job(stack, upload_job_id(new_url, new_etag))
    assert newer["id"] != job_id and newer["bundle"]["blendPath"] == "renamed/other.blend"
