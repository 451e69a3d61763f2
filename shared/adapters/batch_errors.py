"""Azure Batch SDK errors as the project's own (shared.errors), at the adapter's edge.

HTTP statuses decide whether a retry can help: throttling and server errors are
transient, a bad request or a conflict is not. `calling_batch` wraps each SDK call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.errors import (
    ConflictError,
    NotFoundError,
    PermanentError,
    PipelineError,
    TransientError,
    ValidationError,
)

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


def translate(exc: Exception, operation: str) -> PipelineError:
    """An SDK or transport exception as the project's own error."""
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        status, code = exc.status_code, error_code(exc)
        message = f"Batch {operation} failed: {status} {code or ''} {_message(exc)}".strip()
        details = {"status": status, "code": code, "operation": operation}
        if status == 404:
            return NotFoundError(message, details=details)
        if status in _TRANSIENT_STATUS or status >= 500:
            return TransientError(message, details=details)
        if status in (400, 413):
            return ValidationError(message, details=details)
        if status == 409:
            return ConflictError(message, details=details)
        if status in (401, 403):
            return PermanentError(message, code="unauthorized", details=details)
        return PermanentError(message, details=details)
    if isinstance(exc, ServiceRequestError | ServiceResponseError):  # connection lost, timeouts
        return TransientError(f"Batch {operation}: {exc}", details={"operation": operation})
    if isinstance(exc, ClientAuthenticationError):
        return PermanentError(f"Batch {operation}: authentication failed: {exc}", code="unauthorized")
    return PermanentError(f"Batch {operation}: {exc}", details={"operation": operation})


@contextmanager
def calling_batch(operation: str, *, done_if: tuple[str, ...] = ()) -> Iterator[None]:
    """Translate what the SDK raises; a 409 whose code is in `done_if` means the
    call's purpose is already achieved (JobExists for create, JobCompleted for
    terminate), so it ends quietly."""
    try:
        yield
    except HttpResponseError as exc:
        if exc.status_code == 409 and error_code(exc) in done_if:
            return
        raise translate(exc, operation) from exc
    except AzureError as exc:
        raise translate(exc, operation) from exc


def error_code(exc: HttpResponseError) -> str | None:
    """The Batch error code (`JobExists`, `TaskExists`…) of a failed response."""
    for source in (getattr(exc, "error", None), getattr(exc, "model", None)):
        code = getattr(source, "code", None)
        if code:
            return str(code)
    return None


def _message(exc: HttpResponseError) -> str:
    model = getattr(exc, "model", None)
    value = getattr(getattr(model, "message", None), "value", None)
    return str(value).splitlines()[0] if value else exc.reason or ""
