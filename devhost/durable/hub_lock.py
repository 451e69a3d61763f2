"""One process per task hub: an exclusive lock file beside the database."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from devhost.private_files import touch_private


class TaskHubInUse(Exception):
    """Another process is serving this task hub."""


def lock_exclusively(path: Path) -> IO[bytes] | None:
    """Two processes dispatching one task hub would run every activity twice; the OS drops
    the lock when the holder dies, so a killed host never blocks its successor."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no guard
        return None
    handle = touch_private(path).open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise TaskHubInUse(f"the task hub {path.with_suffix('')} is in use by another process") from exc
    return handle
