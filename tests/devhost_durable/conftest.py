"""Fixtures for the durable runtime tests: the test app's functions and a runner for
async scenarios (no pytest-asyncio in this project)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from tests.devhost_durable.apps import core_app

# The SDK indexes an app once (a second get_functions() call reports duplicates).
CORE_FUNCTIONS = list(core_app.app.get_functions())


@pytest.fixture
def functions() -> list[Any]:
    core_app.ATTEMPTS.clear()
    core_app.CONCURRENCY.update(now=0, max=0)
    return CORE_FUNCTIONS


@pytest.fixture
def run() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run(asyncio.wait_for(coro, 60))

    return runner
