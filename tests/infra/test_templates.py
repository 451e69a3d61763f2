"""The Bicep templates parse, hang together, and document their parameters."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.infra import bicep

MODULE_FILES = sorted(bicep.MODULES.glob("*.bicep"))


@pytest.mark.parametrize("path", bicep.bicep_files(), ids=lambda p: str(p.relative_to(bicep.INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    template = bicep.parse(path)
    assert template.get("resources") or template.get("modules"), f"{path.name} declares nothing"


@pytest.mark.parametrize("path", bicep.bicep_files(), ids=lambda p: str(p.relative_to(bicep.INFRA)))
def test_every_parameter_and_output_has_a_description(path: Path) -> None:
    template = bicep.parse(path)
    for section in ("parameters", "outputs"):
        for name, entry in (template.get(section) or {}).items():
            kinds = {d.get("type") for d in entry.get("decorators", [])}
            assert "description" in kinds, f"{path.name}: {section[:-1]} {name} has no @description"


def test_main_uses_every_module_and_only_existing_ones() -> None:
    main = bicep.parse(bicep.MAIN)
    used = {bicep.module_path(symbol) for symbol in main["modules"]}
    assert all(path.exists() for path in used), "main.bicep names a module file that does not exist"
    assert used == {p.resolve() for p in MODULE_FILES}, "a module file is not used by main.bicep"


def test_main_passes_every_required_module_param() -> None:
    for symbol in bicep.parse(bicep.MAIN)["modules"]:
        declared = bicep.parse(bicep.module_path(symbol))["parameters"]
        required = {name for name, entry in declared.items() if entry["default"] is None}
        passed = set(bicep.main_module_params(symbol))
        assert required <= passed, f"module {symbol} misses params {sorted(required - passed)}"
        assert passed <= set(declared), f"module {symbol} gets unknown params {sorted(passed - set(declared))}"


def test_main_parameters_file_names_only_declared_params() -> None:
    document = json.loads((bicep.INFRA / "main.parameters.json").read_text())
    declared = bicep.parse(bicep.MAIN)["parameters"]
    assert set(document["parameters"]) <= set(declared)
    required = {name for name, entry in declared.items() if entry["default"] is None}
    assert required <= set(document["parameters"]), "a required main param has no azd mapping"


def test_event_subscriptions_are_deployed_only_when_asked() -> None:
    """The chicken-and-egg guard: no subscription before the functions exist (docs/DEPLOY.md)."""
    main = bicep.parse(bicep.MAIN)
    assert main["parameters"]["deployEventSubscriptions"]["default"] is False
    assert main["modules"]["blobSubscriptions"]["config"]["condition"] == "deployEventSubscriptions"
    mapping = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    assert mapping["deployEventSubscriptions"]["value"] == "${DEPLOY_EVENT_SUBSCRIPTIONS=false}"


def test_azure_yaml_deploys_the_app_and_wires_the_hooks() -> None:
    text = (bicep.REPO / "azure.yaml").read_text()
    for line in ("  api:", "    project: .", "    language: python", "    host: function", "  path: infra"):
        assert f"\n{line}\n" in text, f"azure.yaml lacks {line.strip()!r}"
    scripts = re.findall(r"run: \./(\S+)", text)
    assert {"infra/scripts/enable-event-subscriptions.sh", "infra/scripts/reset-event-subscriptions.sh"} <= set(scripts)
    for script in scripts:
        assert (bicep.REPO / script).is_file(), f"azure.yaml hook {script} does not exist"


def test_function_app_is_tagged_for_azd_and_runs_python_311_on_flex() -> None:
    app = bicep.module("functionapp")
    site = app["resources"]["site"]["config"]
    assert app["parameters"]["serviceName"]["default"] == "api"
    assert bicep.main_module_params("api")["serviceName"] == "api"
    assert site["kind"] == "functionapp,linux"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    plan = app["resources"]["plan"]["config"]
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}


def test_keys_and_local_auth_are_disabled_everywhere() -> None:
    storage = bicep.module("storage")["resources"]["account"]["config"]["properties"]
    assert storage["allowSharedKeyAccess"] is False
    assert storage["allowBlobPublicAccess"] is False
    assert storage["minimumTlsVersion"] == "TLS1_2"
    assert storage["supportsHttpsTrafficOnly"] is True
    cosmos = bicep.module("cosmos")["resources"]["account"]["config"]["properties"]
    assert cosmos["disableLocalAuth"] is True
    assert {"name": "EnableServerless"} in cosmos["capabilities"]
    topic = bicep.module("eventgrid-topic")["resources"]["topic"]["config"]["properties"]
    assert topic["disableLocalAuth"] is True
    assert topic["inputSchema"] == "EventGridSchema"
    batch = bicep.module("batch")["resources"]["account"]["config"]["properties"]
    assert "SharedKey" not in batch["allowedAuthenticationModes"]
    assert batch["poolAllocationMode"] == "BatchService"
    insights = bicep.module("monitoring")["resources"]["appInsights"]["config"]["properties"]
    assert insights["DisableLocalAuth"] is True


def test_cosmos_jobs_container_matches_the_code_contract() -> None:
    from shared.config import Settings

    defaults = Settings.from_env({"STORAGE_ACCOUNT_URL": "https://x", "COSMOS_ENDPOINT": "https://x",
                                  "RENDER_BACKEND": "azure_batch", "BATCH_ACCOUNT_URL": "https://x",
                                  "BATCH_POOL_ID": "p"})
    assert bicep.main_default_for("cosmos", "databaseName") == defaults.cosmos_database
    assert bicep.main_default_for("cosmos", "containerName") == defaults.cosmos_container
    jobs = bicep.module("cosmos")["resources"]["jobs"]["config"]["properties"]["resource"]
    assert jobs["partitionKey"]["paths"] == ["/id"]


def test_renders_lifecycle_rule_deletes_by_age_parameter() -> None:
    storage = bicep.module("storage")
    rules = storage["resources"]["lifecycle"]["config"]["properties"]["policy"]["rules"]
    renders = next(rule for rule in rules if rule["name"] == "delete-old-renders")
    assert renders["definition"]["filters"]["prefixMatch"] == ["${rendersContainerName}/"]
    delete = renders["definition"]["actions"]["baseBlob"]["delete"]
    assert delete == {"daysAfterModificationGreaterThan": "rendersRetentionDays"}
    assert bicep.main_module_params("storage")["rendersRetentionDays"] == "rendersRetentionDays"


def test_pool_identity_reads_scenes_and_assets_and_writes_renders_only() -> None:
    resources = bicep.module("storage")["resources"]
    reader = resources["poolReadsScenes"]["config"]
    assets_reader = resources["poolReadsAssets"]["config"]
    writer = resources["poolWritesRenders"]["config"]
    assert reader["scope"] == "scenes" and assets_reader["scope"] == "assets" and writer["scope"] == "renders"
    assert (reader["properties"]["principalId"] == assets_reader["properties"]["principalId"]
            == writer["properties"]["principalId"] == "poolPrincipalId")
    assert assets_reader["properties"]["roleDefinitionId"] == reader["properties"]["roleDefinitionId"]  # read only
    pool_roles = [r for r in resources.values()
                  if r["type"] == "Microsoft.Authorization/roleAssignments"
                  and "poolPrincipalId" in json.dumps(r["config"].get("properties", {}))]
    assert len(pool_roles) == 3, "the pool identity must get no role beyond scenes-read, assets-read, renders-write"
