"""Upload URLs for scene bundles (POST /api/uploads): one blob, write-only, minutes long.

Each upload gets its own blob name under UPLOAD_PREFIX in the scenes container. The
scenes trigger ignores that prefix, so an upload through the API starts no job by
itself: the client's POST /api/jobs with the returned blobName makes the one job.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adapters.blob_sas import WRITE_ONLY, BlobSigner
from shared.errors import ValidationError

UPLOAD_PREFIX = "_uploads/"
UPLOAD_LIFETIME = timedelta(minutes=15)
# A file name only (no folders): what bundle.py accepts as a bare .blend's name, or a .zip.
_UPLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,200}\.(zip|blend)\Z", re.IGNORECASE)


def is_upload_blob(blob_name: str) -> bool:
    """A blob written through an upload URL: its job comes from POST /api/jobs, not from its event."""
    return blob_name.startswith(UPLOAD_PREFIX)


def check_upload_request(body: Any) -> str:
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object", field="body")
    unknown = sorted(str(k)[:100] for k in body if k != "name")
    if unknown:
        raise ValidationError(f"unknown key {unknown[0]!r}", field=unknown[0])
    name = body.get("name")
    if not isinstance(name, str) or not _UPLOAD_NAME.match(name):
        raise ValidationError("name must be a file name ending in .zip or .blend (letters, digits, '.', '_', "
                              "'-', ' '; no folders; at most 200 characters)", field="name")
    return name


def issue_upload(signer: BlobSigner, scenes_container: str, body: Any, *, now: datetime | None = None,
                 lifetime: timedelta = UPLOAD_LIFETIME) -> dict[str, Any]:
    """{"blobName", "container", "uploadUrl", "expiresOn"} for one new blob name."""
    name = check_upload_request(body)
    blob_name = f"{UPLOAD_PREFIX}{uuid.uuid4().hex}/{name}"
    expires_on = (now or datetime.now(UTC)) + lifetime
    url = signer.sign(scenes_container, blob_name, WRITE_ONLY, expires_on)
    return {"blobName": blob_name, "container": scenes_container, "uploadUrl": url,
            "expiresOn": expires_on.isoformat(timespec="seconds").replace("+00:00", "Z")}
