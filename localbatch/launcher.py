"""Start and stop localbatch as a child process: for tests and for the local stack.

The child runs in its own process group and writes its log to DIR/localbatch.log;
`stop()` sends SIGTERM (tasks are killed and requeued), `kill()` is a crash.
`key` is the API key it was given, or the one it keeps in DIR/localbatch.key.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from localbatch.auth import KEY_ENV, KEY_FILE
from shared.adapters.local_batch_backend import LocalBatchBackend

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"localbatch ready on (http://\S+)")


class LaunchError(RuntimeError):
    pass


@dataclass
class LocalBatchProcess:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    key: str

    def backend(self, timeout: float = 30.0) -> LocalBatchBackend:
        """The RenderBackend adapter for this process, with its key."""
        return LocalBatchBackend(self.url, key=self.key, timeout=timeout)

    @property
    def log_path(self) -> Path:
        return self.data_dir / "localbatch.log"

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """A crash: SIGKILL to localbatch alone; its tasks, in their own groups, live on."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_localbatch(data_dir: Path, *, storage_connection_string: str | None = None, slots: int = 1,
                     port: int = 0, poll_interval: float = 0.2, timeout: float = 30.0,
                     extra_args: tuple[str, ...] = (), key: str | None = None,
                     sandbox: bool = True) -> LocalBatchProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "localbatch.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    argv = [sys.executable, "-m", "localbatch", "--data-dir", str(data_dir), "--port", str(port),
            "--slots", str(slots), "--poll-interval", str(poll_interval),
            "--sandbox" if sandbox else "--no-sandbox", *extra_args]
    env = dict(os.environ)
    if storage_connection_string:
        env["LOCALBATCH_STORAGE_CONNECTION_STRING"] = storage_connection_string  # not on argv: ps shows it
    env.pop(KEY_ENV, None)
    if key:
        env[KEY_ENV] = key
    with log_path.open("ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with log_path.open("rb") as log:
            log.seek(offset)
            match = READY.search(log.read().decode(errors="replace"))
        if match:
            return LocalBatchProcess(process, match.group(1), data_dir,
                                     key or (data_dir / KEY_FILE).read_text().strip())
        if process.poll() is not None:
            raise LaunchError(f"localbatch exited with {process.returncode}: {_tail(log_path)}")
        time.sleep(0.05)
    process.kill()
    raise LaunchError(f"localbatch did not become ready in {timeout:.0f}s: {_tail(log_path)}")


def _tail(path: Path) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-20:])
