"""A localbatch process per test module (or per test, where a test restarts or crashes it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from localbatch.launcher import LocalBatchProcess, start_localbatch
from shared.adapters.local_batch_backend import LocalBatchBackend
from stack.services import Azurite

Launch = Callable[..., LocalBatchProcess]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start localbatch processes for one test; all are stopped afterwards."""
    started: list[LocalBatchProcess] = []

    def start(data_dir: Path | None = None, **kwargs: object) -> LocalBatchProcess:
        process = start_localbatch(data_dir or tmp_path / "localbatch", **kwargs)  # type: ignore[arg-type]
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def shared_localbatch(tmp_path_factory: pytest.TempPathFactory,
                      azurite: Azurite) -> Iterator[LocalBatchProcess]:
    """One localbatch with storage and 4 slots, shared by a module's tests (each uses its own job)."""
    process = start_localbatch(tmp_path_factory.mktemp("localbatch"), slots=4,
                               storage_connection_string=azurite.connection_string)
    yield process
    process.stop()


@pytest.fixture
def container(azurite: Azurite, unique_name: str) -> Iterator[str]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(unique_name)
    yield unique_name
    service.delete_container(unique_name)


@pytest.fixture
def blobs(azurite: Azurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string)


@pytest.fixture
def exchange(tmp_path: Path) -> Path:
    """A directory both a test and its tasks see, for launch()'s default data directory.

    Tasks run sandboxed and cannot see the test's tmp_path; the node's shared directory
    (AZ_BATCH_NODE_SHARED_DIR) is visible to them at the same path.
    """
    directory = tmp_path / "localbatch" / "shared" / "test"
    directory.mkdir(parents=True)
    return directory


def exchange_below(process: LocalBatchProcess, name: str) -> Path:
    """A directory of a test's own below a running localbatch's shared directory."""
    directory = process.data_dir.resolve() / "shared" / name
    directory.mkdir(parents=True)
    return directory


@pytest.fixture
def shared_exchange(shared_localbatch: LocalBatchProcess, unique_name: str) -> Path:
    """The same for shared_localbatch."""
    return exchange_below(shared_localbatch, unique_name)


@pytest.fixture
def backend(shared_localbatch: LocalBatchProcess) -> LocalBatchBackend:
    return shared_localbatch.backend()
