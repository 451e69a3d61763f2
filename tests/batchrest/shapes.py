"""The JSON shapes of the Batch REST API (2025-06-01) that the adapter sends.

Field names are the REST API's camelCase names (they match the `rest_field` names
of azure-batch 15.x's models). Unknown fields, missing required fields, wrong
types and values outside an enum are rejected, so a body of the wrong shape
fails the way the service would fail it: 400 with the offending property named.
"""

from __future__ import annotations

import re
from typing import Any

# A shape: field name -> (type, required). A type is a Python type, a nested
# shape (dict), a list marker ("list", item type), an enum ("enum", values) or
# "duration" (ISO 8601).
Shape = dict[str, tuple[Any, bool]]

_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")

IDENTITY: Shape = {"resourceId": (str, False)}
ENV: Shape = {"name": (str, True), "value": (str, False)}
EXIT_OPTIONS: Shape = {
    "jobAction": (("enum", {"none", "disable", "terminate"}), False),
    "dependencyAction": (("enum", {"satisfy", "block"}), False),
}
EXIT_CODE: Shape = {"code": (int, True), "exitOptions": (EXIT_OPTIONS, True)}
EXIT_RANGE: Shape = {"start": (int, True), "end": (int, True), "exitOptions": (EXIT_OPTIONS, True)}
EXIT_CONDITIONS: Shape = {
    "exitCodes": (("list", EXIT_CODE), False),
    "exitCodeRanges": (("list", EXIT_RANGE), False),
    "preProcessingError": (EXIT_OPTIONS, False),
    "fileUploadError": (EXIT_OPTIONS, False),
    "default": (EXIT_OPTIONS, False),
}
RESOURCE_FILE: Shape = {
    "autoStorageContainerName": (str, False),
    "storageContainerUrl": (str, False),
    "httpUrl": (str, False),
    "blobPrefix": (str, False),
    "filePath": (str, False),
    "fileMode": (str, False),
    "identityReference": (IDENTITY, False),
}
UPLOAD_HEADER: Shape = {"name": (str, True), "value": (str, False)}
CONTAINER_DESTINATION: Shape = {
    "path": (str, False),
    "containerUrl": (str, True),
    "identityReference": (IDENTITY, False),
    "uploadHeaders": (("list", UPLOAD_HEADER), False),
}
OUTPUT_FILE: Shape = {
    "filePattern": (str, True),
    "destination": ({"container": (CONTAINER_DESTINATION, False)}, True),
    "uploadOptions": ({"uploadCondition": (("enum", {"tasksuccess", "taskfailure", "taskcompletion"}), True)},
                      True),
}
TASK_CONSTRAINTS: Shape = {
    "maxWallClockTime": ("duration", False),
    "retentionTime": ("duration", False),
    "maxTaskRetryCount": (int, False),
}
USER_IDENTITY: Shape = {
    "username": (str, False),
    "autoUser": ({"scope": (("enum", {"task", "pool"}), False),
                  "elevationLevel": (("enum", {"nonadmin", "admin"}), False)}, False),
}
DEPENDS_ON: Shape = {
    "taskIds": (("list", str), False),
    "taskIdRanges": (("list", {"start": (int, True), "end": (int, True)}), False),
}
TASK: Shape = {
    "id": (str, True),
    "displayName": (str, False),
    "commandLine": (str, True),
    "exitConditions": (EXIT_CONDITIONS, False),
    "resourceFiles": (("list", RESOURCE_FILE), False),
    "outputFiles": (("list", OUTPUT_FILE), False),
    "environmentSettings": (("list", ENV), False),
    "constraints": (TASK_CONSTRAINTS, False),
    "requiredSlots": (int, False),
    "userIdentity": (USER_IDENTITY, False),
    "dependsOn": (DEPENDS_ON, False),
}
TASK_COLLECTION: Shape = {"value": (("list", TASK), True)}
POOL_INFO: Shape = {"poolId": (str, False)}
JOB_CONSTRAINTS: Shape = {"maxWallClockTime": ("duration", False), "maxTaskRetryCount": (int, False)}
METADATA: Shape = {"name": (str, True), "value": (str, True)}
ALL_TASKS_COMPLETE = ("enum", {"noaction", "terminatejob"})
JOB: Shape = {
    "id": (str, True),
    "displayName": (str, False),
    "usesTaskDependencies": (bool, False),
    "priority": (int, False),
    "allowTaskPreemption": (bool, False),
    "maxParallelTasks": (int, False),
    "constraints": (JOB_CONSTRAINTS, False),
    "commonEnvironmentSettings": (("list", ENV), False),
    "poolInfo": (POOL_INFO, True),
    "onAllTasksComplete": (ALL_TASKS_COMPLETE, False),
    "onTaskFailure": (("enum", {"noaction", "performexitoptionsjobaction"}), False),
    "metadata": (("list", METADATA), False),
}
JOB_UPDATE: Shape = {
    "priority": (int, False),
    "allowTaskPreemption": (bool, False),
    "maxParallelTasks": (int, False),
    "constraints": (JOB_CONSTRAINTS, False),
    "poolInfo": (POOL_INFO, False),
    "onAllTasksComplete": (ALL_TASKS_COMPLETE, False),
    "metadata": (("list", METADATA), False),
}
JOB_TERMINATE: Shape = {"terminateReason": (str, False)}
JOB_DISABLE: Shape = {"disableTasks": (("enum", {"requeue", "terminate", "wait"}), True)}
NODE_DISABLE_SCHEDULING: Shape = {
    "nodeDisableSchedulingOption": (("enum", {"requeue", "terminate", "taskcompletion"}), False),
}


