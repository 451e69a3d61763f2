"""The Azure Batch adapter keeps the RenderBackend contract, against the Batch REST test server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.adapters.azure_batch_backend import AzureBatchBackend
from tests.batchrest.backend import make_backend
from tests.batchrest.server import BatchRestServer, running_server
from tests.contract.render_backend_contract import RenderBackendContract


@pytest.fixture(scope="module")
def batch_server() -> Iterator[BatchRestServer]:
    with running_server() as server:
        yield server


class TestAzureBatchContract(RenderBackendContract):
    @pytest.fixture
    def backend(self, batch_server: BatchRestServer) -> Iterator[AzureBatchBackend]:
        adapter = make_backend(batch_server)
        try:
            yield adapter
        finally:
            adapter.close()
