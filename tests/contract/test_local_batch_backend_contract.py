"""LocalBatchBackend against a real localbatch process keeps the RenderBackend contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from localbatch.launcher import LocalBatchProcess, start_localbatch
from shared.adapters.local_batch_backend import LocalBatchBackend
from tests.contract.render_backend_contract import RenderBackendContract


@pytest.fixture(scope="module")
def localbatch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBatchProcess]:
    process = start_localbatch(Path(tmp_path_factory.mktemp("localbatch")), slots=4, poll_interval=0.1)
    yield process
    process.stop()


class TestLocalBatchBackendContract(RenderBackendContract):
    @pytest.fixture
    def backend(self, localbatch: LocalBatchProcess) -> LocalBatchBackend:
        return localbatch.backend()
