"""Downloads are parallel and resumable: whole files already there are not fetched again.

The outputs route that hands out read URLs is still to come; the transfer itself is
tested against a real HTTP server on loopback that counts what it serves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from renderctl.client import CliError
from renderctl.transfer import RemoteFile, download_files

FILES = {f"/frames/shot_{n:04d}.png": bytes([n]) * (1000 + n) for n in range(1, 6)} | {"/shot.mp4": b"v" * 5000}


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    served: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = FILES.get(self.path)
            served.append(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("content-length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", served
    finally:
        httpd.shutdown()
        httpd.server_close()


def remote(base: str) -> list[RemoteFile]:
    return [RemoteFile(path.lstrip("/"), base + path, len(body)) for path, body in FILES.items()]


def test_a_second_download_skips_whole_files_and_refetches_partial_ones(server, tmp_path):
    base, served = server
    moved: list[int] = []
    done, skipped = download_files(remote(base), tmp_path, moved.append)
    assert sorted(done) == sorted(p.lstrip("/") for p in FILES) and skipped == []
    assert sum(moved) == sum(len(b) for b in FILES.values())
    for path, body in FILES.items():
        assert (tmp_path / path.lstrip("/")).read_bytes() == body

    (tmp_path / "frames" / "shot_0003.png").write_bytes(b"cut short")  # an interrupted earlier run
    served.clear()
    done, skipped = download_files(remote(base), tmp_path, lambda n: None)
    assert done == ["frames/shot_0003.png"] and len(skipped) == len(FILES) - 1
    assert served == ["/frames/shot_0003.png"]
    assert (tmp_path / "frames" / "shot_0003.png").read_bytes() == FILES["/frames/shot_0003.png"]


def test_a_failed_file_leaves_no_partial_file_behind(server, tmp_path):
    base, _ = server
    with pytest.raises(CliError, match=r"missing\.png"):
        download_files([RemoteFile("missing.png", base + "/missing.png", 10)], tmp_path, lambda n: None)
    assert list(tmp_path.iterdir()) == []


def test_an_output_name_that_escapes_the_folder_is_refused(server, tmp_path):
    base, served = server
    with pytest.raises(CliError, match="outside the download folder"):
        download_files([RemoteFile("../../etc/cron.d/x", base + "/shot.mp4", 5000)], tmp_path / "out",
                       lambda n: None)
    assert served == []
