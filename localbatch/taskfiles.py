"""Reading a file of a task's directory (Batch's Get Task File), race-free against the task.

The task writes its own directory (a sandboxed task can make any symlink there), so
a path is never resolved by the kernel in one go: each name is opened below the
one before with O_NOFOLLOW, so a symlink anywhere on the way (`wd/out -> /`,
`wd/key -> DIR/localbatch.key`) is refused, not followed, and no swap between a
check and the open can lead outside. Only regular files are read; a FIFO or a
device the task made is opened without blocking and refused.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.errors import NotFoundError, ValidationError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class FileTail:
    data: bytes
    size: int  # the whole file's size when it was read


def read_tail(task_dir: Path, parts: Sequence[str], tail_bytes: int) -> FileTail:
    """The last `tail_bytes` bytes of task_dir/parts…; NotFoundError when the task directory
    (not run yet, or cleaned up) or the file is not there."""
    shown = "/".join(parts)
    try:
        fd = os.open(task_dir, _DIR_FLAGS)
    except FileNotFoundError:
        raise NotFoundError("the task has no files here: it has not run yet, or they were cleaned up") from None
    try:
        for i, name in enumerate(parts):
            child = _open_below(fd, name, _FILE_FLAGS if i == len(parts) - 1 else _DIR_FLAGS, shown)
            os.close(fd)
            fd = child
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ValidationError(f"{shown} is a directory, not a file", field="path")
        if not stat.S_ISREG(info.st_mode):
            raise ValidationError(f"{shown} is not a regular file", field="path")
        start = max(0, info.st_size - tail_bytes)
        return FileTail(os.pread(fd, info.st_size - start, start), info.st_size)
    finally:
        os.close(fd)


def _open_below(parent: int, name: str, flags: int, shown: str) -> int:
    try:
        return os.open(name, flags, dir_fd=parent)
    except OSError as exc:
        # O_NOFOLLOW meets a symlink as ELOOP, or as ENOTDIR together with O_DIRECTORY.
        if exc.errno == errno.ENOTDIR and _is_symlink(parent, name):
            exc.errno = errno.ELOOP
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise NotFoundError(f"{shown} is not in the task directory") from None
        if exc.errno == errno.ELOOP:
            raise ValidationError(f"{shown} goes through a symbolic link, which is not followed",
                                  field="path") from None
        if exc.errno == errno.EACCES:
            raise NotFoundError(f"{shown} cannot be read") from None
        raise


def _is_symlink(parent: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False
