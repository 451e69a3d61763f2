"""Encoded characters in request paths route as on the Functions host: an encoded slash
stays inside its segment (a job id never spans two segments or holds '/'), other escapes
are decoded, and no path, however malformed, gets a 500 or aiohttp's own 404."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from yarl import URL

from tests.devhost.harness import Devhost, request, start_devhost


@pytest.fixture(scope="module")
def devhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    host = start_devhost("http_app", tmp_path_factory.mktemp("devhost-paths"))
    yield host
    host.stop()


def get(host: Devhost, raw_path: str) -> tuple[int, object]:
    # encoded=True: the client sends the path byte for byte, as an attacker would.
    resp = request("GET", URL(f"{host.url}/svc/{raw_path}", encoded=True))
    is_json = resp.headers.get("content-type", "").startswith("application/json")
    return resp.status, resp.json() if is_json else resp.body


@pytest.mark.parametrize("raw,job_id", [
    ("jobs/a%2Fb", "a%2Fb"),
    ("jobs/a%2fb", "a%2Fb"),
    ("jobs/..%2F..%2Fadmin", "..%2F..%2Fadmin"),
    ("jobs/a%0Ab", "a\nb"),
    ("jobs/shot%20010", "shot 010"),
    ("jobs/%C3%BCn%C3%AF", "ünï"),
    ("jobs/a%252Fb", "a%2Fb"),
])
def test_an_encoded_slash_stays_in_its_segment_and_other_escapes_are_decoded(
        devhost: Devhost, raw: str, job_id: str) -> None:
    status, body = get(devhost, raw)
    assert status == 200, body
    assert body == {"job": {"jobId": job_id}}
    assert "/" not in job_id


def test_an_encoded_slash_does_not_reach_a_deeper_route(devhost: Devhost) -> None:
    # Decoded before routing, this would be jobs/a/history with jobId "a".
    status, body = get(devhost, "jobs/a%2Fhistory")
    assert (status, body) == (200, {"job": {"jobId": "a%2Fhistory"}})
    assert get(devhost, "jobs/a/history") == (200, {"history": {"jobId": "a"}})


def test_catch_all_keeps_encoded_slashes_encoded(devhost: Devhost) -> None:
    status, body = get(devhost, "files/a%2Fb/c%0Ad.png")
    assert status == 200
    assert body == b"path=a%2Fb/c\nd.png"


@pytest.mark.parametrize("raw", ["jobs/%FF%FE", "jobs/%", "jobs/%zz", "nothing%0Ahere", "jobs/a%00b",
                                 "%0A", "jobs/a/b/c%2F"])
def test_malformed_paths_get_a_404_or_the_function_never_a_500(devhost: Devhost, raw: str) -> None:
    status, body = get(devhost, raw)
    assert status in (200, 404), (status, body)
    if status == 404:
        assert isinstance(body, dict) and "error" in body  # the host's JSON 404, not aiohttp's page
