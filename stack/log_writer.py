"""Runs a command with its output written to a log file that is rotated by size.

    python -m stack.log_writer --path DIR/azurite.log --max-bytes N --keep K -- node azurite-blob ...

Azurite's access log is devhost's change feed (devhost/request_log.py) and grows by ~100
bytes per request for as long as a stack's data directory lives. A process cannot be told
to reopen its stdout, and truncating the file under it (copytruncate) loses whatever was
written between the reader's last read and the truncation; so the command writes into a
pipe, and this process owns the file: whole lines only, and when the file has reached
max_bytes it is renamed `<path>.1` (`.1` → `.2` …, at most `keep` kept) and a new one
started. A renamed file is complete: nothing is written to it again, so a reader that
holds a position in it finishes it and then goes on with the next.

The command runs in this process's group (the stack starts each service as a group and
stops or kills the group), so it stops with it; SIGTERM and SIGINT are left to the command,
and this process copies its output to the end and exits with its exit code.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import traceback
from collections.abc import Sequence
from pathlib import Path

READ_SIZE = 65536


def rotated(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


class RotatingLog:
    """Appends whole lines to path; past max_bytes, path becomes path.1 and a new path begins."""

    def __init__(self, path: Path, max_bytes: int, keep: int) -> None:
        self.path, self.max_bytes, self.keep = path, max_bytes, keep
        self.pending = b""
        self.fd = self._open()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, data: bytes) -> None:
        """Writes the complete lines of pending + data; a partial last line waits for its end."""
        complete, newline, self.pending = (self.pending + data).rpartition(b"\n")
        if newline:
            self._write_lines(complete + newline)

    def close(self) -> None:
        if self.pending:  # the command ended mid-line: the line ends here, in this file
            self._write_lines(self.pending + b"\n")
            self.pending = b""
        os.close(self.fd)

    def _write_lines(self, lines: bytes) -> None:
        """Whole lines, rotating as soon as a file has reached max_bytes, so no file holds
        more than max_bytes plus one line however much one read brought."""
        while lines:
            room = max(1, self.max_bytes - os.fstat(self.fd).st_size)
            cut = lines.find(b"\n", room - 1) + 1 or len(lines)
            self._write_all(lines[:cut])
            lines = lines[cut:]
            if os.fstat(self.fd).st_size >= self.max_bytes:
                self.rotate()

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except OSError:  # disk full: drop these lines rather than block the command
                return
            view = view[written:]

    def rotate(self) -> None:
        os.close(self.fd)
        for n in range(self.keep, 0, -1):
            older = self.path if n == 1 else rotated(self.path, n - 1)
            try:
                os.replace(older, rotated(self.path, n))  # the oldest kept (.keep) is replaced
            except FileNotFoundError:
                pass
        self.fd = self._open()


def run(argv: Sequence[str], log: RotatingLog) -> int:
    child = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for signum in (signal.SIGTERM, signal.SIGINT):
        # The group's signal reaches the command too, and it decides; this process drains
        # the pipe to its end, so the last lines are in the log. (Set after the start, so
        # the command does not inherit the ignoring.)
        signal.signal(signum, signal.SIG_IGN)
    assert child.stdout is not None
    fd = child.stdout.fileno()
    while data := os.read(fd, READ_SIZE):
        log.write(data)
    return child.wait()


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.log_writer")
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--max-bytes", type=int, required=True)
    parser.add_argument("--keep", type=int, default=2)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args(args)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not command or options.max_bytes < 1 or options.keep < 1:
        parser.error("needs a command after --, --max-bytes >= 1 and --keep >= 1")
    log = RotatingLog(options.path, options.max_bytes, options.keep)
    # This process's own stdout is the file the stack opened for it, which becomes a rotated
    # one and then a deleted one kept open; what it has to say goes into the log instead.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        return run(command, log)
    except BaseException:
        log.write(f"log_writer: {traceback.format_exc()}\n".encode())
        raise
    finally:
        log.close()


if __name__ == "__main__":
    raise SystemExit(main())
