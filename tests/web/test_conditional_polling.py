"""The dashboard polls with the API's own ETags (no faked answers): after the first 200 its
polls of an unchanged job and of the job list get 304 Not Modified, and the page keeps
showing what the last 200 said."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from shared.job_document import upload_job_id
from stack.local import StackInfo, api_request, wait_for
from tests.e2e.conftest import upload
from tests.web.conftest import sign_in

pytestmark = pytest.mark.slow


def failed_job(stack: StackInfo, tmp_path: Path) -> str:
    bundle = tmp_path / "etag.zip"
    bundle.write_bytes(b"not a zip: the job fails at validation and then stays as it is")
    url, etag = upload(stack, bundle, "web-etag/etag.zip")
    job_id = upload_job_id(url, etag)
    wait_for(lambda: (lambda r: r[0] == 200 and r[1]["status"] == "failed")(
        api_request(stack, "GET", f"/jobs/{job_id}")), 120, what=f"job {job_id} to fail")
    return job_id


def queued_job(stack: StackInfo) -> str:
    """A job waiting in the queue, with no orchestration yet: the page keeps polling it (it
    stops for a finished job), and nothing changes it meanwhile."""
    from shared.adapters.cosmos_job_store import CosmosJobStore
    from shared.config import Settings
    from shared.job_document import JobSource, SourceKind, job_document
    from stack.local import app_settings

    job_id = "job-etag-queued"
    store = CosmosJobStore.from_settings(Settings.from_env(app_settings(stack)))
    source = JobSource(kind=SourceKind.HTTP, container="scenes", blob_name="etag/shot.zip",
                       blob_url="http://127.0.0.1/scenes/etag/shot.zip", submitter="etag-test")
    store.create(job_document(job_id, source, now="2026-12-01T00:00:00Z", renders_container="renders"))
    return job_id


def answers_to(page: Any, pattern: str) -> list[tuple[int, str | None, str | None]]:
    """(status, If-None-Match sent, ETag answered) of each response whose URL matches."""
    seen: list[tuple[int, str | None, str | None]] = []
    page.on("response", lambda r: seen.append((r.status, r.request.headers.get("if-none-match"),
                                               r.headers.get("etag"))) if re.search(pattern, r.url) else None)
    return seen


def wait_for_304s(page: Any, seen: list[Any], count: int) -> None:
    for _ in range(40):  # the page's own timer: route handlers and events run while Playwright waits
        if sum(1 for s in seen if s[0] == 304) >= count:
            return
        page.wait_for_timeout(500)


def test_an_unchanged_job_page_is_revalidated_with_304s_and_keeps_showing_the_job(stack, page):
    job_id = queued_job(stack)
    seen = answers_to(page, rf"/api/jobs/{job_id}$")
    sign_in(page, stack, f"#/jobs/{job_id}")
    wait_for_304s(page, seen, 2)
    first, *later = seen
    assert first[0] == 200 and first[1] is None and first[2]
    assert [s[0] for s in later][:2] == [304, 304], seen
    assert all(s[1] == first[2] for s in later[:2])  # the tag of the last 200, as sent back
    expect(page.locator("main h1")).to_have_text("shot.zip")  # the job's name, from the 200 kept
    expect(page.locator("main")).to_contain_text(re.compile("queued", re.IGNORECASE))
    assert not page.errors_


def test_the_jobs_page_gets_304s_from_the_api_and_keeps_its_rows(stack, page, tmp_path):
    failed_job(stack, tmp_path)
    seen = answers_to(page, r"/api/jobs\?")
    sign_in(page, stack)
    wait_for_304s(page, seen, 1)
    assert seen[0][0] == 200 and any(s[0] == 304 for s in seen[1:]), seen
    expected = api_request(stack, "GET", "/jobs?top=25")[1]["jobs"]
    expect(page.locator("#jobs-table tbody tr")).to_have_count(len(expected))
    assert not page.errors_
