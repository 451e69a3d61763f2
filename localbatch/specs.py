"""Validation of what the API receives: ids, priorities, task specs, and job and node control.

Every field is checked before anything is stored, with a message that names
the field, so a malformed request is a 400 and never a half-added task.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from shared.errors import ValidationError
from shared.tasks import OutputFile, ResourceFile, TaskSpec, UploadCondition

# Batch's rule for job and task ids; it also keeps them safe as directory names.
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Azure's rule for container names.
CONTAINER_RE = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Batch's node ids (`tvmps_<64 hex>_d`) are longer than job and task ids may be.
NODE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# Batch's `disableTasks` modes; `terminate` would end running tasks as failed, which no caller wants.
DISABLE_MODES = ("requeue", "wait")
MAX_TAIL_BYTES = 16 * 1024 * 1024  # the most of a task file one read returns
MAX_FILE_PATH = 1024

MAX_TASKS_PER_CALL = 1000
MAX_RETRIES = 100
MAX_ARGV = 1000
MAX_RANGE_SPAN = 100_000  # a dependency range names at most this many task ids
TASK_KEYS = {"id", "argv", "resourceFiles", "outputFiles", "environment", "maxRetries",
             "maxWallClockSeconds", "dependsOn", "dependsOnRanges"}


def check_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise ValidationError(f"{field} must be 1-64 letters, digits, '-' or '_'", field=field)
    return value


def check_priority(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not -1000 <= value <= 1000:
        raise ValidationError("priority must be an integer from -1000 to 1000", field="priority")
    return value


def check_node_id(value: Any) -> str:
    if not isinstance(value, str) or not NODE_ID_RE.match(value):
        raise ValidationError("nodeId must be 1-128 letters, digits, '-' or '_'", field="nodeId")
    return value


def check_reason(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 500 or not value.isprintable():
        raise ValidationError("reason must be 1-500 printable characters", field="reason")
    return value


def check_disable_mode(value: Any) -> str:
    if value not in DISABLE_MODES:
        raise ValidationError(f"disableTasks must be one of {', '.join(DISABLE_MODES)}", field="disableTasks")
    return str(value)


def check_tail_bytes(value: str | None) -> int:
    """The `tailBytes` query parameter: 1..16 MiB, the most when not given."""
    if value is None:
        return MAX_TAIL_BYTES
    if not value.isdigit() or not 1 <= int(value) <= MAX_TAIL_BYTES:
        raise ValidationError(f"tailBytes must be an integer from 1 to {MAX_TAIL_BYTES}", field="tailBytes")
    return int(value)


def check_task_file_path(value: str) -> tuple[str, ...]:
    """A path below the task directory, as names to open one by one: never absolute, no `..`,
    `.` or empty names, no NUL (the file is opened name by name, see taskfiles.py)."""
    parts = tuple(value.split("/"))
    if (not value or len(value) > MAX_FILE_PATH or "\x00" in value or "\\" in value
            or any(p in ("", ".", "..") for p in parts)):
        raise ValidationError(f"path must be relative to the task directory, without '..': {value!r}",
                              field="path")
    return parts


def check_relative_path(value: Any, field: str, *, allow_glob: bool = False, allow_task_dir: bool = False) -> str:
    """A path inside the working directory: relative, no '..', no NUL. With allow_task_dir, one
    leading '../' reaches the task directory (where Batch keeps stdout.txt and stderr.txt)."""
    if not isinstance(value, str) or not value.strip() or "\x00" in value or "\\" in value:
        raise ValidationError(f"{field} must be a non-empty relative path", field=field)
    path = PurePosixPath(value)
    parts = path.parts[1:] if allow_task_dir and path.parts[:1] == ("..",) else path.parts
    if path.is_absolute() or ".." in parts or not parts:
        raise ValidationError(f"{field} must stay inside the working directory: {value!r}", field=field)
    if not allow_glob and any(c in value for c in "*?["):
        raise ValidationError(f"{field} must not contain wildcards: {value!r}", field=field)
    return value


def _container(value: Any, field: str) -> str:
    if not isinstance(value, str) or not CONTAINER_RE.match(value):
        raise ValidationError(f"{field} is not a valid container name: {value!r}", field=field)
    return value


def _blob_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 1024 or "\x00" in value:
        raise ValidationError(f"{field} must be a blob name of 1-1024 characters", field=field)
    return value


def _resource(data: Any, field: str) -> ResourceFile:
    if not isinstance(data, dict):
        raise ValidationError(f"{field} must be an object", field=field)
    blob, prefix = data.get("blob"), data.get("prefix")
    if (blob is None) == (prefix is None):
        raise ValidationError(f"{field} needs exactly one of 'blob' or 'prefix'", field=field)
    return ResourceFile(
        container=_container(data.get("container"), f"{field}.container"),
        path=check_relative_path(data.get("path"), f"{field}.path"),
        blob=_blob_name(blob, f"{field}.blob") if blob is not None else None,
        prefix=_blob_name(prefix, f"{field}.prefix") if prefix is not None else None,
    )


def _output(data: Any, field: str) -> OutputFile:
    if not isinstance(data, dict):
        raise ValidationError(f"{field} must be an object", field=field)
    prefix = data.get("prefix")
    if not isinstance(prefix, str) or len(prefix) > 1024 or "\x00" in prefix:
        raise ValidationError(f"{field}.prefix must be a string", field=f"{field}.prefix")
    condition = data.get("condition", "completion")
    if condition not in {c.value for c in UploadCondition}:
        raise ValidationError(f"{field}.condition must be success, failure or completion",
                              field=f"{field}.condition")
    return OutputFile(pattern=check_relative_path(data.get("pattern"), f"{field}.pattern", allow_glob=True,
                                                  allow_task_dir=True),
                      container=_container(data.get("container"), f"{field}.container"),
                      prefix=prefix, condition=UploadCondition(condition))


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise ValidationError(f"{key} must be a list", field=key)
    return value


def _environment(value: Any) -> dict[str, str]:
    env = value or {}
    if not isinstance(env, dict):
        raise ValidationError("environment must be an object of strings", field="environment")
    for name, val in env.items():
        if not ENV_NAME_RE.match(name) or not isinstance(val, str) or "\x00" in val:
            raise ValidationError(f"environment variable {name!r} must have a valid name and a string value",
                                  field="environment")
    return dict(env)


def _optional_int(data: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationError(f"{key} must be an integer from {low} to {high}", field=key)
    return value


def _ranges(data: dict[str, Any]) -> tuple[tuple[int, int], ...]:
    ranges = []
    for item in _list(data, "dependsOnRanges"):
        if (not isinstance(item, list) or len(item) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in item)
                or not item[0] <= item[1] < item[0] + MAX_RANGE_SPAN):
            raise ValidationError("dependsOnRanges items must be [start, end] with 0 <= start <= end "
                                  f"and at most {MAX_RANGE_SPAN} ids",
                                  field="dependsOnRanges")
        ranges.append((item[0], item[1]))
    return tuple(ranges)


def parse_task(data: Any) -> TaskSpec:
    """A TaskSpec from its JSON form, or ValidationError naming the bad field."""
    if not isinstance(data, dict):
        raise ValidationError("a task must be an object")
    unknown = sorted(set(data) - TASK_KEYS)
    if unknown:
        raise ValidationError(f"unknown task fields: {', '.join(unknown)}", field=unknown[0])
    task_id = check_id(data.get("id"), "id")
    argv = data.get("argv")
    if (not isinstance(argv, list) or not argv or len(argv) > MAX_ARGV
            or not all(isinstance(a, str) and "\x00" not in a for a in argv) or not argv[0]):
        raise ValidationError(f"task {task_id}: argv must be a non-empty list of strings", field="argv")
    depends_on = tuple(check_id(d, "dependsOn") for d in _list(data, "dependsOn"))
    if task_id in depends_on:
        raise ValidationError(f"task {task_id} cannot depend on itself", field="dependsOn")
    return TaskSpec(
        id=task_id,
        argv=tuple(argv),
        resource_files=tuple(_resource(r, f"resourceFiles[{i}]")
                             for i, r in enumerate(_list(data, "resourceFiles"))),
        output_files=tuple(_output(o, f"outputFiles[{i}]") for i, o in enumerate(_list(data, "outputFiles"))),
        environment=_environment(data.get("environment")),
        max_retries=_optional_int(data, "maxRetries", 0, MAX_RETRIES) or 0,
        max_wall_clock_seconds=_optional_int(data, "maxWallClockSeconds", 1, 7 * 24 * 3600),
        depends_on=depends_on,
        depends_on_ranges=_ranges(data),
    )


def parse_tasks(body: Any) -> list[TaskSpec]:
    if not isinstance(body, dict) or not isinstance(body.get("tasks"), list):
        raise ValidationError("body must be {\"tasks\": [...]}", field="tasks")
    tasks = body["tasks"]
    if not 0 < len(tasks) <= MAX_TASKS_PER_CALL:
        raise ValidationError(f"tasks must hold 1 to {MAX_TASKS_PER_CALL} tasks", field="tasks")
    specs = [parse_task(t) for t in tasks]
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise ValidationError("task ids must be unique within one call", field="tasks")
    return specs
