"""Fixtures the watch tests share with other suites."""

from tests.batchrest.conftest import batch_server  # noqa: F401 (the Batch REST test server, per test)
