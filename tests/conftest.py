"""Fixtures that start the local stand-ins for Azure services on free ports.

Each fixture starts its service once per test session and stops it afterwards;
no test assumes anything is already running.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.services import Azurite, CosmosServer, start_azurite, start_cosmos


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    service = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def cosmos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosServer]:
    service = start_cosmos(tmp_path_factory.mktemp("cosmos"))
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def unique_name() -> str:
    """A name no other test uses: for containers, databases and job ids."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
