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
