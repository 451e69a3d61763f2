"""Azurite's request log as a change feed for the blob watcher.

Azurite (without `--silent`) writes one access-log line per request, in morgan's "common"
format, once the response is sent:

    127.0.0.1 - - [01/Dec/2026:10:26:41 +0000] "PUT /devstoreaccount1/renders/a/b.json HTTP/1.1" 201 -

A successful PUT on a blob URL is a write that may have committed a new version (Put Blob,
Put Block List, Copy Blob, and metadata/property writes that change the eTag). The watcher
reads each such blob's properties and treats it as if a listing had shown it; a periodic
full listing still runs in the background, so a line that is missed (log replaced, a
request Azurite logs differently) delays an event but never loses it. The Azure analogue is
the storage account's change feed. The local stack rotates the log (stack/log_writer.py);
reading follows it across rotations.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

# Only what a product-style Azurite URL looks like; anything else (stack traces, start-up
# banners, other methods) is not a write and is skipped.
LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "PUT (/[^ ?"]*)(\?[^ "]*)? HTTP/[0-9.]+" (2\d\d) ')
# Staging a block or a page range changes nothing that is committed.
NOT_A_COMMIT = re.compile(r"(?:^|&)comp=(?:block|lease|tier|incrementalcopy)(?:&|$)")
MAX_READ = 4 * 1024 * 1024  # bytes read per tail; the rest waits for the next one


def committed_write(line: str, account: str) -> tuple[str, str] | None:
    """(container, blob name) of a successful blob write in this account, or None."""
    match = LINE.match(line)
    if match is None:
        return None
    path, query = match.group(1), (match.group(2) or "?")[1:]
    if NOT_A_COMMIT.search(query) or "restype=container" in query:
        return None
    parts = path.split("/", 3)  # "", account, container, name (still percent-encoded)
    if len(parts) != 4 or parts[1] != account or not parts[2] or not parts[3]:
        return None
    # Blob URLs are percent-encoded once (a literal "%2F" in a name is "%252F"), so one
    # unquote gives the stored name; a name that does not decode cleanly is left to the
    # full listing.
    try:
        name = unquote(parts[3], errors="strict")
    except UnicodeDecodeError:
        return None
    return unquote(parts[2]), name


def write_api(line: str) -> str | None:
    """The storage operation a commit line was, where its URL tells: a Put Block List says
    `comp=blocklist`, a plain PUT is a Put Blob (or a Copy Blob, which only the blob's copy
    properties tell apart); other writes (metadata, properties) say nothing."""
    match = LINE.match(line)
    if match is None:
        return None
    query = (match.group(2) or "?")[1:]
    if not query or "comp=" not in query:
        return "PutBlob"
    return "PutBlockList" if re.search(r"(?:^|&)comp=blocklist(?:&|$)", query) else None


@dataclass(frozen=True)
class LogPosition:
    inode: int
    offset: int


def log_files(path: Path, most: int = 9) -> list[tuple[Path, os.stat_result]]:
    """The log's files, oldest first: the rotated ones (`path.N` … `path.1`, as
    stack/log_writer.py renames them) and then path itself, each with its stat. Read every
    50 ms, so it stops looking after two missing numbers in a row (one may be missing for
    an instant, between two of a rotation's renames)."""
    files = []
    missing = 0
    for n in range(1, most + 1):
        rotated = path.with_name(f"{path.name}.{n}")
        try:
            files.append((rotated, os.stat(rotated)))
            missing = 0
        except OSError:
            missing += 1
            if missing == 2:
                break
    files.reverse()
    try:
        files.append((path, os.stat(path)))
    except OSError:
        pass
    return files


def read_new_lines(path: Path, position: LogPosition | None) -> tuple[list[str], LogPosition | None]:
    """The complete lines appended to the log after position, and the position after them
    (the caller stores it once the lines are handled, so a crash re-reads them).

    Across a rotation (the file position points into was renamed `path.N` and a new one
    began) the rest of that file is read first, then each newer one from its start, so no
    line is skipped and none read twice. A file that is none of the log's (first start, the
    log deleted or replaced, rotated away before it was read to its end) is left: the log
    is read from the start of its oldest file, and what was lost is the full listing's
    to find. A file shorter than the position (truncated in place) is read from its start."""
    files = log_files(path)
    if not files or files[-1][0] != path:
        return [], position  # no log (yet): nothing to read, keep the position
    inodes = [st.st_ino for _, st in files]
    if position is None or position.inode not in inodes:
        position = LogPosition(inodes[0] if position is not None else inodes[-1], 0)
    index = inodes.index(position.inode)
    while True:
        name, st = files[index]
        if position.offset > st.st_size:  # truncated in place
            position = LogPosition(position.inode, 0)
        newer = files[index + 1] if index + 1 < len(files) else None
        lines, after = _read_lines(name, position, final=newer is not None)
        if lines or newer is None or after is None or after.offset < st.st_size:
            return lines, after
        # This rotated file is read to its end: go on with the next newer one.
        index += 1
        position = LogPosition(newer[1].st_ino, 0)


def _read_lines(path: Path, position: LogPosition, final: bool) -> tuple[list[str], LogPosition | None]:
    """Complete lines of one file from position; in a final (rotated) file a last line
    without its newline counts as complete, since nothing more will be written to it."""
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_ino != position.inode:
                return [], position  # renamed again between the listing and the open: next time
            handle.seek(position.offset)
            data = handle.read(MAX_READ)
    except OSError:
        return [], position
    if not data:
        return [], position
    if final and len(data) < MAX_READ and not data.endswith(b"\n"):
        data += b"\n"
        consumed = len(data) - 1
    else:
        consumed = None
    complete, newline, _ = data.rpartition(b"\n")
    if not newline:
        if len(data) == MAX_READ:  # no request line is this long: skip it, the full listing covers it
            return [], LogPosition(position.inode, position.offset + len(data))
        return [], position  # a line still being written: read it whole next time
    length = consumed if consumed is not None else len(complete) + 1
    after = LogPosition(position.inode, position.offset + length)
    return complete.decode("utf-8", errors="replace").split("\n"), after


def end_of(path: Path) -> LogPosition | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return LogPosition(st.st_ino, st.st_size)