class ShapeError(ValueError):
    """A body that does not have the REST shape; `path` names the property."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def check(value: Any, shape: Shape, path: str = "") -> None:
    if not isinstance(value, dict):
        raise ShapeError(path or "body", "expected an object")
    for name in value:
        if name not in shape:
            raise ShapeError(_join(path, name), "unknown property")
    for name, (kind, required) in shape.items():
        if name not in value or value[name] is None:
            if required:
                raise ShapeError(_join(path, name), "missing required property")
            continue
        _check_value(value[name], kind, _join(path, name))


def _check_value(value: Any, kind: Any, path: str) -> None:
    if isinstance(kind, dict):
        check(value, kind, path)
    elif isinstance(kind, tuple) and kind[0] == "list":
        if not isinstance(value, list):
            raise ShapeError(path, "expected an array")
        for i, item in enumerate(value):
            _check_value(item, kind[1], f"{path}[{i}]")
    elif isinstance(kind, tuple) and kind[0] == "enum":
        if value not in kind[1]:
            raise ShapeError(path, f"{value!r} is not one of {sorted(kind[1])}")
    elif kind == "duration":
        if not isinstance(value, str) or not _DURATION.match(value):
            raise ShapeError(path, f"{value!r} is not an ISO 8601 duration")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ShapeError(path, "expected an integer")
    elif not isinstance(value, kind):
        raise ShapeError(path, f"expected {kind.__name__}")


def check_resource_file(value: dict[str, Any], path: str) -> None:
    """Exactly one source; blobPrefix only with a container; httpUrl needs filePath."""
    sources = [k for k in ("autoStorageContainerName", "storageContainerUrl", "httpUrl") if value.get(k)]
    if len(sources) != 1:
        raise ShapeError(path, "exactly one of autoStorageContainerName, storageContainerUrl, httpUrl")
    if value.get("blobPrefix") is not None and sources[0] == "httpUrl":
        raise ShapeError(f"{path}.blobPrefix", "only with a container source")
    if sources[0] == "httpUrl" and not value.get("filePath"):
        raise ShapeError(f"{path}.filePath", "required with httpUrl")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
