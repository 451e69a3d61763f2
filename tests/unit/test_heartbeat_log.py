"""A node with no route to storage (localbatch's sandbox has no network) says so once, not every beat."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from shared.node.heartbeat import Heartbeat


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Accepting(http.server.BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def accepting_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/devstoreaccount1/renders/hb.json?sig=x"
    server.shutdown()
    server.server_close()


def test_failed_uploads_are_logged_once_and_their_recovery_once(tmp_path, accepting_url: str) -> None:
    lines: list[str] = []
    beat = Heartbeat("chunk-0001", str(tmp_path / "heartbeat.json"), dict, every=1.0,
                     url=f"http://127.0.0.1:{_closed_port()}/devstoreaccount1/renders/hb.json?sig=secret",
                     log=lines.append, started_at="2026-12-01T00:00:00Z", now=lambda: "2026-12-01T00:00:01Z")
    for _ in range(5):
        beat.beat("running")
    assert [line for line in lines if "failed" in line] == lines and len(lines) == 1
    assert "secret" not in lines[0] and beat.failed_uploads == 5
    assert (tmp_path / "heartbeat.json").exists()  # the file beside the task is written whatever storage does

    beat.url = accepting_url
    beat.beat("running")
    beat.beat("running")
    assert lines[1:] == ["heartbeat upload works again after 5 failed"] and beat.failed_uploads == 0
