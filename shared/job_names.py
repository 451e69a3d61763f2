"""Every job has a name: the one its submitter gave (POST body, else render.json), or one derived
from what it renders, as the listings showed before jobs could be named.

Pure (no I/O): the name rules themselves are job_spec.check_job_name's, so a derived name
obeys the same rules as a given one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from shared.errors import ValidationError
from shared.job_spec import MAX_JOB_NAME, check_job_name, forbidden_in_name


def default_job_name(blob_name: str) -> str:
    """The file name of a bundle or a bare .blend ("shot010.zip"), as a job's name."""
    return _as_name(PurePosixPath(blob_name).name or blob_name)


def manifest_job_name(blend_path: str) -> str:
    """A job by content: the .blend's path in the artist's folder ("shots/sh010.blend"); the
    manifest blob's hash would say nothing to an artist."""
    return _as_name(blend_path)


def _as_name(text: str) -> str:
    """text under the rules of a given name. A blob name may hold characters a given name may
    not (an upload event's subject is anything the storage account took): those become "?"
    rather than fail the job."""
    cleaned = "".join("?" if forbidden_in_name(ch) else ch for ch in text)
    try:
        return check_job_name(cleaned[:MAX_JOB_NAME])
    except ValidationError:  # nothing left but spaces
        return "job"


def name_of(doc: Mapping[str, Any]) -> str:
    """A job document's name; documents written before jobs had names get the derived one."""
    name = doc.get("name")
    if isinstance(name, str) and name:
        return name
    request = doc.get("request") or {}
    if isinstance(request.get("name"), str) and request["name"]:
        return str(request["name"])
    blend = (doc.get("bundle") or {}).get("blendPath")
    if isinstance(blend, str) and blend and (doc.get("bundle") or {}).get("kind") == "manifest":
        return manifest_job_name(blend)
    return default_job_name(str((doc.get("source") or {}).get("blobName") or doc.get("id") or "job"))


def check_name_prefix(value: str) -> str:
    """GET /api/jobs?namePrefix=: the start of a name, as a name's characters (not trimmed:
    "shot010 " finds "shot010 comp", not "shot0100")."""
    if not 1 <= len(value) <= MAX_JOB_NAME or any(map(forbidden_in_name, value)):
        raise ValidationError(f"namePrefix must be 1..{MAX_JOB_NAME} characters without control characters",
                              field="namePrefix")
    return value


def name_after_validation(doc: Mapping[str, Any], manifest: Mapping[str, Any]) -> str:
    """The name once render.json is read: `manifest` is the merged one (POST body over render.json),
    so a name given on submit stays, and render.json's name replaces only a derived one."""
    name = manifest.get("name")
    return name if isinstance(name, str) and name else name_of(doc)
