"""An AzureBatchBackend pointed at a BatchRestServer, with shared-key auth."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AzureNamedKeyCredential

from shared.adapters.azure_batch_backend import AzureBatchBackend
from tests.batchrest.auth import TEST_KEY
from tests.batchrest.server import BatchRestServer

STORAGE_URL = "https://studiostore.blob.core.windows.net"
IDENTITY = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/render/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/render-pool")
POOL_ID = "render-pool"


def make_backend(server: BatchRestServer, **options: Any) -> AzureBatchBackend:
    """Fast retries, so tests of transient errors do not wait on the SDK's backoff."""
    settings: dict[str, Any] = {
        "storage_blob_url": STORAGE_URL,
        "identity_resource_id": IDENTITY,
        "retry_backoff_factor": 0.01,
        "terminate_poll_seconds": 1,
        **options,
    }
    credential = AzureNamedKeyCredential(server.account, server.key or TEST_KEY)
    return AzureBatchBackend(server.url, POOL_ID, credential, **settings)
