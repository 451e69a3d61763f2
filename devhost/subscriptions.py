"""Event Grid subscriptions for the blob watcher, read from a JSON file: a list of

    {"name": "scenes", "functionName": "on_scene_uploaded",
     "container": "scenes" | "containers": ["a", "b"],
     "subjectBeginsWith": "/blobServices/default/containers/scenes/blobs/",
     "subjectEndsWith": ".zip", "isSubjectCaseSensitive": false,
     "includedEventTypes": ["Microsoft.Storage.BlobCreated"],
     "advancedFilters": [{"operatorType": "StringIn", "key": "data.api", "values": ["PutBlob"]}]}

(or {"subscriptions": [...]}), with Event Grid's filter semantics.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.settings import ConfigError, read_json_file

SUBJECT_PREFIX = "/blobServices/default/containers/"
CONTAINER_NAME = re.compile(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]|\$root")


def _value(event: dict[str, Any], key: str) -> Any:
    current: Any = event
    for part in key.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _string_op(test: Callable[[str, str], bool]) -> Callable[[Any, list[Any]], bool]:
    return lambda v, values: isinstance(v, str) and any(test(v.lower(), str(x).lower()) for x in values)


def _number_op(test: Callable[[float, float], bool]) -> Callable[[Any, list[Any]], bool]:
    return lambda v, values: (n := _number(v)) is not None and test(n, float(values[0]))


# Event Grid's advanced filter operators; string comparisons ignore case, as in Event Grid.
OPERATORS: dict[str, Callable[[Any, list[Any]], bool]] = {
    "StringIn": _string_op(lambda v, x: v == x),
    "StringNotIn": lambda v, values: not _string_op(lambda a, b: a == b)(v, values),
    "StringBeginsWith": _string_op(str.startswith),
    "StringEndsWith": _string_op(str.endswith),
    "StringContains": _string_op(lambda v, x: x in v),
    "NumberIn": lambda v, values: (n := _number(v)) is not None and n in [float(x) for x in values],
    "NumberNotIn": lambda v, values: (n := _number(v)) is None or n not in [float(x) for x in values],
    "NumberGreaterThan": _number_op(lambda v, x: v > x),
    "NumberGreaterThanOrEquals": _number_op(lambda v, x: v >= x),
    "NumberLessThan": _number_op(lambda v, x: v < x),
    "NumberLessThanOrEquals": _number_op(lambda v, x: v <= x),
    "BoolEquals": lambda v, values: isinstance(v, bool) and v is bool(values[0]),
    "IsNullOrUndefined": lambda v, values: v is None,
    "IsNotNull": lambda v, values: v is not None,
}
SINGLE_VALUE = {"NumberGreaterThan", "NumberGreaterThanOrEquals", "NumberLessThan", "NumberLessThanOrEquals",
                "BoolEquals"}
NO_VALUE = {"IsNullOrUndefined", "IsNotNull"}


@dataclass(frozen=True)
class AdvancedFilter:
    operator: str
    key: str
    values: list[Any]

    def matches(self, event: dict[str, Any]) -> bool:
        return OPERATORS[self.operator](_value(event, self.key), self.values)


@dataclass
class Subscription:
    name: str
    function_name: str
    containers: list[str]
    subject_begins_with: str = ""
    subject_ends_with: str = ""
    case_sensitive: bool = False
    included_event_types: list[str] | None = None
    advanced_filters: list[AdvancedFilter] = field(default_factory=list)

    def matches_subject(self, subject: str) -> bool:
        if _container_of(subject) not in self.containers:
            return False
        begins, ends = self.subject_begins_with, self.subject_ends_with
        if not self.case_sensitive:
            subject, begins, ends = subject.lower(), begins.lower(), ends.lower()
        return subject.startswith(begins) and subject.endswith(ends)

    def matches(self, event: dict[str, Any]) -> bool:
        if not self.matches_subject(str(event.get("subject", ""))):
            return False
        if self.included_event_types is not None and event.get("eventType") not in self.included_event_types:
            return False
        return all(f.matches(event) for f in self.advanced_filters)

    def listing_prefix(self, container: str) -> str:
        """The blob-name prefix that is safe to list by: Azurite lists case-sensitively."""
        begins = self.subject_begins_with
        head = f"{SUBJECT_PREFIX}{container}/blobs/"
        if not begins.lower().startswith(head.lower()):
            return ""
        prefix = begins[len(head):]
        if self.case_sensitive or prefix.lower() == prefix.upper():
            return prefix
        return ""


def _container_of(subject: str) -> str:
    if not subject.startswith(SUBJECT_PREFIX):
        return ""
    return subject[len(SUBJECT_PREFIX):].split("/", 1)[0]


def _strings(entry: dict[str, Any], key: str, where: str) -> list[str] | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of non-empty strings")
    return list(value)


def _parse_filter(raw: Any, where: str) -> AdvancedFilter:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each advanced filter must be an object")
    operator, key = raw.get("operatorType"), raw.get("key")
    if operator not in OPERATORS:
        raise ConfigError(f"{where}: operatorType must be one of {', '.join(sorted(OPERATORS))}")
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{where}: advanced filter 'key' must be a string such as 'data.api'")
    if operator in NO_VALUE:
        return AdvancedFilter(operator, key, [])
    values = raw.get("values", [raw["value"]] if "value" in raw else None)
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}: advanced filter {operator} needs 'values' (or 'value')")
    if operator in SINGLE_VALUE and len(values) != 1:
        raise ConfigError(f"{where}: advanced filter {operator} takes one value")
    if operator.startswith("Number") and not all(_number(v) is not None for v in values):
        raise ConfigError(f"{where}: advanced filter {operator} takes numbers")
    return AdvancedFilter(operator, key, values)


def parse_subscription(entry: Any, index: int) -> Subscription:
    where = f"subscription [{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object")
    name, function_name = entry.get("name") or f"subscription{index}", entry.get("functionName")
    where = f"subscription {name!r}"
    if not isinstance(function_name, str) or not function_name:
        raise ConfigError(f"{where}: 'functionName' is required")
    containers = _strings(entry, "containers", where) or []
    if isinstance(entry.get("container"), str):
        containers.append(entry["container"])
    begins = entry.get("subjectBeginsWith") or ""
    ends = entry.get("subjectEndsWith") or ""
    if not isinstance(begins, str) or not isinstance(ends, str):
        raise ConfigError(f"{where}: subjectBeginsWith/subjectEndsWith must be strings")
    named = begins.startswith(SUBJECT_PREFIX) and "/" in begins[len(SUBJECT_PREFIX):]
    from_subject = _container_of(begins) if named else ""
    if from_subject and from_subject not in containers:
        containers.append(from_subject)
    if not containers:
        raise ConfigError(f"{where}: name the container(s) to watch with 'container', 'containers' or a "
                          f"subjectBeginsWith of the form {SUBJECT_PREFIX}<container>/blobs/...")
    for container in containers:
        if not CONTAINER_NAME.fullmatch(container):
            raise ConfigError(f"{where}: {container!r} is not a valid container name")
    filters = entry.get("advancedFilters") or []
    if not isinstance(filters, list):
        raise ConfigError(f"{where}: advancedFilters must be a list")
    return Subscription(
        name=str(name), function_name=function_name, containers=containers,
        subject_begins_with=begins, subject_ends_with=ends,
        case_sensitive=bool(entry.get("isSubjectCaseSensitive", False)),
        included_event_types=_strings(entry, "includedEventTypes", where),
        advanced_filters=[_parse_filter(f, where) for f in filters],
    )


def load_subscriptions(path: Path) -> list[Subscription]:
    document = read_json_file(path, "event grid config")
    if isinstance(document, dict):
        document = document.get("subscriptions")
    if not isinstance(document, list):
        raise ConfigError(f"event grid config {path} must be a list of subscriptions "
                          "(or an object with a 'subscriptions' list)")
    subscriptions = [parse_subscription(entry, i) for i, entry in enumerate(document)]
    names = [s.name for s in subscriptions]
    if len(set(names)) != len(names):
        raise ConfigError(f"event grid config {path}: subscription names must be unique")
    return subscriptions
