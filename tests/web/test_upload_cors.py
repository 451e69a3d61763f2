"""The blob service's CORS rule for the dashboard's uploads, on a real Azurite: the browser's
preflight from the app's origin is let through for PUT, and nothing else is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from azure.storage.blob import BlobServiceClient

from stack.cors import allow_dashboard_uploads
from stack.services import Azurite, new_account_key, start_azurite

APP_ORIGIN = "http://127.0.0.1:7071"


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    service = start_azurite(tmp_path_factory.mktemp("cors-azurite"), key=new_account_key())
    try:
        allow_dashboard_uploads(BlobServiceClient.from_connection_string(service.connection_string), APP_ORIGIN)
        yield service
    finally:
        service.stop()


def preflight(azurite: Azurite, origin: str, method: str, headers: str = "") -> requests.Response:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    url = f"http://127.0.0.1:{azurite.port}/devstoreaccount1/scenes/_uploads/x/shot.zip?comp=block&blockid=MDA%3D"
    return requests.options(url, headers=asked, timeout=10)


def test_the_apps_origin_may_put_blocks_with_storage_headers(azurite):
    answer = preflight(azurite, APP_ORIGIN, "PUT", "content-type,x-ms-version")
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "PUT" in answer.headers["Access-Control-Allow-Methods"]


def test_the_rule_is_set_again_not_added_on_each_start(azurite):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    allow_dashboard_uploads(service, APP_ORIGIN)
    rules = service.get_service_properties()["cors"]
    assert [(r.allowed_origins, r.allowed_methods, r.exposed_headers) for r in rules] == [
        (APP_ORIGIN, "PUT,OPTIONS", "")]


@pytest.mark.parametrize("origin", ["http://127.0.0.1:9999", "https://attacker.example", "null"])
def test_another_origin_is_refused(azurite, origin):
    answer = preflight(azurite, origin, "PUT", "content-type")
    assert answer.status_code == 403
    assert "Access-Control-Allow-Origin" not in answer.headers


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST"])
def test_the_app_may_not_read_list_or_delete_across_origins(azurite, method):
    assert preflight(azurite, APP_ORIGIN, method).status_code == 403


@pytest.mark.parametrize("header", ["x-functions-key", "authorization"])
def test_a_key_header_cannot_be_sent_to_storage_from_the_page(azurite, header):
    # The page must never carry the function key (or any credential header) to the storage origin:
    # the rule does not even let such a request start.
    assert preflight(azurite, APP_ORIGIN, "PUT", f"content-type,{header}").status_code == 403
