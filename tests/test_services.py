"""The local service fixtures give working Azurite and Cosmos servers to the real SDKs."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.core import MatchConditions
from azure.cosmos import CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosAccessConditionFailedError
from azure.storage.blob import BlobServiceClient

from stack.services import start_cosmos


def test_azurite_stores_and_returns_a_blob(azurite, unique_name):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container(unique_name)
    container.upload_blob("a/b.txt", b"frame")
    assert container.download_blob("a/b.txt").readall() == b"frame"


def test_cosmos_server_enforces_etags(cosmos, unique_name):
    client = CosmosClient(cosmos.endpoint, credential=cosmos.key, connection_verify=False)
    db = client.create_database_if_not_exists(unique_name)
    jobs = db.create_container_if_not_exists("jobs", partition_key=PartitionKey("/id"))
    doc = jobs.create_item({"id": "job-1", "status": "queued"})
    jobs.replace_item("job-1", {"id": "job-1", "status": "rendering"}, etag=doc["_etag"],
                      match_condition=MatchConditions.IfNotModified)
    with pytest.raises(CosmosAccessConditionFailedError):
        jobs.replace_item("job-1", {"id": "job-1", "status": "failed"}, etag=doc["_etag"],
                          match_condition=MatchConditions.IfNotModified)


def test_cosmos_documents_survive_a_restart(tmp_path: Path):
    first = start_cosmos(tmp_path)
    try:
        client = CosmosClient(first.endpoint, credential=first.key, connection_verify=False)
        jobs = client.create_database_if_not_exists("render").create_container_if_not_exists(
            "jobs", partition_key=PartitionKey("/id"))
        jobs.create_item({"id": "job-1", "status": "queued"})
        jobs.upsert_item({"id": "job-1", "status": "completed"})
        jobs.create_item({"id": "job-2", "status": "queued"})
        jobs.delete_item("job-2", partition_key="job-2")
        port = first.port
    finally:
        first.stop()
    second = start_cosmos(tmp_path, port=port)
    try:
        client = CosmosClient(second.endpoint, credential=second.key, connection_verify=False)
        jobs = client.get_database_client("render").get_container_client("jobs")
        items = list(jobs.query_items("SELECT c.id, c.status FROM c", enable_cross_partition_query=True))
        assert items == [{"id": "job-1", "status": "completed"}]
    finally:
        second.stop()


def _raw_cosmos(cosmos, path: str, headers: dict[str, str] | None = None) -> int:
    import ssl
    import urllib.error
    import urllib.request

    request = urllib.request.Request(cosmos.endpoint.rstrip("/") + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=ssl._create_unverified_context()) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_cosmos_server_refuses_a_keyless_request(cosmos):
    assert _raw_cosmos(cosmos, "/dbs") == 401
    assert _raw_cosmos(cosmos, "/") == 401


def test_cosmos_server_refuses_a_forged_signature(cosmos):
    from email.utils import formatdate

    forged = "type%3Dmaster%26ver%3D1.0%26sig%3D" + "A" * 43 + "%3D"
    assert _raw_cosmos(cosmos, "/dbs", {"authorization": forged,
                                        "x-ms-date": formatdate(usegmt=True).lower()}) == 401


def test_cosmos_server_refuses_the_wrong_key(cosmos):
    from azure.cosmos.exceptions import CosmosHttpResponseError

    from stack.services import new_account_key

    with pytest.raises(CosmosHttpResponseError) as caught:  # the client reads the account at once
        client = CosmosClient(cosmos.endpoint, credential=new_account_key(), connection_verify=False,
                              retry_total=0)
        list(client.list_databases())
    assert caught.value.status_code == 401


def test_cosmos_server_answers_400_for_a_continuation_token_it_did_not_hand_out(cosmos, unique_name):
    from azure.cosmos.exceptions import CosmosHttpResponseError

    client = CosmosClient(cosmos.endpoint, credential=cosmos.key, connection_verify=False)
    jobs = client.create_database_if_not_exists(unique_name).create_container_if_not_exists(
        "jobs", partition_key=PartitionKey("/id"))
    for n in range(3):
        jobs.create_item({"id": f"job-{n}"})
    pages = jobs.query_items("SELECT * FROM c", enable_cross_partition_query=True, max_item_count=1).by_page()
    next(pages)
    assert pages.continuation_token  # a real token still works
    for garbage in ("garbage", '{"token": "nope"}', "1234", '{"token": "+RID:x#RT:1#TRC:1#RTD:bm90IGpzb24="}'):
        with pytest.raises(CosmosHttpResponseError) as caught:
            list(next(jobs.query_items("SELECT * FROM c", enable_cross_partition_query=True,
                                       max_item_count=1).by_page(garbage)))
        assert caught.value.status_code == 400, garbage


def test_the_cosmos_journal_is_compacted_on_start_and_keeps_documents_and_etags(tmp_path: Path):
    server = start_cosmos(tmp_path)
    try:
        client = CosmosClient(server.endpoint, credential=server.key, connection_verify=False)
        jobs = client.create_database_if_not_exists("render").create_container_if_not_exists(
            "jobs", partition_key=PartitionKey("/id"))
        for n in range(40):
            jobs.upsert_item({"id": "job-1", "status": "rendering", "framesDone": n})
        jobs.create_item({"id": "job-2", "status": "queued", "nested": {"a": [1, 2]}})
        jobs.create_item({"id": "job-3"})
        jobs.delete_item("job-3", partition_key="job-3")
        kept = {d["id"]: d for d in jobs.query_items("SELECT * FROM c", enable_cross_partition_query=True)}
        port = server.port
    finally:
        server.stop()
    journal = tmp_path / "cosmos" / "journal.ndjson"
    assert len(journal.read_text().splitlines()) > 40
    for _ in range(2):  # compacted once, then replayed from the compacted journal
        server = start_cosmos(tmp_path, port=port)
        try:
            client = CosmosClient(server.endpoint, credential=server.key, connection_verify=False)
            jobs = client.get_database_client("render").get_container_client("jobs")
            now = {d["id"]: d for d in jobs.query_items("SELECT * FROM c", enable_cross_partition_query=True)}
            assert set(now) == {"job-1", "job-2"}
            for job_id, before in kept.items():
                assert {k: v for k, v in now[job_id].items() if k != "_ts"} == \
                    {k: v for k, v in before.items() if k != "_ts"}
        finally:
            server.stop()
        assert len(journal.read_text().splitlines()) == 4  # database, collection, two documents
    assert oct(journal.stat().st_mode & 0o777) == "0o600"


def test_a_torn_last_journal_line_is_dropped_and_the_server_starts(tmp_path: Path):
    server = start_cosmos(tmp_path)
    try:
        client = CosmosClient(server.endpoint, credential=server.key, connection_verify=False)
        jobs = client.create_database_if_not_exists("render").create_container_if_not_exists(
            "jobs", partition_key=PartitionKey("/id"))
        jobs.create_item({"id": "job-1", "status": "queued"})
        port = server.port
    finally:
        server.stop()
    journal = tmp_path / "cosmos" / "journal.ndjson"
    with journal.open("a") as handle:
        handle.write('{"method": "POST", "url": "/dbs/render/colls/jobs/docs", "bo')  # a crash mid-write
    server = start_cosmos(tmp_path, port=port)
    try:
        client = CosmosClient(server.endpoint, credential=server.key, connection_verify=False)
        jobs = client.get_database_client("render").get_container_client("jobs")
        jobs.create_item({"id": "job-2", "status": "queued"})
        assert {d["id"] for d in jobs.query_items("SELECT c.id FROM c", enable_cross_partition_query=True)} == \
            {"job-1", "job-2"}
    finally:
        server.stop()
    assert journal.read_text().endswith("\n")
