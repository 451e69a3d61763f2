"""POST /api/uploads: a short-lived write URL for one new bundle blob (function key required)."""

from __future__ import annotations

import functools

import azure.durable_functions as df
import azure.functions as func

from shared.adapters.blob_sas import BlobSigner, signer_from_settings
from shared.bootstrap import services
from shared.pipeline import uploads
from triggers.http_json import json_response, read_json, sync_api_errors

bp = df.Blueprint()


@functools.cache
def _signer() -> BlobSigner:
    return signer_from_settings(services().settings)


@bp.route(route="uploads", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@sync_api_errors
def create_upload(req: func.HttpRequest) -> func.HttpResponse:
    body = uploads.issue_upload(_signer(), services().settings.scenes_container, read_json(req))
    return json_response(body, 201)
