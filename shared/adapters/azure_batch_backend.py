"""RenderBackend on Azure Batch (azure-batch 15.x, `azure.batch.BatchClient`).

Jobs are created with task dependencies on and `onAllTasksComplete=noaction`, so a
job never completes while the orchestration is still adding tasks (or re-adding
failed chunks); `complete_when_tasks_done` switches it to `terminatejob` once the
last task is in. Tasks go in parallel `addtaskcollection` requests of at most 100
tasks and under 1 MB each; a request the service still finds too large is halved.

Batch on Linux does not run a task's command line in a shell: it splits the line
into words itself. argv is therefore quoted for a POSIX shell and handed to
`/bin/bash -c`, so bash, not Batch's splitter, decides the words (see
`command_line`). SDK errors become shared.errors at this edge (`calling_batch`).

Tasks are sent and listed as the REST API's JSON rather than as SDK models,
through the client's own operations and pipeline: building or reading 10,000
models costs the SDK seconds of CPU (see `_task_body`, `_task_pages`).
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast
from urllib.parse import quote

from azure.batch import BatchClient
from azure.batch import models as bm
from azure.batch.models._models import BatchJobTerminateOptions  # not re-exported by the package
from azure.core.credentials import AzureNamedKeyCredential, TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.rest import HttpRequest

from shared.errors import (
    ConflictError,
    NotFoundError,
    PermanentError,
    PipelineError,
    TransientError,
    ValidationError,
)
from shared.tasks import (
    OutputFile,
    ResourceFile,
    TaskCounts,
    TaskResult,
    TaskSpec,
    TaskState,
    TaskStatus,
    UploadCondition,
)

log = logging.getLogger(__name__)

API_VERSION = "2025-06-01"  # azure-batch 15.1's default; the client's own setting wins
MAX_TASKS_PER_REQUEST = 100
# The service rejects collections of 1 MB or more; stay well under it so the
# RequestBodyTooLarge round trip is the exception, not the rule.
MAX_REQUEST_BYTES = 900_000
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_UPLOAD_CONDITION = {
    UploadCondition.SUCCESS: "tasksuccess",
    UploadCondition.FAILURE: "taskfailure",
    UploadCondition.COMPLETION: "taskcompletion",
}
_STATUS = {
    "active": TaskStatus.ACTIVE,
    "preparing": TaskStatus.RUNNING,  # on a node, downloading resource files
    "running": TaskStatus.RUNNING,
    "completed": TaskStatus.COMPLETED,
}
_TASK_FIELDS = ["id", "state", "executionInfo", "dependsOn"]

TaskBody = dict[str, Any]  # one task of an addtaskcollection body, in the REST API's JSON
SasForContainer = Callable[[str], str]           # container -> SAS query string (no "?")
ListBlobs = Callable[[str, str], Iterable[str]]  # (container, prefix) -> blob names


def command_line(argv: Sequence[str]) -> str:
    """`/bin/bash -c '<argv quoted for a POSIX shell>'`: the one place argv becomes text.

    `shlex.join` quotes each word so bash sees exactly argv (spaces, quotes, `$`,
    `;`, globs stay literal); `shlex.quote` makes that script a single word of the
    outer line, which is all Batch's own splitting has to get right.
    """
    return "/bin/bash -c " + shlex.quote(shlex.join(argv))


def translate(exc: Exception, operation: str) -> PipelineError:
    """An SDK or transport exception as the project's own error."""
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        status, code = exc.status_code, error_code(exc)
        message = f"Batch {operation} failed: {status} {code or ''} {_message(exc)}".strip()
        details = {"status": status, "code": code, "operation": operation}
        if status == 404:
            return NotFoundError(message, details=details)
        if status in _TRANSIENT_STATUS or status >= 500:
            return TransientError(message, details=details)
        if status in (400, 413):
            return ValidationError(message, details=details)
        if status == 409:
            return ConflictError(message, details=details)
        if status in (401, 403):
            return PermanentError(message, code="unauthorized", details=details)
        return PermanentError(message, details=details)
    if isinstance(exc, ServiceRequestError | ServiceResponseError):  # connection lost, timeouts
        return TransientError(f"Batch {operation}: {exc}", details={"operation": operation})
    if isinstance(exc, ClientAuthenticationError):
        return PermanentError(f"Batch {operation}: authentication failed: {exc}", code="unauthorized")
    return PermanentError(f"Batch {operation}: {exc}", details={"operation": operation})


