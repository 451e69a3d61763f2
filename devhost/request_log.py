"""Azurite's request log as a change feed for the blob watcher.

Azurite (without `--silent`) writes one access-log line per request, in morgan's "common"
format, once the response is sent:

    127.0.0.1 - - [01/Dec/2026:10:26:41 +0000] "PUT /devstoreaccount1/renders/a/b.json HTTP/1.1" 201 -

A successful PUT on a blob URL is a write that may have committed a new version (Put Blob,
Put Block List, Copy Blob, and metadata/property writes that change the eTag). The watcher
reads each such blob's properties and treats it as if a listing had shown it; a periodic
full listing still runs in the background, so a line that is missed (log replaced, a
request Azurite logs differently) delays an event but never loses it. The Azure analogue is
the storage account's change feed.
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


def read_new_lines(path: Path, position: LogPosition | None) -> tuple[list[str], LogPosition | None]:
    """The complete lines appended to path after position, and the position after them
    (the caller stores it once the lines are handled, so a crash re-reads them). A file
    that is not the one position points into (first start, Azurite's log replaced) is read
    from its start; what the old one held past position is the full listing's to find."""
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            if position is None or position.inode != st.st_ino or position.offset > st.st_size:
                position = LogPosition(st.st_ino, 0)
            if st.st_size == position.offset:
                return [], position
            handle.seek(position.offset)
            data = handle.read(MAX_READ)
    except OSError:
        return [], position
    complete, newline, _ = data.rpartition(b"\n")
    if not newline:
        if len(data) == MAX_READ:  # no request line is this long: skip it, the full listing covers it
            return [], LogPosition(position.inode, position.offset + len(data))
        return [], position  # a line still being written: read it whole next time
    after = LogPosition(position.inode, position.offset + len(complete) + 1)
    return complete.decode("utf-8", errors="replace").split("\n"), after


def end_of(path: Path) -> LogPosition | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return LogPosition(st.st_ino, st.st_size)
