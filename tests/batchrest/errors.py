"""An error answer in Batch's shape, raised by the test server's handlers."""

from __future__ import annotations


class BatchError(Exception):
    def __init__(self, status: int, code: str, message: str, values: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.values = status, code, message, values or {}


def refuse_ended_job(state: str) -> None:
    """Batch's answer to terminating, disabling or enabling a job that has ended or is ending."""
    if state == "terminating":
        raise BatchError(409, "JobBeingTerminated", "The specified job is being terminated.")
    if state == "completed":
        raise BatchError(409, "JobCompleted", "The specified job is already in a completed state.")
