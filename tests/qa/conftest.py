"""The local stack for the QA tests that go through the real HTTP host and Event Grid."""

from __future__ import annotations

from tests.e2e.conftest import stack

__all__ = ["stack"]
