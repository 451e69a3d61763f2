"""HTTP triggers served by devhost: routing, conversion of requests and responses, keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devhost.harness import Devhost, request, start_devhost

FUNCTION_KEY = "test-function-key"


@pytest.fixture(scope="module")
def devhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    host = start_devhost("http_app", tmp_path_factory.mktemp("devhost-http"),
                         {"HTTP_APP_GREETING": "hello from settings", "DEVHOST_FUNCTION_KEY": FUNCTION_KEY})
    yield host
    host.stop()


def api(host: Devhost, path: str) -> str:
    # The app's host.json sets extensions.http.routePrefix to "svc".
    return f"{host.url}/svc/{path}"


def test_route_params_query_headers_and_settings_reach_the_function(devhost: Devhost) -> None:
    resp = request("GET", api(devhost, "items/42"), params={"code": FUNCTION_KEY, "tag": "a"},
                   headers={"X-Test": "yes"})
    assert resp.status == 200
    assert resp.headers["x-served-by"] == "items"
    body = resp.json()
    assert body["method"] == "GET"
    assert body["route_params"] == {"id": "42"}
    assert body["params"]["tag"] == "a"
    assert body["x_test"] == "yes"
    assert body["url"].startswith(api(devhost, "items/42?"))
    assert body["setting"] == "hello from settings"


def test_optional_route_parameter_may_be_absent_and_json_body_is_parsed(devhost: Devhost) -> None:
    resp = request("POST", api(devhost, "items"), headers={"x-functions-key": FUNCTION_KEY},
                   json={"frames": "1-10"})
    assert resp.status == 200
    body = resp.json()
    assert body["route_params"] == {}
    assert body["method"] == "POST"
    assert body["json"] == {"frames": "1-10"}


def test_route_constraint_rejects_a_non_integer(devhost: Devhost) -> None:
    assert request("GET", api(devhost, "items/abc"), params={"code": FUNCTION_KEY}).status == 404


def test_literal_route_wins_over_a_parameter(devhost: Devhost) -> None:
    resp = request("GET", api(devhost, "items/special"), params={"code": FUNCTION_KEY})
    assert resp.status == 200
    assert resp.body == b"literal beats parameter"
    assert resp.headers["content-type"].startswith("text/plain")


def test_catch_all_route_takes_the_rest_of_the_path(devhost: Devhost) -> None:
    resp = request("GET", api(devhost, "files/shots/010/frame_0001.png"))
    assert resp.status == 200
    assert resp.body == b"path=shots/010/frame_0001.png"


def test_binary_response_and_binary_request_body(devhost: Devhost) -> None:
    resp = request("GET", api(devhost, "binary"))
    assert resp.status == 200
    assert resp.headers["content-type"] == "image/png"
    assert resp.body == bytes(range(256))
    payload = bytes(range(256)) * 4
    resp = request("POST", api(devhost, "upload"), data=payload,
                   headers={"content-type": "application/octet-stream"})
    assert resp.status == 201
    assert resp.body == payload[::-1]


def test_missing_or_wrong_key_is_401_and_anonymous_needs_none(devhost: Devhost) -> None:
    assert request("GET", api(devhost, "items/1")).status == 401
    assert request("GET", api(devhost, "items/1"), params={"code": "wrong"}).status == 401
    assert request("GET", api(devhost, "items/1"), headers={"x-functions-key": "wrong"}).status == 401
    assert request("GET", api(devhost, "binary")).status == 200


def test_admin_level_needs_the_master_key(devhost: Devhost) -> None:
    assert request("GET", api(devhost, "admin-only"), params={"code": FUNCTION_KEY}).status == 401
    resp = request("GET", api(devhost, "admin-only"), params={"code": devhost.keys["master"]})
    assert resp.status == 200
    assert resp.body == b"admin ok"
    # The master key also opens function-level routes.
    assert request("GET", api(devhost, "items/1"), params={"code": devhost.keys["master"]}).status == 200


def test_unknown_route_is_404_and_wrong_method_is_405(devhost: Devhost) -> None:
    assert request("GET", api(devhost, "no/such/route")).status == 404
    assert request("GET", f"{devhost.url}/api/items/1").status == 404  # the prefix is "svc" here
    resp = request("DELETE", api(devhost, "items/1"), params={"code": FUNCTION_KEY})
    assert resp.status == 405
    assert set(resp.headers["allow"].split(", ")) == {"GET", "POST"}


def test_exception_in_function_is_500_logged_and_host_keeps_serving(devhost: Devhost) -> None:
    resp = request("GET", api(devhost, "boom"))
    assert resp.status == 500
    assert b"Traceback" not in resp.body
    assert "the function failed on purpose" in devhost.stderr()
    assert "Traceback" in devhost.stderr()
    assert request("GET", api(devhost, "binary")).status == 200


def test_context_parameter_gets_invocation_id_and_function_name(devhost: Devhost) -> None:
    first = request("GET", api(devhost, "whoami")).json()
    second = request("GET", api(devhost, "whoami")).json()
    assert first["function_name"] == "whoami"
    assert first["invocation_id"] != second["invocation_id"]


def test_response_headers_cookies_status_and_empty_result(devhost: Devhost) -> None:
    resp = request("GET", api(devhost, "cookies"))
    assert resp.status == 202
    assert sorted(resp.set_cookies) == ["a=1; Path=/", "b=2; Path=/"]
    resp = request("GET", api(devhost, "nothing"))
    assert resp.status == 204


def test_admin_status_needs_master_key_and_ping_is_anonymous(devhost: Devhost) -> None:
    assert request("GET", f"{devhost.url}/admin/host/ping").status == 200
    assert request("GET", f"{devhost.url}/admin/host/status").status == 401
    assert request("GET", f"{devhost.url}/admin/host/status", params={"code": FUNCTION_KEY}).status == 401
    resp = request("GET", f"{devhost.url}/admin/host/status", params={"code": devhost.keys["master"]})
    assert resp.status == 200
    status = resp.json()
    assert status["state"] == "Running"
    items = next(f for f in status["functions"] if f["name"] == "items")
    assert items == {"name": "items", "trigger": "httpTrigger", "route": "items/{id:int?}",
                     "methods": ["GET", "POST"], "authLevel": "function"}


def test_start_up_output_lists_functions_routes_and_keys(devhost: Devhost, tmp_path: Path) -> None:
    out = devhost.stdout()
    assert f"{devhost.url}/svc/items/{{id:int?}}" in out
    assert "[GET,POST]" in out
    assert devhost.keys["master"] in out
    assert devhost.keys["eventgrid_system"] in out
    assert f"devhost ready on {devhost.url}" in out


def test_unsupported_triggers_and_bindings_are_listed_and_not_run(devhost: Devhost) -> None:
    out = devhost.stdout()
    assert "hourly: timerTrigger" in out
    assert "trigger type 'timerTrigger'" in out
    resp = request("GET", api(devhost, "with-blob"))
    assert resp.status == 501
    assert "'blob'" in resp.json()["error"]
