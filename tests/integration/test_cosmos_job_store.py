"""CosmosJobStore against the local Cosmos-protocol server, and update_job racing writers."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from shared.adapters.cosmos_job_store import CosmosJobStore, ensure_cosmos_container
from shared.errors import ConflictError, NotFoundError, TransientError, ValidationError
from shared.job_document import JobSource, JobStatus, SourceKind, job_document
from shared.jobs import apply_status, create_job_document, update_job

# The local server's certificate is self-signed (COSMOS_VERIFY_TLS=false).
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

SOURCE = JobSource(SourceKind.HTTP, "scenes", "a.zip", "http://x/scenes/a.zip", submitter="test")


@pytest.fixture
def store(settings) -> CosmosJobStore:
    ensure_cosmos_container(settings)
    ensure_cosmos_container(settings)  # start-up runs it every time: existing is fine
    return CosmosJobStore.from_settings(settings)


def doc(job_id: str, created: str = "2026-01-01T00:00:00Z", status: str = "queued") -> dict:
    body = job_document(job_id, SOURCE, now=created, renders_container="renders")
    body["status"] = status
    return body


def test_create_get_and_conflict(store):
    created = store.create(doc("job-1"))
    assert created["_etag"] and created["status"] == "queued"
    assert store.get("job-1")["source"]["submitter"] == "test"
    with pytest.raises(ConflictError):
        store.create(doc("job-1"))
    with pytest.raises(NotFoundError):
        store.get("job-404")


def test_replace_needs_the_current_etag(store):
    first = store.create(doc("job-1"))
    second = store.replace({**first, "status": "validating"}, etag=first["_etag"])
    assert second["status"] == "validating" and second["_etag"] != first["_etag"]
    with pytest.raises(ConflictError):
        store.replace({**first, "status": "failed"}, etag=first["_etag"])
    assert store.get("job-1")["status"] == "validating"
    with pytest.raises(NotFoundError):
        store.replace(doc("job-404"), etag=first["_etag"])


def test_list_pages_newest_first_with_a_continuation_token(store):
    for n in range(5):
        store.create(doc(f"job-{n}", created=f"2026-01-01T00:00:0{n}Z"))
    seen: list[str] = []
    token = None
    for _ in range(5):
        page, token = store.list(top=2, continuation=token)
        assert len(page) <= 2
        seen += [d["id"] for d in page]
        if token is None:
            break
    assert seen == ["job-4", "job-3", "job-2", "job-1", "job-0"]


def test_list_filters_by_status(store):
    store.create(doc("job-a", status="completed", created="2026-01-01T00:00:01Z"))
    store.create(doc("job-b", status="failed"))
    store.create(doc("job-c", status="completed", created="2026-01-01T00:00:02Z"))
    page, token = store.list(status="completed")
    assert [d["id"] for d in page] == ["job-c", "job-a"] and token is None
    assert store.list(status="cancelled") == ([], None)


def test_list_rejects_bad_arguments(store):
    for bad in ({"top": 0}, {"top": 5000}, {"status": "suspended"}, {"continuation": ""},
                {"continuation": "1234"}, {"top": True}):
        with pytest.raises(ValidationError):
            store.list(**bad)


def test_ping(store, settings):
    store.ping()
    missing = CosmosJobStore.from_settings(replace(settings, cosmos_container="absent"))
    with pytest.raises(NotFoundError):
        missing.ping()


def test_update_job_with_two_racing_writers(store):
    create_job_document(store, doc("job-race"))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(key: str) -> None:
        first_try = [True]

        def mutate(d: dict) -> None:
            if first_try[0]:  # both read the same version, then both try to write it
                first_try[0] = False
                barrier.wait(timeout=10)
            d.setdefault("marks", []).append(key)
        try:
            update_job(store, "job-race", mutate)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert sorted(store.get("job-race")["marks"]) == ["a", "b"]  # neither update was lost


def test_cancel_wins_over_a_late_writer(store):
    create_job_document(store, doc("job-c"))
    update_job(store, "job-c", lambda d: apply_status(d, JobStatus.RENDERING, now="T1"))
    update_job(store, "job-c", lambda d: apply_status(d, JobStatus.CANCELLED, now="T2"))
    late = update_job(store, "job-c", lambda d: apply_status(d, JobStatus.COMPLETED, now="T3"))
    assert late["status"] == "cancelled" and late["timestamps"]["finishedAt"] == "T2"


def test_unreachable_cosmos_is_transient(settings):
    from stack.services import free_port

    nowhere = replace(settings, cosmos_endpoint=f"https://127.0.0.1:{free_port()}/")
    with pytest.raises(TransientError):
        CosmosJobStore.from_settings(nowhere, retry_total=0, connection_timeout=2)


def test_a_continuation_token_the_server_did_not_hand_out_is_invalid_input(store):
    for n in range(3):
        store.create(doc(f"job-{n}", created=f"2026-01-01T00:00:0{n}Z"))
    _, token = store.list(top=1)
    assert token  # a real one pages on
    for garbage in ("garbage", '{"token": "nope"}', token[:-3] + "zz}", "1234"):
        with pytest.raises(ValidationError) as caught:
            store.list(top=1, continuation=garbage)
        assert caught.value.code == "invalid_continuation_token", garbage
        assert caught.value.field == "continuationToken"
