"""The dashboard's files as the app serves them: types, security headers, caching, and the
path-traversal attacks, both on the handler and over HTTP through devhost."""

from __future__ import annotations

import http.client
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from stack.local import StackInfo
from triggers.web_ui import WEB_ROOT, serve, static_files

UI = "http://app.test/api/ui/"


def raw_get(info: StackInfo, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET with the path sent byte for byte (no client-side normalization of dots or escapes)."""
    split = urlsplit(info.api_url)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_every_file_under_web_is_served_with_its_type():
    files = static_files()
    on_disk = {p.relative_to(WEB_ROOT).as_posix() for p in WEB_ROOT.rglob("*") if p.is_file()}
    assert set(files) == on_disk
    assert files["index.html"].content_type == "text/html; charset=utf-8"
    assert files["app.css"].content_type == "text/css; charset=utf-8"
    assert files["js/main.js"].content_type == "text/javascript; charset=utf-8"


def test_index_has_a_strict_policy_and_revalidates():
    response = serve("", UI, None)
    assert response.status_code == 200
    assert response.get_body() == (WEB_ROOT / "index.html").read_bytes()
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    again = serve("", UI, response.headers["ETag"])
    assert again.status_code == 304 and again.get_body() == b""
    changed = serve("", UI, '"something-else"')
    assert changed.status_code == 200


def test_ui_without_a_slash_redirects_so_relative_links_resolve():
    response = serve("", "http://app.test/api/ui", None)
    assert response.status_code == 308
    assert response.headers["Location"] == "ui/"


# What the Functions host may hand the handler as {*path}: decoded or not, with any separator.
HOSTILE_PATHS = [
    "../host.json", "../../host.json", "js/../../host.json", "..\\host.json", "js\\..\\..\\host.json",
    "/etc/passwd", "//etc/passwd", "%2e%2e/host.json", "%2e%2e%2fhost.json", "..%2fhost.json",
    "..%5chost.json", "%252e%252e/host.json", "index.html\x00.js", "./index.html", "js//main.js",
    "JS/MAIN.JS", "index.html/", "../triggers/web_ui.py", "../local.settings.json", "js/", "C:/Windows/win.ini",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_a_path_outside_the_file_list_is_not_found(path):
    response = serve(path, UI + path, None)
    assert response.status_code == 404
    assert b"extensionBundle" not in response.get_body()


def test_links_and_hidden_files_in_the_web_folder_are_not_served(tmp_path):
    secret = tmp_path / "secret.js"
    secret.write_text("const key = 'do-not-serve';")
    root = tmp_path / "web"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html>")
    (root / "leak.js").symlink_to(secret)
    (root / ".env.js").write_text("hidden")
    (root / "notes.txt").write_text("no known type")
    assert set(static_files(root)) == {"index.html"}


def test_the_ui_is_served_without_a_key_and_the_api_still_needs_one(stack):
    status, headers, body = raw_get(stack, "/api/ui/")
    assert status == 200 and body == (WEB_ROOT / "index.html").read_bytes()
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["content-security-policy"]
    status, headers, _ = raw_get(stack, "/api/ui/js/api.js")
    assert status == 200 and headers["content-type"] == "text/javascript; charset=utf-8"
    status, _, _ = raw_get(stack, "/api/ui/", {"If-None-Match": headers.get("etag", "")})
    assert status == 200  # that etag was the script's, not the page's
    assert raw_get(stack, "/api/jobs")[0] == 401


def test_the_ui_answers_304_for_an_unchanged_file(stack):
    _, headers, _ = raw_get(stack, "/api/ui/app.css")
    status, _, body = raw_get(stack, "/api/ui/app.css", {"If-None-Match": headers["etag"]})
    assert status == 304 and body == b""


RAW_ATTACKS = [
    "/api/ui/../../host.json", "/api/ui/%2e%2e/%2e%2e/host.json", "/api/ui/..%2f..%2fhost.json",
    "/api/ui/%2e%2e%2f%2e%2e%2ffunction_app.py", "/api/ui/..%5c..%5chost.json", "/api/ui/js/../../host.json",
    "/api/ui/js/%2e%2e/%2e%2e/triggers/web_ui.py", "/api/ui/%252e%252e/%252e%252e/host.json",
    "/api/ui/..;/..;/host.json", "/api/ui/%c0%ae%c0%ae/host.json", "/api/ui//etc/passwd",
    "/api/ui/.%2e/.%2e/local.settings.json",
]


@pytest.mark.parametrize("path", RAW_ATTACKS)
def test_traversal_over_http_is_not_found(stack, path):
    status, _, body = raw_get(stack, path)
    assert status == 404
    for secret in (b"extensionBundle", b"register_functions", b"static_files", stack.function_key.encode()):
        assert secret not in body


def test_web_root_is_the_repository_web_folder():
    assert Path(__file__).resolve().parents[2] / "web" == WEB_ROOT
