"""JSON responses and error mapping for the HTTP API."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import azure.functions as func

from shared.errors import ConflictError, NotFoundError, PipelineError, ValidationError
from shared.pipeline.public_errors import public_error
from triggers.conditional import entity_tag, not_modified

log = logging.getLogger(__name__)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json_bytes(body), status_code=status, mimetype="application/json",
                             headers=headers or {})


def json_bytes(body: Any) -> bytes:
    return json.dumps(body, default=str).encode()


# The answers depend on the caller's key, so no shared cache may keep them; a private one
# (a browser's) may, but asks again each time, which is the conditional GET below.
REVALIDATE = "private, no-cache"


def conditional_json_response(req: func.HttpRequest, body: Any) -> func.HttpResponse:
    """200 with the body and its ETag, or 304 Not Modified (no body, same ETag and
    Cache-Control) when the request's If-None-Match already names this body."""
    data = json_bytes(body)
    headers = {"ETag": entity_tag(data), "Cache-Control": REVALIDATE}
    if not_modified(req.headers.get("If-None-Match"), headers["ETag"]):
        return func.HttpResponse(status_code=304, headers=headers)
    return func.HttpResponse(data, status_code=200, mimetype="application/json", headers=headers)


def error_response(exc: PipelineError) -> func.HttpResponse:
    status = 400
    if isinstance(exc, NotFoundError):
        status = 404
    elif isinstance(exc, ConflictError):
        status = 409
    elif exc.transient:
        status = 503
    elif not isinstance(exc, ValidationError):
        status = 500
    # A message may quote what a dependency said (hosts, paths): clients get the plain line.
    return json_response({"error": public_error(exc.to_json())}, status)


def read_json(req: func.HttpRequest) -> Any:
    body = req.get_body()
    if not body:
        raise ValidationError("the request body must be a JSON object", field="body")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ValidationError(f"the request body is not valid JSON: {exc}", field="body") from None
    except RecursionError:  # "[[[[…" nested deeper than the parser's stack
        raise ValidationError("the request body is nested too deeply", field="body") from None


Handler = Callable[..., Awaitable[func.HttpResponse]]
SyncHandler = Callable[..., func.HttpResponse]


def _internal_error(name: str) -> func.HttpResponse:
    log.exception("unhandled error in %s", name)
    return json_response({"error": {"code": "internal_error", "message": "internal error"}}, 500)


def sync_api_errors(handler: SyncHandler) -> SyncHandler:
    """api_errors for plain (thread-run) handlers."""

    @wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> func.HttpResponse:
        try:
            return handler(*args, **kwargs)
        except PipelineError as exc:
            return error_response(exc)
        except Exception:
            return _internal_error(handler.__name__)

    return wrapper


def api_errors(handler: Handler) -> Handler:
    """Project errors become JSON 4xx/5xx answers; anything else is logged and a 500."""

    @wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> func.HttpResponse:
        try:
            return await handler(*args, **kwargs)
        except PipelineError as exc:
            return error_response(exc)
        except Exception:
            return _internal_error(handler.__name__)

    return wrapper
