"""RenderBackend over localbatch's JSON API (python -m localbatch), with the stdlib's urllib.

Every request carries the key (LOCALBATCH_KEY) in `x-localbatch-key`. HTTP errors
become the project's errors at this edge: an unreachable server or a 5xx is
transient, 404 not found, 409 conflict, 400 invalid input, 401 a wrong key (permanent).
Job control and watching take the arguments AzureBatchBackend takes, checked by the
same rules before anything is sent (shared.adapters.batch_node_files), and mean the same.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from shared.adapters.batch_node_files import check_node_id, check_reason, check_tail_bytes, check_task_file_path
from shared.errors import ConflictError, NotFoundError, PermanentError, TransientError, ValidationError
from shared.tasks import TaskCounts, TaskSpec, TaskState

ADD_CHUNK = 100  # tasks per request, as Batch's add-collection limit
DISABLE_MODES = ("requeue", "wait")  # as AzureBatchBackend: Batch's `terminate` is not offered


class LocalBatchBackend:
    def __init__(self, base_url: str, *, key: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._key = key

    def create_job(self, job_id: str, *, priority: int = 0) -> None:
        self._call("POST", "/jobs", {"id": job_id, "priority": priority})

    def add_tasks(self, job_id: str, tasks: Sequence[TaskSpec]) -> None:
        for start in range(0, len(tasks), ADD_CHUNK):
            chunk = tasks[start:start + ADD_CHUNK]
            self._call("POST", f"/jobs/{_q(job_id)}/tasks", {"tasks": [t.to_json() for t in chunk]})

    def list_tasks(self, job_id: str) -> list[TaskState]:
        body = self._call("GET", f"/jobs/{_q(job_id)}/tasks")
        return [TaskState.from_json(t) for t in body["tasks"]]

    def get_task(self, job_id: str, task_id: str) -> TaskState:
        return TaskState.from_json(self._call("GET", f"/jobs/{_q(job_id)}/tasks/{_q(task_id)}"))

    def task_counts(self, job_id: str) -> TaskCounts:
        return TaskCounts.from_json(self._call("GET", f"/jobs/{_q(job_id)}/taskcounts"))

    def terminate_job(self, job_id: str) -> None:
        self._call("POST", f"/jobs/{_q(job_id)}/terminate")

    # Job control

    def disable_job(self, job_id: str, mode: str) -> None:
        """No new task of the job starts. `requeue`: its running tasks go back to the queue
        (not counted as retries); `wait`: they run to the end. A disabled job stays so."""
        if mode not in DISABLE_MODES:
            raise ValidationError(f"mode must be one of {', '.join(DISABLE_MODES)}: {mode!r}", field="mode")
        self._call("POST", f"/jobs/{_q(job_id)}/disable", {"disableTasks": mode})

    def enable_job(self, job_id: str) -> None:
        """Tasks of a disabled job start again; an active job stays as it is."""
        self._call("POST", f"/jobs/{_q(job_id)}/enable")

    def set_job_priority(self, job_id: str, priority: int) -> None:
        if isinstance(priority, bool) or not isinstance(priority, int) or not -1000 <= priority <= 1000:
            raise ValidationError("priority must be between -1000 and 1000", field="priority")
        self._call("PATCH", f"/jobs/{_q(job_id)}", {"priority": priority})

    # Watching

    def task_node(self, job_id: str, task_id: str) -> str | None:
        """The node the task runs or last ran on; None if it has not run yet."""
        task = self._call("GET", f"/jobs/{_q(job_id)}/tasks/{_q(task_id)}")
        node = (task.get("nodeInfo") or {}).get("nodeId")
        return str(node) if node else None

    def read_task_file(self, job_id: str, task_id: str, path: str, tail_bytes: int) -> bytes:
        """The last `tail_bytes` bytes of a file in the task's directory (`stdout.txt`,
        `wd/...`). NotFoundError when the task, the file or the task's directory (not run
        yet, or cleaned up) is not there."""
        check_task_file_path(path)
        check_tail_bytes(tail_bytes)
        quoted = urllib.parse.quote(path, safe="/")
        return self._send("GET", f"/jobs/{_q(job_id)}/tasks/{_q(task_id)}/files/{quoted}?tailBytes={tail_bytes}",
                          accept="application/octet-stream")

    def disable_node_scheduling(self, node_id: str, reason: str) -> None:
        """No new task starts on the node; tasks running there finish. The reason is kept
        and shown in localbatch's /health."""
        check_node_id(node_id)
        check_reason(reason)
        self._call("POST", f"/nodes/{_q(node_id)}/disablescheduling", {"reason": reason})

    def enable_node_scheduling(self, node_id: str) -> None:
        check_node_id(node_id)
        self._call("POST", f"/nodes/{_q(node_id)}/enablescheduling")

    def ping(self) -> None:
        self._call("GET", "/health")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = self._send(method, path, json.dumps(body).encode() if body is not None else None)
        try:
            return json.loads(data or b"null")
        except ValueError as exc:
            raise TransientError(f"localbatch sent a response that is not JSON: {exc}") from exc

    def _send(self, method: str, path: str, data: bytes | None = None, *,
              accept: str = "application/json") -> bytes:
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", "Accept": accept,
                                                  "x-localbatch-key": self._key})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            raise _error(exc) from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # also a body cut short
            raise TransientError(f"localbatch unreachable at {self.base_url}: {exc}") from exc


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _error(exc: urllib.error.HTTPError) -> Exception:
    try:
        error = json.loads(exc.read()).get("error", {})
    except (ValueError, AttributeError, OSError):
        error = {}
    message = error.get("message") or f"localbatch answered {exc.code} {exc.reason}"
    if exc.code in (401, 403):
        return PermanentError(f"localbatch refused the key (LOCALBATCH_KEY): {message}", code="unauthorized")
    if exc.code == 404:
        return NotFoundError(message)
    if exc.code == 409:
        return ConflictError(message)
    if exc.code in (400, 413, 422):
        return ValidationError(message, field=error.get("field"))
    if exc.code >= 500 or exc.code == 429:
        return TransientError(message)
    return PermanentError(message, code=error.get("code"))
