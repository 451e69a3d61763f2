"""The API key and JSON-only bodies, tested as the attacks they stop: nothing runs without the key."""

from __future__ import annotations

import json
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from localbatch.launcher import LaunchError, LocalBatchProcess
from shared.adapters.local_batch_backend import LocalBatchBackend
from shared.errors import PermanentError
from tests.localbatch.conftest import Launch
from tests.localbatch.helpers import py

ROUTES = [("POST", "/jobs"), ("GET", "/jobs/j"), ("POST", "/jobs/j/terminate"), ("POST", "/jobs/j/tasks"),
          ("GET", "/jobs/j/tasks"), ("GET", "/jobs/j/tasks/t"), ("GET", "/jobs/j/taskcounts"), ("GET", "/health")]


def send(url: str, method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def hostile_task(marker: Path) -> bytes:
    """A task submission that, if it ever ran, would leave `marker` behind."""
    return json.dumps({"tasks": [{"id": "pwn", "argv": list(py(f"open({str(marker)!r}, 'w').write('ran')"))}]}
                      ).encode()


def assert_nothing_ran(backend: LocalBatchBackend, job: str, marker: Path) -> None:
    time.sleep(1.0)  # several scheduling passes (0.2 s each): a created task would have started by now
    assert backend.list_tasks(job) == []
    assert not marker.exists()


@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json"},                                        # no key at all
    {"Content-Type": "application/json", "x-localbatch-key": "wrong"},           # a guess
    {"Content-Type": "application/json", "x-localbatch-key": "x" * 43},          # right length, wrong key
    {"Content-Type": "application/json", "Authorization": "Bearer anything"},    # another scheme
])
def test_task_submission_without_the_key_is_refused_and_runs_nothing(
        shared_localbatch: LocalBatchProcess, backend: LocalBatchBackend, unique_name: str, tmp_path: Path,
        headers: dict[str, str]) -> None:
    backend.create_job(unique_name)
    marker = tmp_path / "ran"
    status, _, body = send(f"{shared_localbatch.url}/jobs/{unique_name}/tasks", "POST", hostile_task(marker),
                           headers)
    assert status == 401
    assert json.loads(body)["error"]["code"] == "unauthorized"
    assert_nothing_ran(backend, unique_name, marker)


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8",
                                          "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_a_simple_cross_origin_post_is_refused_even_with_the_key(
        shared_localbatch: LocalBatchProcess, backend: LocalBatchBackend, unique_name: str, tmp_path: Path,
        content_type: str) -> None:
    """What a web page can send to 127.0.0.1 without a CORS preflight: never accepted."""
    backend.create_job(unique_name)
    marker = tmp_path / "ran"
    browser = {"Content-Type": content_type, "Origin": "http://evil.example"}
    status, headers, _ = send(f"{shared_localbatch.url}/jobs/{unique_name}/tasks", "POST", hostile_task(marker),
                              browser)
    assert status == 401
    assert not any(h.lower().startswith("access-control-") for h in headers)
    # Even had the page learnt the key, the body's type is refused before it is read.
    status, _, body = send(f"{shared_localbatch.url}/jobs/{unique_name}/tasks", "POST", hostile_task(marker),
                           {**browser, "x-localbatch-key": shared_localbatch.key})
    assert status == 415
    assert json.loads(body)["error"]["code"] == "unsupported_media_type"
    assert_nothing_ran(backend, unique_name, marker)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_the_key(shared_localbatch: LocalBatchProcess, method: str, path: str) -> None:
    body = b"{}" if method == "POST" else None
    status, _, _ = send(shared_localbatch.url + path, method, body, {"Content-Type": "application/json"})
    assert status == 401


def test_a_json_body_without_its_type_is_refused_but_an_empty_terminate_is_not(
        shared_localbatch: LocalBatchProcess, backend: LocalBatchBackend, unique_name: str) -> None:
    key = {"x-localbatch-key": shared_localbatch.key}
    body = json.dumps({"id": unique_name}).encode()
    assert send(f"{shared_localbatch.url}/jobs", "POST", body, key)[0] == 415  # urllib says form-urlencoded
    backend.create_job(unique_name)
    assert send(f"{shared_localbatch.url}/jobs/{unique_name}/terminate", "POST", None, key)[0] == 202
    assert backend.list_tasks(unique_name) == []


def test_no_cors_headers_even_for_a_preflight_or_a_keyed_request(shared_localbatch: LocalBatchProcess) -> None:
    preflight = send(f"{shared_localbatch.url}/jobs", "OPTIONS", None,
                     {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
                      "Access-Control-Request-Headers": "content-type, x-localbatch-key"})
    keyed = send(f"{shared_localbatch.url}/health", "GET", None,
                 {"Origin": "http://evil.example", "x-localbatch-key": shared_localbatch.key})
    assert preflight[0] == 401 and keyed[0] == 200
    for _, headers, _ in (preflight, keyed):
        assert not any(h.lower().startswith("access-control-") for h in headers)


def test_the_adapter_reports_a_wrong_key_as_permanent(shared_localbatch: LocalBatchProcess) -> None:
    with pytest.raises(PermanentError, match="LOCALBATCH_KEY"):
        LocalBatchBackend(shared_localbatch.url, key="not-the-key-at-all").create_job("job")


def test_a_generated_key_is_kept_private_and_survives_a_restart(launch: Launch, tmp_path: Path) -> None:
    first = launch(tmp_path / "lb")
    key_file = tmp_path / "lb" / "localbatch.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first.stop()
    second = launch(tmp_path / "lb")
    assert second.key == first.key
    second.backend().create_job("job")  # the adapter with that key is let in


def test_a_given_key_is_used_and_a_short_one_refused(launch: Launch, tmp_path: Path) -> None:
    given = launch(tmp_path / "lb", key="a-key-of-enough-length-0123456789")
    assert given.key == "a-key-of-enough-length-0123456789"
    given.backend().create_job("job")
    assert not (tmp_path / "lb" / "localbatch.key").exists()
    given.stop()
    with pytest.raises(LaunchError, match="at least 16 characters"):
        launch(tmp_path / "lb", key="short")
