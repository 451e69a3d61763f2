"""The project's own errors. Adapters raise these, never SDK exceptions.

`transient` says whether trying the same call again later can help; activities
let transient errors escape so the orchestration's retry policy retries them.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class: a code for the job document, a message for people."""

    code = "internal_error"
    transient = False

    def __init__(self, message: str, *, code: str | None = None, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_json(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return error


class TransientError(PipelineError):
    """A dependency is busy or unreachable; the same call may succeed later."""

    code = "transient"
    transient = True


class PermanentError(PipelineError):
    """Retrying the same call cannot succeed."""

    code = "permanent"


class NotFoundError(PermanentError):
    code = "not_found"


class ConflictError(PermanentError):
    """The resource exists already, or changed since it was read (etag mismatch)."""

    code = "conflict"


class ValidationError(PermanentError):
    """Input from outside is wrong; `field` names what, when one field is to blame."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 details: object = None) -> None:
        super().__init__(message, code=code, details=details)
        self.field = field

    def to_json(self) -> dict[str, object]:
        error = super().to_json()
        if self.field is not None:
            error["field"] = self.field
        return error