@contextmanager
def calling_batch(operation: str, *, done_if: tuple[str, ...] = ()) -> Iterator[None]:
    """Translate what the SDK raises; a 409 whose code is in `done_if` means the
    call's purpose is already achieved (JobExists for create, JobCompleted for
    terminate), so it ends quietly."""
    try:
        yield
    except HttpResponseError as exc:
        if exc.status_code == 409 and error_code(exc) in done_if:
            return
        raise translate(exc, operation) from exc
    except AzureError as exc:
        raise translate(exc, operation) from exc


def error_code(exc: HttpResponseError) -> str | None:
    """The Batch error code (`JobExists`, `TaskExists`…) of a failed response."""
    for source in (getattr(exc, "error", None), getattr(exc, "model", None)):
        code = getattr(source, "code", None)
        if code:
            return str(code)
    return None


def _message(exc: HttpResponseError) -> str:
    model = getattr(exc, "model", None)
    value = getattr(getattr(model, "message", None), "value", None)
    return str(value).splitlines()[0] if value else exc.reason or ""


def _text(value: object) -> str:
    """An SDK enum member (or the plain string of a value it does not know) as its wire value."""
    return str(value.value) if isinstance(value, Enum) else str(value)


def _iso(value: Any) -> str | None:
    """Batch's timestamp (ISO 8601, up to 7 fractional digits) as fixed-width UTC ISO 8601,
    so the strings also sort as times."""
    if not value:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class AzureBatchBackend:
    """RenderBackend on one Batch pool; resource and output files live in one storage account."""

    def __init__(
        self,
        account_url: str,
        pool_id: str,
        credential: TokenCredential | AzureNamedKeyCredential,
        *,
        storage_blob_url: str,
        identity_resource_id: str | None = None,
        sas_for_container: SasForContainer | None = None,
        list_blobs: ListBlobs | None = None,
        max_concurrency: int = 8,
        pool_scope_user: bool = True,
        terminate_poll_seconds: int = 5,
        **client_kwargs: Any,
    ) -> None:
        """`identity_resource_id`: the pool's user-assigned managed identity, used by the
        nodes to read resource files and write output files (`identityReference`).
        `sas_for_container` is the alternative: a SAS appended to container URLs.
        `list_blobs`, when given, expands prefix resource files into one file per blob
        so files land under `path` without the prefix (see `_resource_files`).
        `client_kwargs` go to BatchClient (e.g. `retry_total`, `connection_timeout`)."""
        if not pool_id:
            raise ValidationError("a Batch pool id is required", field="pool_id")
        if identity_resource_id and sas_for_container:
            raise ValidationError("use a managed identity or a SAS provider, not both")
        self._client = BatchClient(account_url, credential, **client_kwargs)
        self._pool_id = pool_id
        self._api_version: str = getattr(getattr(self._client, "_config", None), "api_version", API_VERSION)
        self._storage = storage_blob_url.rstrip("/")
        self._identity_id = identity_resource_id
        self._sas = sas_for_container
        self._list_blobs = list_blobs
        self._max_concurrency = max(1, max_concurrency)
        self._pool_scope_user = pool_scope_user
        self._terminate_poll_seconds = terminate_poll_seconds

    def close(self) -> None:
        self._client.close()

    # -- jobs ---------------------------------------------------------------

    def create_job(self, job_id: str, *, priority: int = 0) -> None:
        _check_id(job_id, "job_id")
        if not -1000 <= priority <= 1000:
            raise ValidationError("priority must be between -1000 and 1000", field="priority")
        job = bm.BatchJobCreateOptions(
            id=job_id,
            pool_info=bm.BatchPoolInfo(pool_id=self._pool_id),
            priority=priority,
            uses_task_dependencies=True,
            # Tasks are added (and failed chunks re-added) over time: the job must not
            # complete the moment the first batch of tasks is done.
            all_tasks_complete_mode=bm.BatchAllTasksCompleteMode.NO_ACTION,
            task_failure_mode=bm.BatchTaskFailureMode.NO_ACTION,
        )
        with calling_batch("create job", done_if=("JobExists",)):
            self._client.create_job(job)

    def complete_when_tasks_done(self, job_id: str) -> None:
        """Let Batch terminate the job once every task has completed. Call only after the
        last task (the stitch) is added: a terminated job takes no more tasks."""
        update = bm.BatchJobUpdateOptions(all_tasks_complete_mode=bm.BatchAllTasksCompleteMode.TERMINATE_JOB)
        with calling_batch("update job", done_if=("JobCompleted", "JobBeingTerminated")):
            self._client.update_job(job_id, update)

    def terminate_job(self, job_id: str) -> None:
        # azure-batch 15.1 cannot send a terminate without options (it sets a None
        # content-type header), so the service's default reason is sent explicitly.
        # The poller only watches the job leave `terminating`, in a daemon thread;
        # nothing here waits for it.
        with calling_batch("terminate job", done_if=("JobCompleted", "JobBeingTerminated")):
            self._client.begin_terminate_job(
                job_id, BatchJobTerminateOptions(termination_reason="UserTerminate"),
                polling_interval=self._terminate_poll_seconds)

    # -- tasks --------------------------------------------------------------

    def add_tasks(self, job_id: str, tasks: Sequence[TaskSpec]) -> None:
        _check_id(job_id, "job_id")
        _check_unique(tasks)
        chunks = list(_chunks([self._task_body(spec) for spec in tasks]))
        if not chunks:
            return
        with ThreadPoolExecutor(max_workers=min(self._max_concurrency, len(chunks)),
                                thread_name_prefix="batch-add") as pool:
            futures = [pool.submit(self._add_chunk, job_id, chunk) for chunk in chunks]
            _, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()  # a permanent error: no point sending the rest
            wait(futures)
        _raise_first(futures)

    def _add_chunk(self, job_id: str, chunk: list[TaskBody], attempt: int = 1) -> None:
        try:
            # The body is the REST JSON itself (see _task_body), which the SDK serializes as is.
            group = cast(bm.BatchTaskGroup, {"value": chunk})
            result = self._client.create_task_collection(job_id, group)
        except HttpResponseError as exc:
            if exc.status_code == 413 or error_code(exc) == "RequestBodyTooLarge":
                if len(chunk) == 1:
                    raise ValidationError(f"task {chunk[0]['id']} is larger than a Batch request may be",
                                          field="tasks") from exc
                half = len(chunk) // 2
                log.info("Batch found %d tasks too large for one request; sending halves", len(chunk))
                self._add_chunk(job_id, chunk[:half])
                self._add_chunk(job_id, chunk[half:])
                return
            raise translate(exc, "add tasks") from exc
        except AzureError as exc:
            raise translate(exc, "add tasks") from exc
        retry = _examine(chunk, result.get("value") or [])
        if retry:
            if attempt >= 3:
                raise TransientError(f"Batch kept failing to add {len(retry)} tasks",
                                     details={"taskIds": [t["id"] for t in retry][:20]})
            time.sleep(0.2 * attempt)
            self._add_chunk(job_id, retry, attempt + 1)

    def list_tasks(self, job_id: str) -> list[TaskState]:
        tasks = list(self._task_pages(job_id, _TASK_FIELDS))
        if not any(t.get("state") == "active" for t in tasks):
            return [_task_state(t) for t in tasks]
        ended = self._job_ended(job_id)
        failed = {t["id"] for t in tasks if _failed(t)}
        return [_task_state(t, job_ended=ended, failed_ids=failed) for t in tasks]

    def get_task(self, job_id: str, task_id: str) -> TaskState:
        with calling_batch("get task"):
            task = self._client.get_task(job_id, task_id, select=_TASK_FIELDS)
        if task.get("state") != "active":
            return _task_state(task)
        ended = self._job_ended(job_id)
        failed = self._failed_task_ids(job_id) if task.get("dependsOn") and not ended else set()
        return _task_state(task, job_ended=ended, failed_ids=failed)

    def task_counts(self, job_id: str) -> TaskCounts:
        with calling_batch("task counts"):
            counts = self._client.get_job_task_counts(job_id).task_counts
        active, failed = counts.active, counts.failed
        if active and self._job_ended(job_id):
            active, failed = 0, failed + active  # they will never run: see _task_state
        return TaskCounts(active=active, running=counts.running, succeeded=counts.succeeded, failed=failed)

    def _job_ended(self, job_id: str) -> bool:
        """Whether the job is terminated (or being terminated, or deleted)."""
        with calling_batch("get job"):
            job = self._client.get_job(job_id, select=["id", "state"])
        return _text(job.state) in ("terminating", "completed", "deleting")

    def _failed_task_ids(self, job_id: str) -> set[str]:
        done = self._task_pages(job_id, ["id", "state", "executionInfo"], where="state eq 'completed'")
        return {t["id"] for t in done if _failed(t)}

    def _task_pages(self, job_id: str, fields: list[str], where: str | None = None) -> Iterator[dict[str, Any]]:
        """The job's tasks as REST JSON, page by page (List Tasks, 1000 a page).

        The request goes through the client's own pipeline (auth, retries, Batch
        error policy); only the answer is read as JSON, because the typed
        `list_tasks` builds a model per task, about a millisecond each."""
        params = {"api-version": self._api_version, "maxresults": "1000", "$select": ",".join(fields)}
        if where:
            params["$filter"] = where
        request = HttpRequest("GET", f"/jobs/{quote(job_id, safe='')}/tasks", params=params,
                              headers={"Accept": "application/json"})
        while True:
            with calling_batch("list tasks"):
                page = self._client.send_request(request)
                page.raise_for_status()
            data = page.json()
            yield from data.get("value") or []
            next_link = data.get("odata.nextLink")
            if not next_link:
                return
            request = HttpRequest("GET", next_link, headers={"Accept": "application/json"})

    # -- TaskSpec -> the REST API's task JSON -------------------------------
    #
    # Tasks are built as the REST body (camelCase, as the SDK's models name their
    # rest fields) rather than as SDK models: building and sizing 10,000 models
    # costs seconds of CPU, the plain JSON a few tens of milliseconds.

    def _task_body(self, spec: TaskSpec) -> TaskBody:
        _check_task(spec)
        constraints: dict[str, Any] = {"maxTaskRetryCount": spec.max_retries}
        if spec.max_wall_clock_seconds:
            constraints["maxWallClockTime"] = _duration(spec.max_wall_clock_seconds)
        body: TaskBody = {
            "id": spec.id,
            "commandLine": command_line(spec.argv),
            "constraints": constraints,
            # A failed chunk is the orchestration's to requeue: never let it end the job.
            "exitConditions": {"default": {"jobAction": "none", "dependencyAction": "block"}},
        }
        resource_files = [f for r in spec.resource_files for f in self._resource_files(r)]
        if resource_files:
            body["resourceFiles"] = resource_files
        if spec.output_files:
            body["outputFiles"] = [self._output_file(o) for o in spec.output_files]
        if spec.environment:
            body["environmentSettings"] = [{"name": k, "value": v} for k, v in spec.environment.items()]
        depends: dict[str, Any] = {}
        if spec.depends_on:
            depends["taskIds"] = list(spec.depends_on)
        if spec.depends_on_ranges:
            depends["taskIdRanges"] = [{"start": a, "end": b} for a, b in spec.depends_on_ranges]
        if depends:
            body["dependsOn"] = depends
        if self._pool_scope_user:
            # Tasks of one node share the pool-level user, so they can share files.
            body["userIdentity"] = {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}
        return body

    def _with_identity(self, entry: dict[str, Any]) -> dict[str, Any]:
        if self._identity_id:
            entry["identityReference"] = {"resourceId": self._identity_id}
        return entry

    def _container_url(self, container: str) -> str:
        url = f"{self._storage}/{quote(container)}"
        return f"{url}?{self._sas(container)}" if self._sas else url

    def _blob_url(self, container: str, blob: str) -> str:
        url = f"{self._storage}/{quote(container)}/{quote(blob)}"
        return f"{url}?{self._sas(container)}" if self._sas else url

    def _resource_files(self, res: ResourceFile) -> Iterator[dict[str, Any]]:
        """One blob to `path`, or every blob under `prefix` into the directory `path`.

        Batch itself keeps the whole blob name below `filePath` for a container
        download; ResourceFile promises only the part after the prefix. With
        `list_blobs` the blobs are listed now and each becomes its own file, which
        keeps that promise (bundles are uploaded before their job starts)."""
        if res.blob is not None:
            yield self._with_identity({"httpUrl": self._blob_url(res.container, res.blob), "filePath": res.path})
            return
        prefix = res.prefix or ""
        if self._list_blobs is None:
            entry: dict[str, Any] = {"storageContainerUrl": self._container_url(res.container)}
            if prefix:
                entry["blobPrefix"] = prefix
            entry["filePath"] = res.path
            yield self._with_identity(entry)
            return
        base = res.path.rstrip("/")
        for name in self._list_blobs(res.container, prefix):
            rest = name[len(prefix):].lstrip("/")
            if not rest or ".." in rest.split("/"):
                continue  # a name that would escape the directory is not downloaded
            yield self._with_identity({"httpUrl": self._blob_url(res.container, name),
                                       "filePath": f"{base}/{rest}" if base else rest})

    def _output_file(self, out: OutputFile) -> dict[str, Any]:
        container: dict[str, Any] = {"containerUrl": self._container_url(out.container)}
        if out.prefix:
            container["path"] = out.prefix
        return {
            "filePattern": out.pattern,
            "destination": {"container": self._with_identity(container)},
            "uploadOptions": {"uploadCondition": _UPLOAD_CONDITION[out.condition]},
        }


