"""The local stack's services check keys that are the stack's own, and the files holding
those keys are readable by their owner only."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.storage.blob import BlobServiceClient

from stack.local import StackInfo
from stack.services import AZURITE_KEY, COSMOS_KEY, azurite_connection_string

pytestmark = pytest.mark.slow


def test_files_with_keys_are_readable_by_their_owner_only(stack: StackInfo):
    data_dir = Path(stack.data_dir)
    for name in ("stack-keys.json", "local.settings.json", "stack.json", "mariadb/password", "mariadb/init.sql"):
        mode = stat.S_IMODE((data_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name}: {oct(mode)}"
    assert stat.S_IMODE((data_dir / "mariadb").stat().st_mode) == 0o700


def test_the_stack_uses_keys_of_its_own_not_the_well_known_ones(stack: StackInfo):
    assert stack.storage_key != AZURITE_KEY and stack.cosmos_key != COSMOS_KEY
    values = json.loads((Path(stack.data_dir) / "local.settings.json").read_text())["Values"]
    assert stack.storage_key in values["STORAGE_CONNECTION_STRING"]
    assert values["COSMOS_KEY"] == stack.cosmos_key


def test_azurite_refuses_the_well_known_development_key(stack: StackInfo):
    well_known = BlobServiceClient.from_connection_string(azurite_connection_string(stack.azurite_port),
                                                          retry_total=0)
    with pytest.raises((ClientAuthenticationError, HttpResponseError)) as caught:
        list(well_known.list_containers())
    assert caught.value.status_code == 403
    own = BlobServiceClient.from_connection_string(stack.storage_connection_string, retry_total=0)
    assert {"scenes", "renders"} <= {c.name for c in own.list_containers()}


def test_the_cosmos_server_refuses_the_emulator_key(stack: StackInfo):
    from azure.cosmos import CosmosClient
    from azure.cosmos.exceptions import CosmosHttpResponseError

    with pytest.raises(CosmosHttpResponseError) as caught:
        CosmosClient(stack.cosmos_endpoint, credential=COSMOS_KEY, connection_verify=False, retry_total=0)
    assert caught.value.status_code == 401


def _mariadb_login(port: int, user: str, password: str) -> subprocess.CompletedProcess[str]:
    client = shutil.which("mariadb") or shutil.which("mysql")
    assert client, "the MariaDB client comes with mariadb-server (make setup)"
    return subprocess.run([client, "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P", str(port),
                           "-u", user, f"--password={password}", "-e", "SELECT 1"],
                          capture_output=True, text=True, timeout=30)


def test_mariadb_refuses_root_and_wrong_passwords_over_tcp(stack: StackInfo):
    password = (Path(stack.data_dir) / "mariadb" / "password").read_text().strip()
    assert _mariadb_login(stack.mariadb_port, "azurite", password).returncode == 0
    for user, attempt in (("root", ""), ("root", password), ("azurite", "wrong"), ("azurite", "")):
        result = _mariadb_login(stack.mariadb_port, user, attempt)
        assert result.returncode != 0 and "Access denied" in result.stderr, (user, result.stderr)
