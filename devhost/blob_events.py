"""Microsoft.Storage.BlobCreated events in the Event Grid schema, shaped like the ones a
storage account's system topic sends (see the sample in the README)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

BLOB_CREATED = "Microsoft.Storage.BlobCreated"


@dataclass(frozen=True)
class BlobVersion:
    """One committed version of a blob, as the watcher saw it in a listing."""

    container: str
    name: str
    etag: str
    content_type: str
    content_length: int
    blob_type: str
    url: str
    api: str


def event_time(now: datetime | None = None) -> str:
    """RFC 3339 with seven fractional digits, as Event Grid writes it."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def quoted_etag(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def blob_created_event(blob: BlobVersion, topic: str, sequencer: int) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "topic": topic,
        "subject": f"/blobServices/default/containers/{blob.container}/blobs/{blob.name}",
        "eventType": BLOB_CREATED,
        "eventTime": event_time(),
        "id": str(uuid.uuid4()),
        "data": {
            "api": blob.api,
            "clientRequestId": str(uuid.uuid4()),
            "requestId": request_id,
            "eTag": quoted_etag(blob.etag),
            "contentType": blob.content_type,
            "contentLength": blob.content_length,
            "blobType": blob.blob_type,
            "url": blob.url,
            # Monotonic across the account (and across devhost restarts), 32 hex digits.
            "sequencer": f"{sequencer:032x}",
            "storageDiagnostics": {"batchId": str(uuid.uuid4())},
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def storage_topic(subscription_id: str, resource_group: str, account: str) -> str:
    return (f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.Storage/storageAccounts/{account}")
