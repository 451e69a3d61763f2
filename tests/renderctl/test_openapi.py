"""The OpenAPI description is valid 3.1 and names exactly the HTTP functions the app registers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.app_functions import app_functions
from triggers.openapi import SPEC_PATH

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


# The dashboard's static files (triggers/web_ui.py) are pages, not API operations: the description
# covers the API that renderctl, the dashboard and studio systems call.
NOT_API_ROUTES = {"ui/{*path}"}


def http_functions() -> dict[tuple[str, str], tuple[str, str]]:
    """(path, method) → (function name, auth level) of every HTTP-triggered API function."""
    found = {}
    for function in app_functions():
        for binding in function.get_bindings():
            if binding.type != "httpTrigger":
                continue
            data = binding.get_dict_repr()
            if data["route"] in NOT_API_ROUTES:
                continue
            level = str(data.get("authLevel", "function")).lower()
            for method in data.get("methods") or []:
                found[(f"/api/{data['route']}", str(method).lower())] = (function.get_function_name(), level)
    return found


def test_the_description_is_valid_openapi_3_1(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_every_registered_http_function_is_described_and_nothing_else(spec):
    described = {(path, method) for path, item in spec["paths"].items() for method in item if method in METHODS}
    registered = http_functions()
    assert described == set(registered), (sorted(described ^ set(registered)))
    for (path, method), (name, _) in registered.items():
        assert spec["paths"][path][method]["operationId"] == name


def test_anonymous_routes_are_exactly_those_described_without_security(spec):
    for (path, method), (_, level) in http_functions().items():
        operation = spec["paths"][path][method]
        anonymous_in_spec = operation.get("security", spec["security"]) == []
        assert anonymous_in_spec == (level == "anonymous"), f"{method.upper()} {path}"


def test_every_keyed_operation_documents_401_and_every_error_answer_has_the_error_shape(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if operation.get("security", spec["security"]):
                assert "401" in responses, f"{method} {path}"
            for status, response in responses.items():
                if status.startswith("4") and status != "401":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, f"{method} {path} {status}"


def test_the_submit_body_lists_every_key_the_api_accepts(spec):
    from shared.job_spec import MANIFEST_KEYS, REQUEST_KEYS

    schemas = spec["components"]["schemas"]
    assert set(schemas["SubmitRequest"]["properties"]) == set(REQUEST_KEYS)
    # A job from a manifest of stored assets takes the same settings, with the manifest for the bundle.
    assert set(schemas["ManifestSubmitRequest"]["properties"]) == {*MANIFEST_KEYS, "manifest"}
