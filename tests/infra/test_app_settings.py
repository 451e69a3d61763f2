"""Infra sets exactly the app settings the code reads in Azure (shared/config.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra import bicep

# The one list of Settings keys that infra must NOT set, and why: in Azure every
# service is reached with the Function app's managed identity, and Batch replaces
# the local render pool.
LOCAL_ONLY = {
    "STORAGE_CONNECTION_STRING": "Azurite's connection string; Azure uses STORAGE_ACCOUNT_URL + identity",
    "COSMOS_KEY": "the local Cosmos server's key; the Azure account has local auth disabled",
    "LOCALBATCH_URL": "the local Batch stand-in; Azure uses BATCH_ACCOUNT_URL",
    "LOCALBATCH_KEY": "the local Batch stand-in's API key; Azure Batch is reached with the app identity",
    "EVENTGRID_TOPIC_KEY": "a topic access key; the Azure topic has local auth disabled",
}

# Settings infra sets for the Functions host and the Azure SDKs, not for
# shared/config.py. Exact names, so nothing slips in unnoticed.
PLATFORM = {
    "AzureWebJobsStorage__accountName": "host storage and Durable task hub, identity-based",
    "AzureWebJobsStorage__credential": "use a managed identity for AzureWebJobsStorage",
    "AzureWebJobsStorage__clientId": "which user-assigned identity AzureWebJobsStorage uses",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "where telemetry goes",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "telemetry with Entra auth (local auth is off)",
    "AZURE_CLIENT_ID": "DefaultAzureCredential picks the app's user-assigned identity",
}

# Flex Consumption rejects or ignores these (runtime and deployment live in
# functionAppConfig), and a connection-string AzureWebJobsStorage needs shared keys.
FORBIDDEN_ON_FLEX = {
    "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE", "AzureWebJobsStorage",
}

SETTING_VARIABLES = ("platformSettings", "pipelineSettings", "tuningDefaults")


def _env_keys() -> tuple[str, ...]:
    from shared.config import Settings

    return Settings.env_keys()


def _settings(name: str) -> dict[str, Any]:
    value = bicep.variable(bicep.module("functionapp"), name)
    return {bicep.key(k): v for k, v in value.items()}


def _all_settings() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in SETTING_VARIABLES:
        overlap = set(merged) & set(_settings(name))
        assert not overlap, f"{sorted(overlap)} set twice"
        merged.update(_settings(name))
    return merged


def test_app_settings_are_exactly_the_union_of_the_checked_lists() -> None:
    union = bicep.variable(bicep.module("functionapp"), "appSettings")
    arguments = list(union["function"]["parameters"].values())
    assert union["function"]["type"] == "union"
    assert arguments == [*SETTING_VARIABLES, "pipelineTuning"], "appSettings must merge only the checked lists"


def test_every_code_setting_is_set_by_infra_or_listed_as_local_only() -> None:
    infra = set(_settings("pipelineSettings")) | set(_settings("tuningDefaults"))
    missing = set(_env_keys()) - infra - set(LOCAL_ONLY)
    assert not missing, f"set these in infra/modules/functionapp.bicep or add them to LOCAL_ONLY: {sorted(missing)}"


def test_local_only_settings_are_not_set_by_infra_and_still_exist() -> None:
    assert not set(LOCAL_ONLY) & set(_all_settings())
    assert set(LOCAL_ONLY) <= set(_env_keys()), "LOCAL_ONLY names a key the code no longer reads"


def test_infra_sets_nothing_the_code_or_platform_does_not_read() -> None:
    unread = set(_all_settings()) - set(_env_keys()) - set(PLATFORM)
    assert not unread, f"infra sets settings nobody reads: {sorted(unread)}"
    assert set(_settings("platformSettings")) == set(PLATFORM)


def test_no_setting_that_flex_consumption_rejects() -> None:
    assert not set(_all_settings()) & FORBIDDEN_ON_FLEX


def test_identity_based_connections_name_the_app_identity() -> None:
    platform = _settings("platformSettings")
    assert platform["AzureWebJobsStorage__credential"] == "managedidentity"
    assert platform["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert platform["AZURE_CLIENT_ID"] == "identityClientId"
    assert platform["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"


def test_infra_values_pass_the_code_validation_and_match_its_defaults() -> None:
    """What infra sets must be accepted by Settings.from_env, with Azure-shaped values for references."""
    from shared.config import Settings

    app = bicep.module("functionapp")
    params = set(app["parameters"])
    env: dict[str, str] = {}
    other_side: dict[str, str] = {}
    for key, value in {**_settings("pipelineSettings"), **_settings("tuningDefaults")}.items():
        if isinstance(value, dict) and value.get("operator", {}).get("type") == "conditional":
            # `param ? a : b`: both must be valid; the default (the false side) is what is checked below.
            choice = value["operator"]["operands"]
            assert choice["condition"] in params, key
            other_side[key] = choice["true_value"]
            value = choice["false_value"]
        if isinstance(value, str) and value in params:  # a reference to a module param
            env[key] = "https://example.invalid/" if key.endswith(("_URL", "_ENDPOINT")) else f"ref-{value}"
        else:
            env[key] = value
    for key, module_param in (("SCENES_CONTAINER", "scenesContainerName"),
                              ("RENDERS_CONTAINER", "rendersContainerName"),
                              ("COSMOS_DATABASE", "cosmosDatabaseName"),
                              ("COSMOS_CONTAINER", "cosmosContainerName")):
        assert _settings("pipelineSettings")[key] == module_param
        env[key] = bicep.main_default_for("api", module_param)
    settings = Settings.from_env(env)
    Settings.from_env({**env, **other_side})
    assert settings.render_backend == "azure_batch"
    assert settings.cosmos_verify_tls is True
    assert not settings.storage_connection_string and not settings.cosmos_key
    code_defaults = Settings.from_env({"STORAGE_ACCOUNT_URL": "https://x", "COSMOS_ENDPOINT": "https://x",
                                       "LOCALBATCH_URL": "http://x"})
    for key in ("SCENES_CONTAINER", "RENDERS_CONTAINER", "COSMOS_DATABASE", "COSMOS_CONTAINER",
                *_settings("tuningDefaults")):
        field = key.lower()
        assert getattr(settings, field) == getattr(code_defaults, field), f"{key}: infra default differs from code"


def test_local_settings_example_lists_every_code_setting() -> None:
    path = bicep.REPO / "local.settings.example.json"
    if not path.exists():
        pytest.fail("local.settings.example.json is missing (the lead writes it)")
    values = json.loads(path.read_text()).get("Values", {})
    missing = set(_env_keys()) - set(values)
    assert not missing, f"local.settings.example.json lacks {sorted(missing)}"
