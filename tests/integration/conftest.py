"""Settings for the tests that talk to the local Cosmos server (the `cosmos` fixture of tests/conftest.py):
a database of the test's own, the server's self-signed certificate accepted."""

from __future__ import annotations

import pytest

from shared.config import Settings


@pytest.fixture
def settings(cosmos, unique_name) -> Settings:
    return Settings.from_env({
        "STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true", "LOCALBATCH_URL": "http://127.0.0.1:1",
        "COSMOS_ENDPOINT": cosmos.endpoint, "COSMOS_KEY": cosmos.key, "COSMOS_VERIFY_TLS": "false",
        "COSMOS_DATABASE": unique_name,
    })
