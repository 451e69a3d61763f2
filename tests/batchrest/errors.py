"""An error answer in Batch's shape, raised by the test server's handlers."""

from __future__ import annotations


class BatchError(Exception):
    def __init__(self, status: int, code: str, message: str, values: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.values = status, code, message, values or {}
