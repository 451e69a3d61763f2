"""Keys everywhere, written as the attacks: keyless and wrong-key calls to the Durable
HTTP API and to devhost's own routes are refused and change nothing; the app's own
durable client keeps working; key and state files are readable by their owner only."""

from __future__ import annotations

import base64
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.devhost.harness import Devhost, request, start_devhost, wait_for

FUNCTION_KEY = "keys-test-function-key"
SYSTEM_KEY = "keys-test-durable-system-key"
HOOK = "/runtime/webhooks/durabletask"


@pytest.fixture(scope="module")
def devhost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    host = start_devhost("durable_app", tmp_path_factory.mktemp("devhost-keys"),
                         {"DEVHOST_FUNCTION_KEY": FUNCTION_KEY, "DEVHOST_DURABLETASK_SYSTEM_KEY": SYSTEM_KEY})
    yield host
    host.stop()


def keyed(**params: str) -> dict[str, str]:
    return {"code": SYSTEM_KEY, **params}


def status(host: Devhost, instance_id: str) -> tuple[int, Any]:
    resp = request("GET", f"{host.url}{HOOK}/instances/{instance_id}", params=keyed())
    return resp.status, resp.json() if resp.body else None


@pytest.fixture(scope="module")
def running(devhost: Devhost) -> str:
    """A running instance whose input is a secret only a key holder may read."""
    resp = request("POST", f"{devhost.url}{HOOK}/orchestrators/wait_for_go/victim-1", params=keyed(),
                   json={"secret": "job inputs"})
    assert resp.status == 202, resp.body
    wait_for(lambda: status(devhost, "victim-1")[1] and status(devhost, "victim-1")[1]["runtimeStatus"]
             == "Running")
    return "victim-1"


@pytest.fixture(scope="module")
def finished(devhost: Devhost) -> str:
    resp = request("POST", f"{devhost.url}{HOOK}/orchestrators/greet/done-1", params=keyed(),
                   json={"names": ["Ada"]})
    assert resp.status == 202, resp.body
    done = wait_for(lambda: status(devhost, "done-1")[1] and status(devhost, "done-1")[1]["runtimeStatus"]
                    == "Completed", timeout=30)
    assert done
    return "done-1"


# Each attack with: no key, a wrong key, the function key (not enough for a system route),
# the key in Basic credentials under a wrong password.
BAD_CREDENTIALS: list[dict[str, Any]] = [
    {},
    {"params": {"code": "not-the-key"}},
    {"headers": {"x-functions-key": "not-the-key"}},
    {"params": {"code": FUNCTION_KEY}},
    {"headers": {"Authorization": "Basic " + base64.b64encode(b"durabletask:guess").decode()}},
]


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
def test_reading_an_instance_and_its_inputs_without_the_key_is_refused(
        devhost: Devhost, running: str, credentials: dict[str, Any]) -> None:
    for path in (f"/instances/{running}", f"/instances/{running}?showHistory=true&showInput=true",
                 "/instances", "/instances/"):
        resp = request("GET", f"{devhost.url}{HOOK}{path}", **credentials)
        assert resp.status == 401, (path, resp.status)
        assert b"job inputs" not in resp.body


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
def test_purge_without_the_key_deletes_nothing(devhost: Devhost, finished: str,
                                               credentials: dict[str, Any]) -> None:
    assert request("DELETE", f"{devhost.url}{HOOK}/instances/{finished}", **credentials).status == 401
    params = {**credentials.get("params", {}), "createdTimeFrom": "2000-01-01T00:00:00Z"}
    by_filter = request("DELETE", f"{devhost.url}{HOOK}/instances", params=params,
                        headers=credentials.get("headers", {}))
    assert by_filter.status == 401
    assert status(devhost, finished)[0] == 200  # still there


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
def test_starting_render_job_with_arbitrary_input_without_the_key_is_refused(
        devhost: Devhost, credentials: dict[str, Any]) -> None:
    for name in ("render_job", "greet"):
        resp = request("POST", f"{devhost.url}{HOOK}/orchestrators/{name}/planted-{name}", **credentials,
                       json={"bundle": "../../etc/passwd", "names": ["x"]})
        assert resp.status == 401
        assert status(devhost, f"planted-{name}")[0] == 404


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
def test_terminate_and_raise_event_without_the_key_change_nothing(
        devhost: Devhost, running: str, credentials: dict[str, Any]) -> None:
    base = f"{devhost.url}{HOOK}/instances/{running}"
    assert request("POST", f"{base}/terminate", **credentials).status == 401
    assert request("POST", f"{base}/raiseEvent/go", json="forged", **credentials).status == 401
    assert request("POST", f"{base}/rewind", **credentials).status == 401
    time.sleep(0.3)
    code, body = status(devhost, running)
    assert code == 202 and body["runtimeStatus"] == "Running"


