"""Errors as clients see them: a code and a plain message.

What a task or a failed step said (Python tracebacks, paths on a render node or in a
temp directory) helps whoever reads the logs and nobody else: it may show how the
nodes are laid out, and it buries the one line that matters. The job document and
the HTTP API keep the code, one plain line and the structured details; the rest is
logged where it is found.
"""

from __future__ import annotations

import re
from typing import Any

MAX_MESSAGE_CHARS = 1_000
# An absolute path of two or more segments that is not part of a URL ("http://host/a/b"):
# what precedes it is neither a word character, ":", "/" nor ".".
_POSIX_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s/'\"]+/)+[^\s'\",;)\]]*")
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\[^\s'\",;)\]]*")
_TRACEBACK_HEADERS = ("Traceback (most recent call last)", "During handling of the above exception",
                      "The above exception was the direct cause")


def plain_message(text: object, limit: int = MAX_MESSAGE_CHARS) -> str | None:
    """One line without traceback frames or absolute paths (each path becomes "<path>")."""
    if text is None:
        return None
    text = str(text)
    for header in _TRACEBACK_HEADERS:  # a traceback quoted mid-line ("could not continue: Traceback …")
        text = text.replace(header, "\n" + header)
    kept: list[str] = []
    in_traceback = False
    for line in text.splitlines():
        if line.startswith(_TRACEBACK_HEADERS):
            in_traceback = True
            continue
        if in_traceback and (line[:1].isspace() or not line.strip()):
            continue  # a frame ("  File ..., line N") or its source line
        in_traceback = False
        if line.strip():
            kept.append(line.strip())
    message = " ".join(kept)
    message = _WINDOWS_PATH.sub("<path>", _POSIX_PATH.sub("<path>", message))
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return plain_message(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def public_error(error: dict[str, Any]) -> dict[str, Any]:
    """The error a job document keeps: code, plain message, plain details (and field, if named)."""
    code = str(error.get("code") or "internal_error")
    public: dict[str, Any] = {"code": code, "message": plain_message(error.get("message")) or code}
    if "details" in error:
        public["details"] = _plain(error["details"])
    if error.get("field") is not None:
        public["field"] = str(error["field"])
    return public
