"""GET /api/jobs?namePrefix= as the Cosmos query runs it, against the local Cosmos-protocol server."""

from __future__ import annotations

import pytest

from shared.adapters.cosmos_job_store import CosmosJobStore, ensure_cosmos_container
from shared.config import Settings
from tests.integration.test_cosmos_job_store import doc

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture
def store(settings: Settings) -> CosmosJobStore:
    ensure_cosmos_container(settings)
    return CosmosJobStore.from_settings(settings)


def named(job_id: str, name: str, created: str, status: str = "queued") -> dict:
    body = doc(job_id, created, status)
    body["name"] = name
    return body


def test_the_listing_filters_by_name_prefix_with_status_and_pages_on(store: CosmosJobStore):
    store.create(named("job-1", "shot010 lighting v3", "2026-01-01T00:00:01Z"))
    store.create(named("job-2", "shot010 comp", "2026-01-01T00:00:02Z", status="failed"))
    store.create(named("job-3", "shot0100 layout", "2026-01-01T00:00:03Z"))
    store.create(named("job-4", "shot020 '\" OR 1=1 --", "2026-01-01T00:00:04Z"))
    store.create(doc("job-5", "2026-01-01T00:00:05Z"))  # a document from before jobs had names

    jobs, _ = store.list(name_prefix="shot010 ")
    assert [j["id"] for j in jobs] == ["job-2", "job-1"]
    jobs, _ = store.list(name_prefix="shot010", status="queued")
    assert [j["id"] for j in jobs] == ["job-3", "job-1"]
    # Case is ignored, as STARTSWITH(..., true) does on Cosmos DB.
    assert [j["id"] for j in store.list(name_prefix="SHOT010 L")[0]] == ["job-1"]
    assert [j["id"] for j in store.list(name_prefix="Shot010 ")[0]] == ["job-2", "job-1"]
    assert store.list(name_prefix="shot010 lighting v4")[0] == []
    # The prefix is a parameter, never query text: quotes in it match only themselves.
    assert [j["id"] for j in store.list(name_prefix="shot020 '\" OR")[0]] == ["job-4"]
    assert store.list(name_prefix="' OR 1=1 --")[0] == []

    first, token = store.list(name_prefix="shot01", top=2)
    assert [j["id"] for j in first] == ["job-3", "job-2"] and token
    rest, _ = store.list(name_prefix="shot01", top=2, continuation=token)
    assert [j["id"] for j in rest] == ["job-1"]



def test_the_local_servers_startswith_takes_cosmos_dbs_third_argument_and_refuses_others(store: CosmosJobStore):
    from azure.cosmos.exceptions import CosmosHttpResponseError

    store.create(named("job-a", "Shot030 Lighting", "2026-01-01T00:00:01Z"))
    container = store._container

    def ids(where: str, **params: object) -> list[str]:
        query = f"SELECT c.id FROM c WHERE {where}"
        parameters = [{"name": f"@{k}", "value": v} for k, v in params.items()]
        return [r["id"] for r in container.query_items(query, parameters=parameters,
                                                        enable_cross_partition_query=True)]

    assert ids("STARTSWITH(c.name, @p)", p="shot030") == []  # two arguments: case counts
    assert ids("STARTSWITH(c.name, @p, false)", p="shot030") == []
    assert ids("STARTSWITH(c.name, @p, true)", p="shot030 l") == ["job-a"]
    assert ids("STARTSWITH(c.name, @p, @flag)", p="shot030", flag="yes") == []  # not a boolean: no match
    with pytest.raises(CosmosHttpResponseError) as refused:
        ids("STARTSWITH(c.name, @p, true, true)", p="shot030")
    assert refused.value.status_code == 400
