"""Conditional GETs on the local stack: devhost, the Cosmos server and a real job, over HTTP
as a dashboard polls them."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from shared.job_document import upload_job_id
from stack.local import StackInfo, api_request, wait_for
from tests.e2e.conftest import stack, upload

__all__ = ["stack"]

pytestmark = pytest.mark.slow


def raw_get(info: StackInfo, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"{info.api_url}{path}",
                                     headers={"x-functions-key": info.function_key, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:  # urllib raises for 304 as for any non-2xx
        return exc.code, dict(exc.headers), exc.read()


def failed_run(info: StackInfo, job_id: str, run: int) -> dict[str, object]:
    def done() -> dict[str, object] | None:
        status, body = api_request(info, "GET", f"/jobs/{job_id}")
        return body if status == 200 and body["status"] == "failed" and len(body.get("runs") or [1]) >= run else None
    return wait_for(done, 120, what=f"run {run} of {job_id} to fail")


def test_polling_an_unchanged_job_and_list_gets_304s_until_the_job_changes(stack, tmp_path):
    bundle = tmp_path / "etag.zip"
    bundle.write_bytes(b"not a zip: the job fails at validation and then stays as it is")
    url, etag = upload(stack, bundle, "http-etag/etag.zip")
    job_id = upload_job_id(url, etag)
    failed_run(stack, job_id, 1)

    status, headers, body = raw_get(stack, f"/jobs/{job_id}")
    assert status == 200 and body and headers["Cache-Control"] == "private, no-cache"
    tag = headers["ETag"]
    status, again, body = raw_get(stack, f"/jobs/{job_id}", {"If-None-Match": tag})
    assert (status, body, again["ETag"], again["Cache-Control"]) == (304, b"", tag, "private, no-cache")
    assert raw_get(stack, f"/jobs/{job_id}", {"If-None-Match": f'"other", W/{tag}'})[0] == 304
    assert raw_get(stack, "/jobs/job-0123456789abcdef0123456789abcdef", {"If-None-Match": "*"})[0] == 404

    status, headers, _ = raw_get(stack, "/jobs?top=5")
    page_tag = headers["ETag"]
    assert status == 200 and raw_get(stack, "/jobs?top=5", {"If-None-Match": page_tag})[0] == 304

    assert api_request(stack, "POST", f"/jobs/{job_id}/retry")[0] in (200, 202)
    failed_run(stack, job_id, 2)  # a second run: the document, and so the answer, changed
    status, headers, body = raw_get(stack, f"/jobs/{job_id}", {"If-None-Match": tag})
    assert status == 200 and body and headers["ETag"] != tag
    status, headers, body = raw_get(stack, "/jobs?top=5", {"If-None-Match": page_tag})
    assert status == 200 and body and headers["ETag"] != page_tag
