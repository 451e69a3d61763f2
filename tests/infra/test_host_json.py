"""host.json is what the real Functions host accepts and what the app and infra assume."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.infra import bicep


def _host() -> dict[str, Any]:
    return json.loads((bicep.REPO / "host.json").read_text())


def test_host_json_is_version_2_with_the_v4_extension_bundle() -> None:
    host = _host()
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle",
                                       "version": "[4.*, 5.0.0)"}
    assert host["extensions"]["http"]["routePrefix"] == "api"


def test_durable_task_hub_is_fixed_and_uses_the_identity_based_storage_connection() -> None:
    durable = _host()["extensions"]["durableTask"]
    # Task hub names: 3-45 letters and digits, starting with a letter; fixed so that
    # no app setting is needed (a %SETTING% would have to be in the settings lists).
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", durable["hubName"])
    assert "%" not in json.dumps(_host())
    assert durable["storageProvider"]["connectionName"] == "AzureWebJobsStorage"
    app_settings = bicep.variable(bicep.module("functionapp"), "platformSettings")
    assert "AzureWebJobsStorage__accountName" in {bicep.key(k) for k in app_settings}
    for limit in ("maxConcurrentActivityFunctions", "maxConcurrentOrchestratorFunctions"):
        assert isinstance(durable[limit], int) and durable[limit] >= 1


def test_function_timeout_fits_flex_consumption() -> None:
    hours, minutes, seconds = (int(part) for part in _host()["functionTimeout"].split(":"))
    total = hours * 3600 + minutes * 60 + seconds
    # Flex Consumption's default is 30 minutes; activities must stay well under
    # the platform's graceful-shutdown window, long work runs on Batch.
    assert 60 <= total <= 30 * 60


def test_log_levels_are_valid() -> None:
    levels = {"Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"}
    assert set(_host()["logging"]["logLevel"].values()) <= levels
