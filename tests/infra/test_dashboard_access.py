"""The dashboard's infra: storage lets the app's origin upload blocks and nothing more, and
App Service authentication is off unless asked for, and then trusted by the code."""

from __future__ import annotations

import json

from tests.infra import bicep


def _cors_rules() -> list[dict]:
    return bicep.module("storage")["resources"]["blobService"]["config"]["properties"]["cors"]["corsRules"]


def test_storage_lets_only_the_apps_origin_put_blocks():
    [rule] = _cors_rules()
    assert rule["allowedOrigins"] == "dashboardOrigins"
    assert rule["allowedMethods"] == ["PUT", "OPTIONS"]  # no GET/DELETE across origins
    assert rule["allowedHeaders"] == ["x-ms-*", "content-type"]  # no key or authorization header
    assert rule["exposedHeaders"] == []
    main = bicep.parse(bicep.MAIN)
    assert bicep.main_module_params("api")["name"] == "functionAppName"
    assert bicep.main_module_params("storage")["dashboardOrigins"] == ["https://${functionAppName}.azurewebsites.net"]
    assert main["variables"]["functionAppName"]["value"] == "func-${resourceToken}"


def test_the_local_stack_sets_the_same_rule_as_azure():
    from stack.cors import UPLOAD_HEADERS, UPLOAD_METHODS

    [rule] = _cors_rules()
    assert (rule["allowedMethods"], rule["allowedHeaders"]) == (UPLOAD_METHODS, UPLOAD_HEADERS)


def test_app_service_authentication_is_off_by_default_and_drives_the_trust_setting():
    main, app = bicep.parse(bicep.MAIN), bicep.module("functionapp")
    assert bicep.param_default(main, "appServiceAuthEnabled") is False
    assert bicep.param_default(app, "appServiceAuthEnabled") is False
    assert bicep.main_module_params("api")["appServiceAuthEnabled"] == "appServiceAuthEnabled"
    assert bicep.main_module_params("api")["appServiceAuthClientId"] == "appServiceAuthClientId"
    trust = {bicep.key(k): v for k, v in bicep.variable(app, "pipelineSettings").items()}["TRUST_APP_SERVICE_AUTH"]
    assert trust["operator"]["operands"] == {"condition": "appServiceAuthEnabled", "true_value": "true",
                                             "false_value": "false"}
    parameters = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["appServiceAuthEnabled"]["value"] == "${APP_SERVICE_AUTH_ENABLED=false}"


def test_easy_auth_uses_entra_id_and_keeps_the_keyed_callers_working():
    resource = bicep.module("functionapp")["resources"]["authSettings"]
    assert resource["type"] == "Microsoft.Web/sites/config"
    assert resource["config"]["condition"] == "appServiceAuthEnabled"
    body = resource["config"]["config"]
    assert body["name"] == "authsettingsV2"
    settings = body["properties"]
    assert settings["platform"]["enabled"] is True
    aad = settings["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True and aad["registration"]["clientId"] == "appServiceAuthClientId"
    assert aad["registration"]["openIdIssuer"].endswith("${appServiceAuthTenantId}/v2.0")
    assert "clientSecretSettingName" not in aad["registration"]  # no secret to store
    # Event Grid and renderctl authenticate with function keys: a sign-in wall would lock them out.
    assert settings["globalValidation"] == {"requireAuthentication": False,
                                            "unauthenticatedClientAction": "AllowAnonymous"}
    assert settings["httpSettings"]["requireHttps"] is True
