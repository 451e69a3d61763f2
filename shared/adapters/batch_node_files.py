"""Checks and helpers for reading what a task left on its node, and for its node.

A task file path is relative to the task's directory on the node (`stdout.txt`,
`wd/frames/x.png`); one that is absolute or climbs out with `..` is refused
before anything is sent, so no caller can read another task's directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath

from shared.adapters.batch_errors import calling_batch
from shared.errors import ConflictError, NotFoundError, ValidationError

MAX_TAIL_BYTES = 16 * 1024 * 1024
# Batch node ids are `tvmps_<64 hex>_d` (or `_p`): longer than job and task ids may be.
_NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_MAX_PATH = 1024


def check_node_id(node_id: str) -> None:
    if not isinstance(node_id, str) or not _NODE_ID.match(node_id):
        raise ValidationError(f"node_id must be 1-128 letters, digits, '-' or '_': {node_id!r}", field="node_id")


def check_task_file_path(path: str) -> None:
    if (not isinstance(path, str) or not path or len(path) > _MAX_PATH or "\0" in path or "\\" in path
            or path.startswith("/") or ".." in PurePosixPath(path).parts):
        raise ValidationError(f"a task file path is relative to the task directory, without '..': {path!r}",
                              field="path")


def check_tail_bytes(tail_bytes: int) -> None:
    if isinstance(tail_bytes, bool) or not isinstance(tail_bytes, int) or not 1 <= tail_bytes <= MAX_TAIL_BYTES:
        raise ValidationError(f"tail_bytes must be 1..{MAX_TAIL_BYTES}", field="tail_bytes")


def tail_range(size: int, tail_bytes: int) -> str:
    """The `ocp-range` of a file's last `tail_bytes` bytes (inclusive ends, as HTTP ranges)."""
    return f"bytes={max(0, size - tail_bytes)}-{size - 1}"


def check_reason(reason: str) -> None:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500 or not reason.isprintable():
        raise ValidationError("a reason of 1-500 printable characters is required", field="reason")


@contextmanager
def reading_task_file(operation: str) -> Iterator[None]:
    """Like calling_batch, but a 409 means the task has no files to read: it has not run on
    a node yet, or its files were cleaned up (HEAD answers carry no error code to tell)."""
    try:
        with calling_batch(operation):
            yield
    except ConflictError as exc:
        raise NotFoundError(str(exc), details=exc.details) from exc
