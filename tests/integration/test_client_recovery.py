"""The adapters ride out a restart of a local service: a call issued while it is down
succeeds within a few seconds of it coming back, with no retry option given by the caller."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.adapters.blob_store import AzureBlobStore
from shared.adapters.cosmos_job_store import CosmosJobStore, ensure_cosmos_container
from shared.adapters.eventgrid_publisher import EventGridPublisher
from shared.adapters.retry import is_local, storage_options
from shared.config import Settings
from shared.ports import LifecycleEvent
from stack.services import start_azurite, start_cosmos

DOWN_FOR_S = 2.0
RECOVERY_S = 3.0


class Call(threading.Thread):
    """Runs fn in the background, remembering when it returned and what it raised."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.error: BaseException | None = None
        self.finished_at: float | None = None

    def run(self) -> None:
        try:
            self.fn()
        except BaseException as exc:  # reported by the test
            self.error = exc
        self.finished_at = time.monotonic()


def issued_while_down(fn: Callable[[], Any], restart: Callable[[], None]) -> float:
    """Seconds from the service being back to fn (started while it was down) returning."""
    call = Call(fn)
    call.start()
    time.sleep(DOWN_FOR_S)
    assert call.is_alive(), "the call gave up while the service was down"
    restart()
    back = time.monotonic()
    call.join(30)
    assert call.error is None, repr(call.error)
    assert call.finished_at is not None
    return call.finished_at - back


def test_the_blob_store_recovers_when_azurite_comes_back(tmp_path: Path) -> None:
    azurite = start_azurite(tmp_path)
    port = azurite.port
    try:
        blobs = AzureBlobStore.from_connection_string(azurite.connection_string)
        blobs.ensure_container("scenes")
        azurite.stop()

        def restart() -> None:
            nonlocal azurite
            azurite = start_azurite(tmp_path, port)

        took = issued_while_down(lambda: blobs.upload("scenes", "a/shot.zip", b"zip"), restart)
        assert took <= RECOVERY_S
        assert blobs.download("scenes", "a/shot.zip") == b"zip"
    finally:
        azurite.stop()


def test_the_job_store_recovers_when_the_cosmos_server_comes_back(tmp_path: Path) -> None:
    cosmos = start_cosmos(tmp_path)
    port = cosmos.port
    try:
        settings = Settings.from_env({
            "STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true", "LOCALBATCH_URL": "http://127.0.0.1:1",
            "COSMOS_ENDPOINT": cosmos.endpoint, "COSMOS_KEY": cosmos.key, "COSMOS_VERIFY_TLS": "false"})
        ensure_cosmos_container(settings)
        store = CosmosJobStore.from_settings(settings)
        store.create({"id": "job-1", "status": "queued"})
        cosmos.stop()

        def restart() -> None:
            nonlocal cosmos
            cosmos = start_cosmos(tmp_path, port)

        assert issued_while_down(lambda: store.get("job-1"), restart) <= RECOVERY_S
        cosmos.stop()
        assert issued_while_down(lambda: store.create({"id": "job-2", "status": "queued"}), restart) <= RECOVERY_S
        assert store.get("job-2")["status"] == "queued"
    finally:
        cosmos.stop()


class _Topic(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        self.received.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _serve(port: int) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Topic)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_the_event_publisher_recovers_when_the_topic_comes_back() -> None:
    server = _serve(0)
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    publisher = EventGridPublisher.create(f"http://127.0.0.1:{port}/api/events", key="topic-key")
    event = LifecycleEvent(event_type="RenderPipeline.Job.Queued", subject="/jobs/job-1", data={"jobId": "job-1"},
                           id="e-1", event_time="2026-01-01T00:00:00+00:00", data_version="1")

    def restart() -> None:
        nonlocal server
        server = _serve(port)

    try:
        assert issued_while_down(lambda: publisher.publish([event]), restart) <= RECOVERY_S
        assert any(b"job-1" in body for body in _Topic.received)
    finally:
        server.shutdown()
        server.server_close()


def test_azure_endpoints_keep_the_sdk_retry_policies() -> None:
    assert not is_local("https://studio.blob.core.windows.net")
    assert not is_local("https://render.documents.azure.com:443/")
    assert is_local("http://127.0.0.1:10000/devstoreaccount1") and is_local("https://localhost:8081/")
    assert storage_options("https://studio.blob.core.windows.net", {}) == {}
    assert "retry_policy" in storage_options("http://127.0.0.1:10000/devstoreaccount1", {})
    assert storage_options("http://127.0.0.1:10000/x", {"retry_total": 0}) == {"retry_total": 0}
