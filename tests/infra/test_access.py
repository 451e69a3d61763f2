"""Access is identity-based and every role the templates grant is a known, documented one."""

from __future__ import annotations

import re

from tests.infra import bicep

# Built-in roles the templates may grant (ids are the same in every cloud), by
# the name docs/DEPLOY.md uses for them.
KNOWN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "d5a91429-5739-47e2-a06b-3470a27159e7": "EventGrid Data Sender",
    "48e5e92e-a480-4e71-aa9c-2778f4c13781": "Azure Batch Job Submitter",
    "00000000-0000-0000-0000-000000000002": "Cosmos DB Built-in Data Contributor",
}
# Broad roles that would defeat least privilege.
FORBIDDEN_ROLES = {
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "29fe4964-1e60-436b-bd3a-77fd4c178b3c": "Azure Batch Account Contributor",
}
GUID = re.compile(r"'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'")
SECRET_CALLS = re.compile(r"\b(listKeys|listConnectionStrings|listSecrets|listAccountSas|listServiceSas)\s*\(")


def _granted() -> set[str]:
    return {guid for path in bicep.bicep_files() for guid in GUID.findall(path.read_text())}


def test_every_granted_role_is_a_known_built_in_role() -> None:
    unknown = _granted() - set(KNOWN_ROLES)
    assert not unknown, f"unknown role ids (typo?): {sorted(unknown)}"
    assert not _granted() & set(FORBIDDEN_ROLES)


def test_deploy_doc_explains_every_granted_role() -> None:
    doc = (bicep.REPO / "docs" / "DEPLOY.md").read_text()
    missing = sorted(KNOWN_ROLES[guid] for guid in _granted() if KNOWN_ROLES[guid] not in doc)
    assert not missing, f"docs/DEPLOY.md does not list {missing}"


def test_templates_never_read_keys_or_connection_strings() -> None:
    for path in bicep.bicep_files():
        text = path.read_text()
        assert not SECRET_CALLS.search(text), f"{path.name} reads a key; use a managed identity"
        assert "AccountKey=" not in text and "SharedAccessSignature" not in text


def test_batch_tasks_use_the_pool_identity_the_app_is_told_about() -> None:
    params = bicep.main_module_params("api")
    pool = bicep.main_module_params("batch")
    assert params["batchNodeIdentityId"] == pool["poolIdentityId"]
    assert "poolIdentity" in str(params["batchNodeIdentityId"])
    assert bicep.main_module_params("storage")["poolPrincipalId"] != bicep.main_module_params("storage")[
        "functionPrincipalId"], "render nodes and the app must not share an identity"
