"""The dashboard behind App Service authentication (Easy Auth), in Chromium.

Real Easy Auth runs only in Azure (it is the platform's front end, not code of the app), so
here the answer of GET /.auth/me is supplied through a Playwright route, in the shape App
Service sends it; everything else is the real local stack. Without such a route the request
reaches devhost, which has no /.auth/me: that is the default, function-key-only page.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.web.conftest import screenshot, ui_url

pytestmark = pytest.mark.slow

ME = re.compile(r"^http://127\.0\.0\.1:\d+/\.auth/me$")
LOGIN = re.compile(r"^http://127\.0\.0\.1:\d+/\.auth/login/aad\?.*")


def principal(name: str, user_id: str = "ana@studio.example") -> list[dict[str, Any]]:
    """What /.auth/me answers for a signed-in Entra ID user (token fields left out)."""
    return [{"provider_name": "aad", "user_id": user_id, "expires_on": "2030-01-01T00:00:00.0000000Z",
             "user_claims": [{"typ": "preferred_username", "val": user_id}, {"typ": "name", "val": name}]}]


def keyed_requests(sent: list[Any], api_url: str) -> list[Any]:
    return [r for r in sent if r.url.startswith(api_url) and "/ui/" not in r.url and not r.url.endswith("/health")]


def test_a_signed_in_user_is_shown_and_named_as_submitter_and_the_key_is_asked_for_only_when_refused(
        stack, page, tmp_path):
    name = "Ana <b>Artist</b>"  # markup from outside: shown as text
    page.route(ME, lambda route: route.fulfill(json=principal(name)))
    sent: list[Any] = []
    page.on("request", lambda r: sent.append(r))
    page.goto(ui_url(stack))
    user = page.locator("#user")
    expect(user).to_be_visible()
    assert page.locator("#user-name").inner_text() == name and user.locator("b").count() == 0
    assert page.locator("#sign-out").get_attribute("href") == "/.auth/logout?post_logout_redirect_uri=%2Fapi%2Fui%2F"
    # The first call goes without a key; the keyed function refuses it, and only then is the key asked for.
    error = page.locator("#key-error")
    expect(error).to_have_text("You are signed in; the API also needs its function key.")
    first = keyed_requests(sent, stack.api_url)[0]
    assert "x-functions-key" not in first.all_headers()
    page.locator("#key-input").fill(stack.function_key)
    page.locator("#key-save").click()
    page.locator("#jobs-table").wait_for()
    assert all(r.all_headers().get("x-functions-key") == stack.function_key
               for r in keyed_requests(sent, stack.api_url)[1:])

    page.goto(ui_url(stack) + "#/submit")
    expect(page.locator("#submitter")).to_have_text(f"Submitted as {name} (your sign-in)")
    assert page.locator("#submitter b").count() == 0
    page.unroute(ME)
    page.route(ME, lambda route: route.fulfill(json=principal("Ana Artist")))  # a plain name for the README
    page.reload()
    expect(page.locator("#submitter")).to_have_text("Submitted as Ana Artist (your sign-in)")
    screenshot(page, "submit-signed-in", tmp_path)
    # The page never claims who the user is: the platform sets the principal headers from the
    # session, and would strip a caller's own.
    for request in sent:
        assert not any(h.startswith("x-ms-client-principal") for h in request.all_headers()), request.url
    assert not page.errors_


def test_without_a_session_the_page_sends_the_visitor_to_sign_in_and_calls_no_api(stack, page):
    page.route(ME, lambda route: route.fulfill(status=401, body="unauthorized", content_type="text/plain"))
    page.route(LOGIN, lambda route: route.fulfill(body="<title>Sign in</title>", content_type="text/html"))
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url))
    page.goto(ui_url(stack) + "#/jobs/job-1")
    page.wait_for_url(LOGIN)
    assert page.url.endswith("/.auth/login/aad?post_login_redirect_uri=" + quote("/api/ui/#/jobs/job-1", safe=""))
    assert not [url for url in sent if url.startswith(stack.api_url + "/") and "/ui/" not in url]


@pytest.mark.parametrize("answer", [
    {"json": {"user_id": "not-a-list@example"}},
    {"json": [{"user_id": 42, "user_claims": "nope"}]},
    {"body": "<html>not json</html>", "content_type": "text/html"},
    {"status": 500, "json": principal("Ana")},
])
def test_an_answer_that_is_not_a_user_list_leaves_the_key_flow_alone(stack, page, answer):
    page.route(ME, lambda route: route.fulfill(**answer))
    page.goto(ui_url(stack))
    expect(page.locator("#key-dialog")).to_be_visible()
    assert page.locator("#user").is_hidden()
    assert page.locator("#key-error").is_hidden()
    assert not page.errors_


def test_without_app_service_authentication_the_page_asks_for_the_key_at_once(stack, page):
    try:  # devhost has no such route: only App Service adds it
        status = urllib.request.urlopen(f"{stack.devhost_url}/.auth/me", timeout=30).status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status == 404
    page.goto(ui_url(stack))
    expect(page.locator("#key-dialog")).to_be_visible()
    assert page.locator("#user").is_hidden()
    assert not page.errors_
