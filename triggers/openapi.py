"""GET /api/openapi.json: the API's OpenAPI 3.1 description, anonymous like /api/health.

It describes routes, not data, so it needs no key; tests/renderctl keeps it true to
the registered functions and to what a running stack answers.
"""

from __future__ import annotations

import functools
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()
SPEC_PATH = Path(__file__).with_name("openapi.json")


@functools.cache
def _spec() -> bytes:
    return SPEC_PATH.read_bytes()


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi_description(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(_spec(), status_code=200, mimetype="application/json")
