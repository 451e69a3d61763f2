"""POST /api/assets/missing and /api/assets/commit: the asset store's two routes (function key required)."""

from __future__ import annotations

import functools

import azure.durable_functions as df
import azure.functions as func

from shared.adapters.blob_sas import BlobSigner, signer_from_settings
from shared.bootstrap import services
from shared.pipeline import assets
from triggers.http_json import json_response, read_json, sync_api_errors

bp = df.Blueprint()


@functools.cache
def _signer() -> BlobSigner:
    return signer_from_settings(services().settings)


@bp.route(route="assets/missing", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@sync_api_errors
def find_missing_assets(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(assets.find_missing(services(), _signer(), read_json(req)))


@bp.route(route="assets/commit", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@sync_api_errors
def commit_asset(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(assets.commit_asset(services(), read_json(req)))
