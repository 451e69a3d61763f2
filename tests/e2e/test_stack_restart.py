"""Stopping and starting the local stack loses no job document and no orchestration history."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.job_document import upload_job_id
from stack.local import LocalStack, api_request, wait_for
from tests.e2e.conftest import upload, wait_for_job

pytestmark = pytest.mark.slow


def test_jobs_and_their_history_survive_a_restart_of_the_stack(tmp_path: Path):
    bogus = tmp_path / "broken.zip"
    bogus.write_bytes(b"this is not a zip file")
    data_dir = tmp_path / "stack"
    with LocalStack(data_dir) as info:
        url, etag = upload(info, bogus, "artist-e/broken.zip")
        job_id = upload_job_id(url, etag)
        before = wait_for_job(info, job_id, timeout=120)
        assert before["status"] == "failed"
        assert before["error"]["code"] == "bundle_not_zip_or_blend"
        # The document says failed once fail_job ran; the orchestration finishes just after.
        history_before = wait_for(
            lambda: (h := api_request(info, "GET", f"/jobs/{job_id}/history")[1])["runtimeStatus"] == "Completed"
            and h, 30, what="the orchestration to finish")
    with LocalStack(data_dir) as info:
        status, after = api_request(info, "GET", f"/jobs/{job_id}")
        assert status == 200
        assert {k: after[k] for k in ("status", "error", "source", "timestamps")} == {
            k: before[k] for k in ("status", "error", "source", "timestamps")}
        status, history_after = api_request(info, "GET", f"/jobs/{job_id}/history")
        assert status == 200 and history_after["runtimeStatus"] == "Completed"
        assert len(history_after["history"]) == len(history_before["history"])
        _, listing = api_request(info, "GET", "/jobs?status=failed")
        assert job_id in [j["id"] for j in listing["jobs"]]
        assert all("chunks" not in j for j in listing["jobs"])
