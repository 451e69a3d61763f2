"""Fixtures: a Batch REST test server per test and an adapter pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.adapters.azure_batch_backend import AzureBatchBackend
from tests.batchrest.backend import make_backend
from tests.batchrest.server import BatchRestServer, running_server


@pytest.fixture
def batch_server() -> Iterator[BatchRestServer]:
    with running_server() as server:
        yield server


@pytest.fixture
def backend(batch_server: BatchRestServer) -> Iterator[AzureBatchBackend]:
    adapter = make_backend(batch_server)
    try:
        yield adapter
    finally:
        adapter.close()
