"""The blob service's CORS rule for the dashboard's browser uploads.

The page uploads a bundle straight to its one-blob SAS URL (Put Block, Put Block List), a
cross-origin PUT from the app's origin to the storage origin. The browser asks first
(a preflight OPTIONS); without a rule naming the app's origin, storage refuses it. The rule
allows only that origin, only PUT (and the preflight), and exposes no headers: the page
needs the status alone. infra/modules/storage.bicep sets the same rule in Azure.
"""

from __future__ import annotations

from azure.storage.blob import BlobServiceClient, CorsRule

UPLOAD_METHODS = ["PUT", "OPTIONS"]
UPLOAD_HEADERS = ["x-ms-*", "content-type"]
MAX_AGE_SECONDS = 600


def dashboard_cors_rule(origin: str) -> CorsRule:
    return CorsRule([origin], UPLOAD_METHODS, allowed_headers=UPLOAD_HEADERS, exposed_headers=[],
                    max_age_in_seconds=MAX_AGE_SECONDS)


def allow_dashboard_uploads(service: BlobServiceClient, origin: str) -> None:
    """Sets the blob service's CORS rules to exactly the dashboard's (each start: ports may change)."""
    service.set_service_properties(cors=[dashboard_cors_rule(origin)])
