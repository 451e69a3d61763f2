"""Generated requests against a running local stack find no 5xx and no answer that breaks
the OpenAPI description. Loopback only; bounded in examples per route and in time."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote, urlsplit

import jsonschema
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triggers.openapi import SPEC_PATH

pytestmark = pytest.mark.slow

SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
EXAMPLES = 25          # per operation
BUDGET_SECONDS = 240   # for the whole module; examples past it are skipped
_started = time.monotonic()


def inline(node: Any) -> Any:
    """The schema with every local $ref replaced by what it names (the description has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = SPEC
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return inline(target)
        return {k: inline(v) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(v) for v in node]
    return node


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                  max_size=4), max_leaves=12)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of the JSON Schema subset the description uses (inlined: no $ref)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema:
        return st.one_of([from_schema(s) for s in schema["oneOf"]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum", schema.get("exclusiveMinimum")), schema.get("maximum"),
                         exclude_min="exclusiveMinimum" in schema, allow_nan=False)
    if kind == "string":
        if "pattern" in schema:  # JSON Schema patterns search; anchors in them say where
            pattern = schema["pattern"]
            pattern = pattern[1:] if pattern.startswith("^") else ".*" + pattern
            pattern = pattern[:-1] if pattern.endswith("$") else pattern + ".*"
            return st.from_regex(pattern, fullmatch=True).filter(lambda v: len(v) <= 300)
        return st.text(max_size=min(schema.get("maxLength", 40), 40))
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), min_size=schema.get("minItems", 0),
                        max_size=schema.get("maxItems", 4))
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries({k: from_schema(v) for k, v in properties.items() if k in required},
                                     optional={k: from_schema(v) for k, v in properties.items()
                                               if k not in required})
    return JSON


HEADER_TEXT = st.from_regex(r"[!-~]{1,12}", fullmatch=True)  # what an HTTP header value can carry
OPERATIONS = [(path, method, op) for path, item in SPEC["paths"].items() for method, op in item.items()]


def request_strategy(path: str, op: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for param in op.get("parameters", []):
        schema = inline(param["schema"])
        values = from_schema(schema)
        if param["in"] != "path":  # anything at all, as a client may send: the API must answer 4xx, not 5xx
            values = values | (HEADER_TEXT if param["in"] == "header" else st.text(max_size=12))
            values = st.none() | values  # and sometimes nothing
        parts[f"{param['in']}:{param['name']}"] = values
    if "requestBody" in op:
        schema = inline(op["requestBody"]["content"]["application/json"]["schema"])
        parts["body"] = from_schema(schema) | JSON
    return st.fixed_dictionaries(parts)


def send(base: str, key: str, path: str, method: str, parts: dict[str, Any]) -> requests.Response:
    url_path = path
    params, headers = {}, {"x-functions-key": key}
    for name, value in parts.items():
        where, _, field = name.partition(":")
        if where == "path":
            url_path = url_path.replace("{" + field + "}", quote(str(value), safe=""))
        elif value is not None and where == "query":
            params[field] = str(value)
        elif value is not None and where == "header":
            headers[field] = str(value)
    kwargs: dict[str, Any] = {"params": params, "headers": headers, "timeout": 30}
    if "body" in parts:
        kwargs["data"] = json.dumps(parts["body"])
        headers["content-type"] = "application/json"
    return requests.request(method.upper(), base + url_path, **kwargs)


def check_answer(op: dict[str, Any], response: requests.Response) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    documented = op["responses"].get(str(response.status_code))
    assert documented is not None, f"undocumented {response.status_code}: {response.text[:300]}"
    content = documented.get("content", {}).get("application/json")
    if content is not None:
        jsonschema.validate(response.json(), inline(content["schema"]),
                            cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(("path", "method", "op"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m, _ in OPERATIONS])
def test_generated_requests_get_documented_answers(stack, path, method, op):
    base = stack.devhost_url
    assert urlsplit(base).hostname == "127.0.0.1"  # loopback only

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(parts=request_strategy(path, op))
    def probe(parts: dict[str, Any]) -> None:
        if time.monotonic() - _started > BUDGET_SECONDS:
            return
        check_answer(op, send(base, stack.function_key, path, method, parts))

    probe()


def test_the_description_is_served_without_a_key_and_matches_the_file(stack):
    response = requests.get(f"{stack.api_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.json() == SPEC


def test_keyed_routes_refuse_a_request_without_a_key(stack):
    for path, method, op in OPERATIONS:
        if op.get("security", SPEC["security"]) == []:
            continue
        url = stack.devhost_url + path.replace("{jobId}", "job-x")
        assert requests.request(method.upper(), url, data=b"{}", timeout=10).status_code == 401, (method, path)


def test_a_continuation_token_with_a_control_character_is_bad_input_not_an_outage(stack):
    # Found by the generated requests: the token goes into a Cosmos header, where "\r" failed as a 503.
    response = requests.get(f"{stack.api_url}/jobs", params={"continuationToken": "\r"},
                            headers={"x-functions-key": stack.function_key}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "continuationToken"
