"""Relative paths from outside (manifest paths, bundle entries, blob names) that stay below their prefix."""

from __future__ import annotations

import re


def is_safe_relative_path(path: str) -> bool:
    """No absolute paths, drive letters, backslashes, NULs, or empty/"."/".." segments."""
    if not path or "\\" in path or "\x00" in path or path.startswith("/"):
        return False
    if re.match(r"^[A-Za-z]:", path):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))