def test_system_key_and_master_key_open_the_durable_api(devhost: Devhost, running: str) -> None:
    assert request("GET", f"{devhost.url}{HOOK}/instances/{running}",
                   headers={"x-functions-key": SYSTEM_KEY}).status == 202
    assert request("GET", f"{devhost.url}{HOOK}/instances/{running}",
                   params={"code": devhost.keys["master"]}).status == 202
    basic = base64.b64encode(f"durabletask:{SYSTEM_KEY}".encode()).decode()
    assert request("GET", f"{devhost.url}{HOOK}/instances/{running}",
                   headers={"Authorization": f"Basic {basic}"}).status == 202


def test_the_apps_durable_client_still_works_and_its_urls_carry_the_key(devhost: Devhost) -> None:
    resp = request("POST", f"{devhost.url}/api/start/greet", params={"code": FUNCTION_KEY},
                   json={"names": ["Grace"]})
    assert resp.status == 202, resp.body
    urls = resp.json()
    assert f"code={SYSTEM_KEY}" in urls["statusQueryGetUri"]
    done = wait_for(lambda: (r := request("GET", urls["statusQueryGetUri"])).status == 200 and r.json(),
                    timeout=30)
    assert done and done["output"] == ["Hello Grace"]


@pytest.mark.parametrize("method,path", [
    ("GET", "/admin/host/status"),
    ("GET", "/admin/functions"),
    ("POST", "/runtime/webhooks/eventgrid?functionName=on_blob"),
    ("OPTIONS", "/runtime/webhooks/eventgrid?functionName=on_blob"),
    ("GET", "/eventgrid/topics/render-events/events"),
    ("POST", "/eventgrid/topics/render-events/api/events?api-version=2018-01-01"),
    ("POST", f"{HOOK}/orchestrators/greet"),
    ("GET", f"{HOOK}/instances"),
])
def test_every_devhost_route_but_ping_needs_a_key(devhost: Devhost, method: str, path: str) -> None:
    event = [{"id": "forged", "subject": "/blobServices/default/containers/scenes/blobs/x.zip",
              "eventType": "Microsoft.Storage.BlobCreated", "eventTime": "2026-11-26T18:41:00.9584103Z",
              "data": {}, "dataVersion": ""}]
    resp = request(method, f"{devhost.url}{path}", json=event)
    assert resp.status == 401, (method, path, resp.status)
    assert request("GET", f"{devhost.url}/admin/host/ping").status == 200
    assert status(devhost, "forged")[0] == 404  # the forged event started nothing


def test_key_and_state_files_are_private(devhost: Devhost, running: str) -> None:
    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(devhost.data_dir) == 0o700
    private = [devhost.data_dir / "keys.json", *devhost.data_dir.glob("*.sqlite*"),
               *devhost.data_dir.glob("*.lock")]
    assert {p.name for p in private} >= {"keys.json", "DevHostHub.sqlite3", "DevHostHub.sqlite3-wal",
                                         "eventgrid-topics.sqlite", "DevHostHub.sqlite3.lock"}
    for path in private:
        assert mode(path) == 0o600, f"{path.name} is {oct(mode(path))}"
