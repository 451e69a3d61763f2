"""The task hub's rows as the runtime reads them: an orchestration instance, an activity
work item, and the filter the instance queries (list, purge by) take."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass
class Instance:
    instance_id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    output: str | None
    custom_status: str | None
    created_ts: float
    updated_ts: float
    parent_instance_id: str | None
    parent_execution_id: str | None
    parent_task_id: int | None
    version: str | None
    shim: dict[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Instance:
        return cls(row["instance_id"], row["name"], row["execution_id"], row["status"], row["input"],
                   row["output"], row["custom_status"], row["created_ts"], row["updated_ts"],
                   row["parent_instance_id"], row["parent_execution_id"], row["parent_task_id"],
                   row["version"], json.loads(row["shim"]))


@dataclass
class WorkItem:
    id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None


@dataclass
class Query:
    created_from: float | None = None
    created_to: float | None = None
    statuses: list[str] | None = None
    prefix: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = ["1=1"]
        args: list[Any] = []
        if self.created_from is not None:
            clauses.append("created_ts >= ?")
            args.append(self.created_from)
        if self.created_to is not None:
            clauses.append("created_ts <= ?")
            args.append(self.created_to)
        if self.statuses:
            clauses.append(f"status IN ({','.join('?' * len(self.statuses))})")
            args.extend(self.statuses)
        if self.prefix:
            clauses.append("substr(instance_id, 1, ?) = ?")
            args.extend([len(self.prefix), self.prefix])
        return " AND ".join(clauses), args
