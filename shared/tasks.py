"""Render and stitch work as Batch tasks: what a RenderBackend is asked to run.

Plain frozen dataclasses with to_json/from_json, so they cross orchestration and
process boundaries as JSON dicts. The same shapes serve localbatch and Azure Batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    ACTIVE = "active"        # queued, waiting for a slot or for its dependencies
    RUNNING = "running"
    COMPLETED = "completed"  # finished: see result (success or failure) and exit_code


class TaskResult(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


class UploadCondition(StrEnum):
    SUCCESS = "success"        # upload only if the task exited 0
    FAILURE = "failure"        # only if it failed
    COMPLETION = "completion"  # always


@dataclass(frozen=True)
class ResourceFile:
    """Blobs downloaded into the task's working directory before it starts.

    Either one blob (`blob`) to the file `path`, or every blob under `prefix` into
    the directory `path`, each keeping its full blob name below it, as Azure Batch
    does (`prefix="j1/frames/"`, `path="in"` gives `in/j1/frames/f_0001.png`).
    """

    container: str
    path: str
    blob: str | None = None
    prefix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"container": self.container, "path": self.path, "blob": self.blob, "prefix": self.prefix}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResourceFile:
        return cls(container=data["container"], path=data["path"], blob=data.get("blob"),
                   prefix=data.get("prefix"))


@dataclass(frozen=True)
class OutputFile:
    """Files matching `pattern` (relative to the working directory, `**` allowed)
    uploaded to `container` under `prefix` (file name appended) on `condition`.
    If `prefix` ends without "/", and the pattern matches exactly one file, the
    prefix is the full blob name (as Batch does for a single-file pattern)."""

    pattern: str
    container: str
    prefix: str
    condition: UploadCondition = UploadCondition.COMPLETION

    def to_json(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "container": self.container, "prefix": self.prefix,
                "condition": self.condition.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutputFile:
        return cls(pattern=data["pattern"], container=data["container"], prefix=data["prefix"],
                   condition=UploadCondition(data.get("condition", "completion")))


@dataclass(frozen=True)
class TaskSpec:
    """One Batch task. `argv[0]` is a program name (`blender`, `ffmpeg`, `python3`),
    resolved on the node; argv is never a shell string."""

    id: str
    argv: tuple[str, ...]
    resource_files: tuple[ResourceFile, ...] = ()
    output_files: tuple[OutputFile, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    max_retries: int = 0
    max_wall_clock_seconds: int | None = None
    depends_on: tuple[str, ...] = ()
    depends_on_ranges: tuple[tuple[int, int], ...] = ()  # inclusive integer task-id ranges

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "argv": list(self.argv),
            "resourceFiles": [r.to_json() for r in self.resource_files],
            "outputFiles": [o.to_json() for o in self.output_files],
            "environment": dict(self.environment),
            "maxRetries": self.max_retries,
            "maxWallClockSeconds": self.max_wall_clock_seconds,
            "dependsOn": list(self.depends_on),
            "dependsOnRanges": [list(r) for r in self.depends_on_ranges],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskSpec:
        return cls(
            id=data["id"],
            argv=tuple(data["argv"]),
            resource_files=tuple(ResourceFile.from_json(r) for r in data.get("resourceFiles", [])),
            output_files=tuple(OutputFile.from_json(o) for o in data.get("outputFiles", [])),
            environment=dict(data.get("environment") or {}),
            max_retries=int(data.get("maxRetries", 0)),
            max_wall_clock_seconds=data.get("maxWallClockSeconds"),
            depends_on=tuple(data.get("dependsOn", [])),
            depends_on_ranges=tuple((int(a), int(b)) for a, b in data.get("dependsOnRanges", [])),
        )


@dataclass(frozen=True)
class TaskState:
    """What the backend knows of one task."""

    id: str
    status: TaskStatus
    result: TaskResult | None = None
    exit_code: int | None = None
    retry_count: int = 0
    start_time: str | None = None  # ISO 8601, UTC
    end_time: str | None = None
    failure: str | None = None     # why it failed, when the backend knows (timeout, missing resource…)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status.value,
            "result": self.result.value if self.result else None,
            "exitCode": self.exit_code, "retryCount": self.retry_count,
            "startTime": self.start_time, "endTime": self.end_time, "failure": self.failure,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskState:
        return cls(
            id=data["id"], status=TaskStatus(data["status"]),
            result=TaskResult(data["result"]) if data.get("result") else None,
            exit_code=data.get("exitCode"), retry_count=int(data.get("retryCount", 0)),
            start_time=data.get("startTime"), end_time=data.get("endTime"), failure=data.get("failure"),
        )


@dataclass(frozen=True)
class TaskCounts:
    active: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0

    @property
    def completed(self) -> int:
        return self.succeeded + self.failed

    def to_json(self) -> dict[str, int]:
        return {"active": self.active, "running": self.running,
                "succeeded": self.succeeded, "failed": self.failed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskCounts:
        return cls(**{k: int(data.get(k, 0)) for k in ("active", "running", "succeeded", "failed")})
