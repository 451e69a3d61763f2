"""The blob watcher after Azurite restarts: it is blind for at most about its poll
interval plus one listing, not for the storage SDK's default first retry (~15 s)."""

from __future__ import annotations

import time
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from stack.services import start_azurite
from tests.devhost.harness import read_ndjson, start_devhost

POLL = 0.2
SUBJECT = "/blobServices/default/containers/recover/blobs/{}"


def test_events_resume_within_a_second_or_two_after_azurite_restarts(tmp_path: Path) -> None:
    azurite = start_azurite(tmp_path / "azurite")
    port = azurite.port
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container("recover")
    work = tmp_path / "devhost"
    host = start_devhost("events_app", work, {
        "AzureWebJobsStorage": azurite.connection_string, "EVENTS_OUT": str(work / "events.ndjson"),
        "DEVHOST_BLOB_POLL_INTERVAL": str(POLL)},
        [{"name": "all", "functionName": "record", "container": "recover"}])
    restarted = None
    try:
        azurite.stop()
        time.sleep(2.0)  # several passes fail meanwhile; none may leave the watcher asleep for long
        restarted = start_azurite(tmp_path / "azurite", port)
        uploaded = time.monotonic()
        client = BlobServiceClient.from_connection_string(restarted.connection_string)
        client.get_blob_client("recover", "after-restart.zip").upload_blob(b"x")
        subject = SUBJECT.format("after-restart.zip")
        while time.monotonic() - uploaded < 30:
            if any(e["subject"] == subject for e in read_ndjson(work / "events.ndjson")):
                break
            time.sleep(0.02)
        waited = time.monotonic() - uploaded
        assert any(e["subject"] == subject for e in read_ndjson(work / "events.ndjson")), host.stderr()[-3000:]
        # Poll interval + one listing + one quick retry, with room for a busy 2-core machine.
        assert waited < POLL + 2.5, f"the event came {waited:.1f}s after the upload"
    finally:
        host.stop()
        (restarted or azurite).stop()
