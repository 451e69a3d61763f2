"""A running task's heartbeat: a small JSON rewritten while the command runs (stdlib only; shipped
beside task_runner.py).

    {"taskId", "status": "running"|"succeeded"|"failed", "framesDone": [..],
     "frameSeconds": {"<frame>": s}, "currentFrame", "updatedAt", "startedAt"}

Written every `every` seconds, and as soon as a frame finishes, but never twice within
MIN_GAP seconds; once more when the task ends. Always to a local file (atomically); when
RENDER_HEARTBEAT_URL holds a write SAS URL for one blob, also PUT there as a block blob. The URL is
a secret: it is never printed. An upload that fails is logged and forgotten: a heartbeat never
fails the task, and the next one tries again.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

URL_ENV = "RENDER_HEARTBEAT_URL"
MIN_GAP = 1.0
UPLOAD_TIMEOUT = 5.0


def heartbeat_url(log: Callable[[str], None]) -> str | None:
    url = os.environ.get(URL_ENV, "").strip()
    if not url:
        return None
    if not url.startswith(("https://", "http://")) or "?" not in url:
        log(f"{URL_ENV} is not an http(s) SAS URL: heartbeats stay local")
        return None
    return url


def put_blob(url: str, body: bytes) -> str | None:
    """PUT one block blob through its SAS URL; returns an error (without the URL) or None."""
    request = urllib.request.Request(url, data=body, method="PUT", headers={
        "x-ms-blob-type": "BlockBlob", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT) as response:
            response.read()
        return None
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return f"{type(exc).__name__}: {str(reason).replace(url, '<url>')[:200]}"


def write_file(path: str, body: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".heartbeat-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Heartbeat:
    """`state()` gives the document's changing part; `frame_finished()` asks for a write soon."""

    def __init__(self, task_id: str, path: str, state: Callable[[], dict[str, Any]], *, every: float,
                 url: str | None, log: Callable[[str], None], started_at: str,
                 now: Callable[[], str]) -> None:
        self.task_id, self.path, self.url, self.every = task_id, path, url, max(every, MIN_GAP)
        self._state, self._log, self._now, self.started_at = state, log, now, started_at
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._last = 0.0
        self.writes = 0
        self.failed_uploads = 0  # in a row: a node without a route to storage logs it once, not every beat

    def start(self) -> None:
        self._thread.start()  # its first beat is at once (on the thread: an upload may take a while)

    def frame_finished(self) -> None:
        self._wake.set()

    def stop(self, status: str) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=UPLOAD_TIMEOUT + 5)
        self.beat(status)

    def _loop(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(timeout=max(0.0, self._last + self.every - time.monotonic()))
            if self._stop.is_set():
                return
            if woken:
                self._wake.clear()
                gap = self._last + MIN_GAP - time.monotonic()
                if gap > 0 and self._stop.wait(gap):
                    return
            self.beat("running")

    def beat(self, status: str) -> None:
        with self._write_lock:
            self._last = time.monotonic()
            doc = {"taskId": self.task_id, "status": status, **self._state(), "updatedAt": self._now(),
                   "startedAt": self.started_at}
            doc.pop("frameFinishedAt", None)
            body = json.dumps(doc, separators=(",", ":")).encode()
            try:
                write_file(self.path, body)
            except OSError as exc:
                self._log(f"cannot write the heartbeat {self.path}: {exc.strerror or exc}")
            if self.url is not None:
                error = put_blob(self.url, body)
                if error:
                    if not self.failed_uploads:
                        self._log(f"heartbeat upload failed (ignored; said again only once it works): {error}")
                    self.failed_uploads += 1
                elif self.failed_uploads:
                    self._log(f"heartbeat upload works again after {self.failed_uploads} failed")
                    self.failed_uploads = 0
            self.writes += 1
