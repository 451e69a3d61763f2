"""The blob watcher: Azurite blobs become BlobCreated events delivered to Event Grid
triggered functions, filtered, retried, dead-lettered, and never repeated."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from azure.storage.blob import BlobServiceClient, ContentSettings

from stack.services import Azurite
from tests.devhost.harness import Devhost, read_ndjson, start_devhost, wait_for

SUBJECT = "/blobServices/default/containers/{}/blobs/{}"


def settings(azurite: Azurite, work: Path) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "EVENTS_OUT": str(work / "events.ndjson"),
        "FLAKY_FAILURES": "2",
        "DEVHOST_BLOB_POLL_INTERVAL": "0.2",
        "DEVHOST_EVENTGRID_RETRY_SECONDS": "0.2",
        "DEVHOST_EVENTGRID_MAX_ATTEMPTS": "3",
    }


class Scenario:
    def __init__(self, azurite: Azurite, prefix: str) -> None:
        self.service = BlobServiceClient.from_connection_string(azurite.connection_string)
        self.scenes, self.other, self.flaky, self.failing = (f"{prefix}-{n}" for n in ("sc", "ot", "fl", "df"))
        for name in (self.scenes, self.other, self.flaky, self.failing):
            self.service.create_container(name)

    def subscriptions(self) -> list[dict[str, Any]]:
        return [
            {"name": "scenes", "functionName": "record", "container": self.scenes, "subjectEndsWith": ".zip",
             "includedEventTypes": ["Microsoft.Storage.BlobCreated"],
             "advancedFilters": [{"operatorType": "StringIn", "key": "data.api",
                                  "values": ["PutBlob", "PutBlockList", "CopyBlob"]}]},
            {"name": "keep-only", "functionName": "recordSuffix",
             "subjectBeginsWith": f"/blobServices/default/containers/{self.other}/blobs/keep/"},
            {"name": "flaky", "functionName": "flaky", "containers": [self.flaky]},
            {"name": "never", "functionName": "always_fails", "container": self.failing},
        ]

    def upload(self, container: str, name: str, data: bytes, **kwargs: Any) -> dict[str, Any]:
        return self.service.get_blob_client(container, name).upload_blob(data, overwrite=True, **kwargs)


def delivered(host: Devhost, function: str, subject: str) -> list[dict[str, Any]]:
    return [e for e in read_ndjson(host.work / "events.ndjson") if e["function"] == function
            and e["subject"] == subject]


def outbox(host: Devhost) -> list[dict[str, Any]]:
    with sqlite3.connect(host.data_dir / "eventgrid.sqlite") as db:
        rows = db.execute("SELECT subscription, state, attempts, event FROM outbox ORDER BY id").fetchall()
    return [{"subscription": s, "state": st, "attempts": a, "event": json.loads(e)} for s, st, a, e in rows]


def settled_row(host: Devhost, subject: str) -> dict[str, Any]:
    """The subject's one outbox row once it has left 'pending': the function has returned
    a moment before the row is marked, so a reader may see it still pending."""
    def probe() -> list[dict[str, Any]]:
        rows = [r for r in outbox(host) if r["event"]["subject"] == subject]
        return rows if rows and all(r["state"] != "pending" for r in rows) else []
    [row] = wait_for(probe) or [r for r in outbox(host) if r["event"]["subject"] == subject]
    return row


@pytest.fixture(scope="module")
def scenario(azurite: Azurite) -> Scenario:
    scenario = Scenario(azurite, f"w{int(time.time() * 1000) % 10**8}")
    # There before devhost first watches: the baseline, not an event.
    scenario.upload(scenario.scenes, "pre/existing.zip", b"old")
    return scenario


@pytest.fixture(scope="module")
def devhost(azurite: Azurite, scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devhost]:
    work = tmp_path_factory.mktemp("devhost-blobs")
    host = start_devhost("events_app", work, settings(azurite, work), scenario.subscriptions())
    yield host
    host.stop()


def test_new_blob_becomes_exactly_one_blob_created_event(devhost: Devhost, scenario: Scenario) -> None:
    props = scenario.upload(scenario.scenes, "artist-a/shot010.zip", b"PK" + b"\0" * 100,
                            content_settings=ContentSettings(content_type="application/zip"))
    subject = SUBJECT.format(scenario.scenes, "artist-a/shot010.zip")
    [got] = wait_for(lambda: delivered(devhost, "record", subject))
    assert got["class"] == "EventGridEvent"
    assert got["event_type"] == "Microsoft.Storage.BlobCreated"
    assert re.fullmatch(r"/subscriptions/[0-9a-f-]{36}/resourceGroups/[\w-]+/providers/Microsoft.Storage/"
                        r"storageAccounts/devstoreaccount1", got["topic"])
    data = got["data"]
    assert data["api"] == "PutBlob"
    assert data["eTag"] == f'"{props["etag"].strip(chr(34))}"'
    assert data["contentType"] == "application/zip"
    assert data["contentLength"] == 102
    assert data["blobType"] == "BlockBlob"
    assert data["url"] == scenario.service.get_blob_client(scenario.scenes, "artist-a/shot010.zip").url
    assert re.fullmatch(r"[0-9a-f]{32,}", data["sequencer"])
    assert set(data["storageDiagnostics"]) == {"batchId"}
    assert got["data_version"] == ""
    row = settled_row(devhost, subject)
    event = row["event"]
    assert list(event) == ["topic", "subject", "eventType", "eventTime", "id", "data", "dataVersion",
                           "metadataVersion"]
    assert event["metadataVersion"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", event["eventTime"])
    assert row["state"] == "delivered"
    time.sleep(1.0)  # several more polls: still exactly one
    assert len(delivered(devhost, "record", subject)) == 1


def test_blob_present_before_first_start_is_not_an_event(devhost: Devhost, scenario: Scenario) -> None:
    scenario.upload(scenario.scenes, "marker.zip", b"m")
    wait_for(lambda: delivered(devhost, "record", SUBJECT.format(scenario.scenes, "marker.zip")))
    assert delivered(devhost, "record", SUBJECT.format(scenario.scenes, "pre/existing.zip")) == []


def test_blob_committed_from_blocks_is_put_block_list(devhost: Devhost, scenario: Scenario,
                                                      azurite: Azurite) -> None:
    chunked = BlobServiceClient.from_connection_string(azurite.connection_string, max_single_put_size=1024,
                                                       max_block_size=1024)
    chunked.get_blob_client(scenario.scenes, "big/shot.zip").upload_blob(b"x" * 5000)
    [got] = wait_for(lambda: delivered(devhost, "record", SUBJECT.format(scenario.scenes, "big/shot.zip")))
    assert got["data"]["api"] == "PutBlockList"
    assert got["data"]["contentLength"] == 5000


def test_copied_blob_is_copy_blob(devhost: Devhost, scenario: Scenario) -> None:
    source = scenario.service.get_blob_client(scenario.other, "source/original.zip")
    source.upload_blob(b"copy me", overwrite=True)
    scenario.service.get_blob_client(scenario.scenes, "copied.zip").start_copy_from_url(source.url)
    [got] = wait_for(lambda: delivered(devhost, "record", SUBJECT.format(scenario.scenes, "copied.zip")))
    assert got["data"]["api"] == "CopyBlob"
    assert got["data"]["contentLength"] == 7


def test_overwrite_with_a_new_etag_is_a_new_event(devhost: Devhost, scenario: Scenario) -> None:
    subject = SUBJECT.format(scenario.scenes, "again.zip")
    scenario.upload(scenario.scenes, "again.zip", b"one")
    first = wait_for(lambda: delivered(devhost, "record", subject))
    scenario.upload(scenario.scenes, "again.zip", b"two!")
    both = wait_for(lambda: len(delivered(devhost, "record", subject)) == 2 and delivered(devhost, "record", subject))
    assert both and len(both) == 2
    assert both[0]["id"] == first[0]["id"]
    assert both[1]["data"]["eTag"] != both[0]["data"]["eTag"]
    assert both[1]["data"]["sequencer"] > both[0]["data"]["sequencer"]
    assert both[1]["data"]["contentLength"] == 4


def test_filters_exclude_other_suffixes_prefixes_and_containers(devhost: Devhost, scenario: Scenario) -> None:
    scenario.upload(scenario.scenes, "notes.txt", b"not a bundle")
    scenario.upload(scenario.other, "skip/a.zip", b"excluded by prefix")
    scenario.upload(scenario.other, "keep/b.zip", b"included")
    kept = wait_for(lambda: delivered(devhost, "recordSuffix", SUBJECT.format(scenario.other, "keep/b.zip")))
    assert len(kept) == 1
    scenario.upload(scenario.scenes, "after-filters.zip", b"z")  # a later event, to know polling went past
    wait_for(lambda: delivered(devhost, "record", SUBJECT.format(scenario.scenes, "after-filters.zip")))
    everything = read_ndjson(devhost.work / "events.ndjson")
    subjects = {e["subject"] for e in everything}
    assert SUBJECT.format(scenario.scenes, "notes.txt") not in subjects
    assert SUBJECT.format(scenario.other, "skip/a.zip") not in subjects
    assert not [e for e in everything if e["function"] == "record" and scenario.other in e["subject"]]


def test_failing_function_is_retried_until_it_succeeds(devhost: Devhost, scenario: Scenario) -> None:
    subject = SUBJECT.format(scenario.flaky, "retry.zip")
    scenario.upload(scenario.flaky, "retry.zip", b"r")
    [got] = wait_for(lambda: delivered(devhost, "flaky", subject))
    counter = devhost.work / f"flaky-{got['id']}.count"
    assert counter.read_text() == "3"  # failed twice, then succeeded
    row = settled_row(devhost, subject)
    assert (row["state"], row["attempts"]) == ("delivered", 3)


def test_function_that_keeps_failing_is_dead_lettered(devhost: Devhost, scenario: Scenario) -> None:
    scenario.upload(scenario.failing, "doomed.zip", b"d")
    files = wait_for(lambda: list((devhost.data_dir / "deadletter" / "never").glob("*.json")))
    [record] = [json.loads(f.read_text()) for f in files]
    assert record["subject"] == SUBJECT.format(scenario.failing, "doomed.zip")
    assert record["deliveryAttempts"] == 3
    assert record["deadLetterReason"] == "MaxDeliveryAttemptsExceeded"
    assert "never succeeds" in record["lastErrorMessage"]
    assert "dead-lettered" in devhost.stderr()
    # Dead letters and the delivery state hold event payloads: the owner's alone.
    for path in (*files, devhost.data_dir / "eventgrid.sqlite"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_restart_does_not_redeliver_and_delivers_what_arrived_while_down(
        azurite: Azurite, tmp_path: Path) -> None:
    scenario = Scenario(azurite, f"r{int(time.time() * 1000) % 10**8}")
    work = tmp_path / "restart"
    host = start_devhost("events_app", work, settings(azurite, work), scenario.subscriptions())
    try:
        scenario.upload(scenario.scenes, "before.zip", b"1")
        wait_for(lambda: delivered(host, "record", SUBJECT.format(scenario.scenes, "before.zip")))
    finally:
        assert host.stop() == 0
    scenario.upload(scenario.scenes, "while-down.zip", b"2")
    host = start_devhost("events_app", work, settings(azurite, work), scenario.subscriptions(),
                         data_dir=host.data_dir)
    try:
        [late] = wait_for(lambda: delivered(host, "record", SUBJECT.format(scenario.scenes, "while-down.zip")))
        assert late["data"]["api"] == "PutBlob"
        scenario.upload(scenario.scenes, "after.zip", b"3")
        wait_for(lambda: delivered(host, "record", SUBJECT.format(scenario.scenes, "after.zip")))
        assert len(delivered(host, "record", SUBJECT.format(scenario.scenes, "before.zip"))) == 1
    finally:
        host.stop()


@pytest.mark.parametrize("name", [
    "keep/shot 010.zip", "keep/literal%0Aescape.zip", "keep/literal%2Fslash.zip", "keep/line\nbreak.zip",
    "keep/ünïcødé/шот.zip", "keep/emoji💎.zip", "keep/hash#and?query.zip", "keep/plus+amp&eq=.zip",
    "keep/tab\t.zip", "keep/cr\rlf.zip",
])
def test_blob_names_reach_the_event_as_storage_writes_them(devhost: Devhost, scenario: Scenario,
                                                           azurite: Azurite, name: str) -> None:
    scenario.upload(scenario.other, name, b"n")
    subject = SUBJECT.format(scenario.other, name)
    [got] = wait_for(lambda: delivered(devhost, "recordSuffix", subject))
    # The subject names the blob as stored; the URL escapes it as the storage service does
    # ('/' kept as the path separator, everything else percent-encoded as UTF-8).
    assert got["subject"] == subject
    assert got["data"]["url"] == f"{azurite.blob_endpoint}/{scenario.other}/{quote(name, safe='/~')}"
    assert unquote(got["data"]["url"].rsplit(f"/{scenario.other}/", 1)[1]) == name
