"""A job's name on the dashboard: the submitter's text, shown as text in the job list and on the
job page, never run as markup."""

from __future__ import annotations

import pytest

from stack.local import api_request, wait_for
from tests.e2e.conftest import upload
from tests.web.conftest import sign_in
from tests.web.test_dashboard_browser import job_row

pytestmark = pytest.mark.slow

HOSTILE_NAME = ('shot010 <img src=x onerror="document.body.dataset.pwned=1">'
                '<script>document.body.dataset.pwned=2</script> & "v3"')


def test_a_hostile_job_name_is_shown_as_text_in_the_list_and_on_the_job_page(stack, page, tmp_path):
    bad = tmp_path / "named.zip"
    bad.write_bytes(b"not a zip: the job fails at once, no render needed")
    upload(stack, bad, "names/named.zip")
    status, job = api_request(stack, "POST", "/jobs", {"bundle": "names/named.zip", "name": HOSTILE_NAME})
    assert status == 202 and job["name"] == HOSTILE_NAME, job
    wait_for(lambda: api_request(stack, "GET", f"/jobs/{job['id']}")[1]["status"] == "failed", 60,
             what="the named job to fail")

    sign_in(page, stack)
    row = job_row(page, job["id"])
    row.wait_for()
    assert row.locator("a").inner_text() == HOSTILE_NAME
    assert row.locator("img, script").count() == 0
    row.locator("a").click()
    heading = page.locator("main h1")
    heading.wait_for()
    page.wait_for_function("(name) => document.querySelector('main h1').textContent === name", arg=HOSTILE_NAME)
    assert page.title().startswith(HOSTILE_NAME)
    assert page.locator("main img[src='x'], main script").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None
    assert not page.errors_


def test_the_submit_form_names_the_job_and_refuses_a_name_with_control_characters(stack, page, tmp_path):
    bad = tmp_path / "form-named.zip"
    bad.write_bytes(b"not a zip: the job fails at once, no render needed")
    upload(stack, bad, "names/form-named.zip")
    sign_in(page, stack, "#/submit")
    page.locator("#bundle-path").fill("names/form-named.zip")
    page.locator("#opt-name").fill("shot\u2028two lines")
    page.locator("#submit-job").click()
    assert "nothing was sent" in page.locator("#submit-result").inner_text()
    assert "control characters" in page.locator("#opt-name-error").inner_text()

    page.locator("#opt-name").fill("  shot040 from the form ")
    page.locator("#submit-job").click()
    page.wait_for_url(lambda url: "#/jobs/" in url)
    job_id = page.url.rsplit("/", 1)[1]
    assert api_request(stack, "GET", f"/jobs/{job_id}")[1]["name"] == "shot040 from the form"
    page.wait_for_function("() => document.querySelector('main h1').textContent === 'shot040 from the form'")
    assert not page.errors_
