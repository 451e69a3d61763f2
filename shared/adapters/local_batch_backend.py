"""RenderBackend over localbatch's JSON API (python -m localbatch), with the stdlib's urllib.

HTTP errors become the project's errors at this edge: an unreachable server or a
5xx is transient, 404 not found, 409 conflict, 400 invalid input.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from shared.errors import ConflictError, NotFoundError, PermanentError, TransientError, ValidationError
from shared.tasks import TaskCounts, TaskSpec, TaskState

ADD_CHUNK = 100  # tasks per request, as Batch's add-collection limit


class LocalBatchBackend:
    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

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

    # Job control: localbatch gains disable/enable/priority with Batch's semantics; until
    # then the pipeline holds a paused job's new tasks itself (shared/pipeline/control.py).

    def disable_job(self, job_id: str, mode: str) -> None:
        raise PermanentError("not supported by this backend yet", code="not_supported")

    def enable_job(self, job_id: str) -> None:
        raise PermanentError("not supported by this backend yet", code="not_supported")

    def set_job_priority(self, job_id: str, priority: int) -> None:
        raise PermanentError("not supported by this backend yet", code="not_supported")

    def ping(self) -> None:
        self._call("GET", "/health")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json",
                                                  "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise _error(exc) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise TransientError(f"localbatch unreachable at {self.base_url}: {exc}") from exc
        except ValueError as exc:
            raise TransientError(f"localbatch sent a response that is not JSON: {exc}") from exc


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _error(exc: urllib.error.HTTPError) -> Exception:
    try:
        error = json.loads(exc.read()).get("error", {})
    except (ValueError, AttributeError, OSError):
        error = {}
    message = error.get("message") or f"localbatch answered {exc.code} {exc.reason}"
    if exc.code == 404:
        return NotFoundError(message)
    if exc.code == 409:
        return ConflictError(message)
    if exc.code in (400, 413, 422):
        return ValidationError(message, field=error.get("field"))
    if exc.code >= 500 or exc.code == 429:
        return TransientError(message)
    return PermanentError(message, code=error.get("code"))
