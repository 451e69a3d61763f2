"""The render pool: its node image, Spot nodes, and who runs what on a node."""

from __future__ import annotations

import json
from typing import Any

from tests.infra import bicep


def _pool() -> dict[str, Any]:
    return dict(bicep.module("batch")["resources"]["pool"]["config"]["properties"])


def test_nodes_default_to_ubuntu_24_04_with_its_node_agent() -> None:
    batch = bicep.module("batch")
    assert bicep.param_default(batch, "ubuntuVersion") == "24.04"
    assert bicep.main_default_for("batch", "ubuntuVersion") == "24.04"
    images = {bicep.key(k): v for k, v in bicep.variable(batch, "images").items()}
    assert images["24.04"] == {
        "imageReference": {"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
                           "version": "latest"},
        "nodeAgentSkuId": "batch.node.ubuntu 24.04",
    }
    mapping = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    assert mapping["batchUbuntuVersion"]["value"] == "${BATCH_UBUNTU_VERSION=24.04}"
    chosen = _pool()["deploymentConfiguration"]["virtualMachineConfiguration"]["operator"]
    assert chosen == {"type": "index_accessor", "operands": {"operand_1": "images", "operand_2": "ubuntuVersion"}}


def test_autoscale_drives_spot_nodes_by_default() -> None:
    batch = bicep.module("batch")
    main = bicep.parse(bicep.MAIN)
    assert main["parameters"]["batchUseSpotNodes"]["default"] is True
    assert bicep.main_module_params("batch")["useSpotNodes"] == "batchUseSpotNodes"
    choice = bicep.variable(batch, "targetNodes")["operator"]["operands"]
    assert (choice["condition"], choice["true_value"]) == ("useSpotNodes", "$TargetLowPriorityNodes")
    formula = bicep.variable(batch, "autoScaleFormula")
    assert "${targetNodes} = max(0, min(${maxNodes}, $nodes));" in str(formula)
    assert "${otherNodes} = 0;" in str(formula)


def test_only_the_start_task_is_admin_and_it_must_succeed_before_tasks_run() -> None:
    start = _pool()["startTask"]
    assert start["userIdentity"] == {"autoUser": {"scope": "Pool", "elevationLevel": "Admin"}}
    assert start["waitForSuccess"] is True
    assert start["maxTaskRetryCount"] >= 1  # apt mirrors and the Blender archive have bad minutes


def test_tasks_reach_storage_as_the_identity_attached_to_the_pool() -> None:
    """The identity the app names in identityReference (BATCH_NODE_IDENTITY_ID) must be
    one the pool's nodes carry, or every resource and output file transfer fails."""
    pool_identity = bicep.main_module_params("batch")["poolIdentityId"]
    assert bicep.main_module_params("api")["batchNodeIdentityId"] == pool_identity
    assert "poolIdentity" in str(pool_identity)
    pool = bicep.module("batch")["resources"]["pool"]["config"]
    assert pool["identity"]["type"] == "UserAssigned"
    assert [bicep.key(k) for k in pool["identity"]["userAssignedIdentities"]] == ["${poolIdentityId}"]
    app_settings = bicep.variable(bicep.module("functionapp"), "pipelineSettings")
    assert app_settings["BATCH_NODE_IDENTITY_ID"] == "batchNodeIdentityId"
