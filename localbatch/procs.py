"""Process groups: each task runs as the leader of its own group, killed as a whole.

A pid is identified together with its start time from /proc, so a group left
behind by a crashed localbatch is killed on restart only if it is still the same
process, never an unrelated one that reused the pid. A crash can also fall between
starting a task's process and recording its pid; every process localbatch starts
carries its node's marker in its environment (`LOCALBATCH_NODE`, the node's
directory), so a restart finds and kills those too.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

MARKER = "LOCALBATCH_NODE"  # in the environment of every process localbatch starts: its node's directory


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/pid/stat)."""
    fields = _stat(pid)
    return fields[19] if fields is not None else None


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies that nobody reaps (e.g. a container without an init) still count as gone.
    return any(_alive_member(p, pgid) for p in _pids())


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_stale_group(pid: int, recorded_start: str | None) -> bool:
    """Kill the group of a task that ran before a crash, if its leader is still that process."""
    current = start_time(pid)
    if current is not None and current != recorded_start:
        return False  # the pid now belongs to another process
    # The leader is still ours, or gone; in that case its children keep the group id.
    kill_group(pid)
    _wait_gone({pid}, 5.0)
    return True


def marked_groups(marker: str) -> set[int]:
    """Process groups of the processes whose environment carries `LOCALBATCH_NODE=marker`
    (never this process's own group)."""
    needle = f"{MARKER}={marker}".encode()
    own = os.getpgid(0)
    groups: set[int] = set()
    for pid in _pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        fields = _stat(pid)
        if fields is not None and fields[0] != "Z" and needle in environ.split(b"\0") and int(fields[2]) != own:
            groups.add(int(fields[2]))
    return groups


def kill_marked(marker: str, timeout: float = 5.0) -> set[int]:
    """Kill every process group left behind by a crashed localbatch of this node; the groups killed."""
    groups = marked_groups(marker)
    for pgid in groups:
        kill_group(pgid)
    _wait_gone(groups, timeout)
    return groups


def exit_code(returncode: int) -> int:
    """A shell's convention: killed by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _wait_gone(groups: set[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(group_alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.05)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/pid/stat after the command name (state, ppid, pgrp, ...); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it are plain.
    return stat.rsplit(")", 1)[1].split()


def _alive_member(pid: int, pgid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z" and int(fields[2]) == pgid