def _duration(seconds: int) -> str:
    """ISO 8601, as Batch wants durations: 3725 -> PT1H2M5S."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"PT{hours}H{minutes}M{secs}S"


def _examine(chunk: list[TaskBody], results: list[Any]) -> list[TaskBody]:
    """Raise for tasks the service rejected; return those worth sending again."""
    answered = {r["taskId"]: r for r in results}
    retry, rejected = [], []
    for task in chunk:
        outcome = answered.get(task["id"])
        error = (outcome.get("error") if outcome is not None else None) or {}
        code = error.get("code")
        if outcome is None or outcome.get("status") == "servererror":
            retry.append(task)  # no answer for it, or the service failed: unknown, resend
        elif outcome.get("status") == "clienterror" and code != "TaskExists":
            message = (error.get("message") or {}).get("value") or ""
            rejected.append({"taskId": task["id"], "code": code, "message": message})
    if rejected:
        raise ValidationError(f"Batch rejected {len(rejected)} tasks: {rejected[0]['code']}",
                              field="tasks", details=rejected[:20])
    return retry


def _task_state(task: Mapping[str, Any], *, job_ended: bool = False,
                failed_ids: set[str] | frozenset[str] = frozenset()) -> TaskState:
    """Batch's view of a task (its REST JSON) in the port's terms.

    SDK models are mappings of their REST JSON; reading that directly is what
    keeps listing 10,000 tasks fast (the models' attributes convert on every read).
    Two things Batch leaves implicit are made explicit, as the port promises: an
    active task of a terminated job never runs, so it is reported completed and
    failed; and an active task blocked by a failed dependency says which one."""
    task_id = str(task["id"])
    status = _STATUS.get(str(task.get("state")), TaskStatus.ACTIVE)
    info: Mapping[str, Any] = task.get("executionInfo") or {}
    retries = int(info.get("retryCount") or 0)
    if status is TaskStatus.ACTIVE:
        if job_ended:
            return TaskState(id=task_id, status=TaskStatus.COMPLETED, result=TaskResult.FAILURE,
                             retry_count=retries, failure="terminated")
        blocker = _blocking_dependency(task, failed_ids)
        return TaskState(id=task_id, status=status, retry_count=retries,
                         failure=f"blocked by failed dependency {blocker}" if blocker else None)
    result = None
    if status is TaskStatus.COMPLETED:
        result = TaskResult.FAILURE if _failed(task) else TaskResult.SUCCESS
    failure_info: Mapping[str, Any] = info.get("failureInfo") or {}
    exit_code = info.get("exitCode")
    return TaskState(id=task_id, status=status, result=result,
                     exit_code=int(exit_code) if exit_code is not None else None, retry_count=retries,
                     start_time=_iso(info.get("startTime")), end_time=_iso(info.get("endTime")),
                     failure=failure_info.get("message") or failure_info.get("code"))


def _failed(task: Mapping[str, Any]) -> bool:
    info: Mapping[str, Any] = task.get("executionInfo") or {}
    if task.get("state") != "completed" or not info:
        return False
    if info.get("result") is not None:
        return bool(info["result"] == "failure")
    return info.get("exitCode") != 0 or bool(info.get("failureInfo"))  # answers without `result`


def _blocking_dependency(task: Mapping[str, Any], failed_ids: set[str] | frozenset[str]) -> str | None:
    """The first failed dependency: named ids in order, then ranges in ascending id order."""
    depends: Mapping[str, Any] = task.get("dependsOn") or {}
    if not depends or not failed_ids:
        return None
    for dep in depends.get("taskIds") or []:
        if dep in failed_ids:
            return str(dep)
    numeric = sorted(int(i) for i in failed_ids if i.isdigit())
    for span in depends.get("taskIdRanges") or []:
        for number in numeric:
            if int(span["start"]) <= number <= int(span["end"]):
                return str(number)
    return None


def _check_id(value: str, field: str) -> None:
    if not isinstance(value, str) or not _ID.match(value):
        raise ValidationError(f"{field} must be 1-64 letters, digits, '-' or '_': {value!r}", field=field)


def _check_unique(tasks: Sequence[TaskSpec]) -> None:
    seen: set[str] = set()
    for spec in tasks:
        if spec.id in seen:
            # a second spec with the same id would be swallowed as "TaskExists"
            raise ValidationError(f"task id {spec.id} appears twice", field="tasks")
        seen.add(spec.id)


def _check_task(spec: TaskSpec) -> None:
    _check_id(spec.id, "task.id")
    if not spec.argv or any(not isinstance(a, str) or "\0" in a for a in spec.argv) or not spec.argv[0]:
        raise ValidationError(f"task {spec.id}: argv must be non-empty strings without NUL", field="argv")
    for name, value in spec.environment.items():
        if not _ENV_NAME.match(name) or "\0" in value:
            raise ValidationError(f"task {spec.id}: bad environment variable {name!r}", field="environment")
    if spec.max_retries < 0:
        raise ValidationError(f"task {spec.id}: max_retries must be >= 0", field="max_retries")
    if spec.max_wall_clock_seconds is not None and spec.max_wall_clock_seconds <= 0:
        raise ValidationError(f"task {spec.id}: max_wall_clock_seconds must be > 0",
                              field="max_wall_clock_seconds")
    for start, end in spec.depends_on_ranges:
        if not 0 <= start <= end:
            raise ValidationError(f"task {spec.id}: bad dependency range {start}-{end}",
                                  field="depends_on_ranges")
    for dep in spec.depends_on:
        _check_id(dep, "depends_on")
    for res in spec.resource_files:
        if res.blob is not None and res.prefix is not None:
            raise ValidationError(f"task {spec.id}: a resource file has a blob or a prefix, not both",
                                  field="resource_files")


def _chunks(bodies: list[TaskBody]) -> Iterator[list[TaskBody]]:
    """At most 100 tasks and MAX_REQUEST_BYTES of JSON per request."""
    empty = len('{"value": []}')
    chunk: list[TaskBody] = []
    size = empty
    for body in bodies:
        task_size = len(json.dumps(body)) + 2  # ", " between tasks; ASCII-escaped, so bytes
        if chunk and (len(chunk) >= MAX_TASKS_PER_REQUEST or size + task_size > MAX_REQUEST_BYTES):
            yield chunk
            chunk, size = [], empty
        chunk.append(body)
        size += task_size
    if chunk:
        yield chunk


def _raise_first(futures: list[Future[None]]) -> None:
    errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
    # a permanent error says more than a transient one raised beside it
    errors.sort(key=lambda e: isinstance(e, PipelineError) and e.transient)
    if errors:
        raise errors[0]  # type: ignore[misc]
