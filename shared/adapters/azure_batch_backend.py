"""RenderBackend on Azure Batch (azure-batch 15.x, `azure.batch.BatchClient`).

Jobs are created with task dependencies on and `onAllTasksComplete=noaction`, so a
job never completes while the orchestration is still adding tasks (or re-adding
failed chunks); `complete_when_tasks_done` switches it to `terminatejob` once the
last task is in. Tasks go in parallel `addtaskcollection` requests of at most 100
tasks and under 1 MB each; a request the service still finds too large is halved.

Tasks are sent and listed as the REST API's JSON rather than as SDK models,
through the client's own operations and pipeline: building or reading 10,000
models costs the SDK seconds of CPU. What a task body holds is in
batch_task_body, how task JSON reads as TaskState in batch_task_state, how
SDK errors become shared.errors in batch_errors, and the checks for reading a
task's files and naming nodes in batch_node_files.

Job control (disable/enable, priority) is part of the RenderBackend port; watching
(a task's node and files, node scheduling) is offered by this adapter and localbatch's
and looked up by shared/pipeline/watching.py, since the in-memory fake has no nodes.
(The module is a little over 350 lines because it is the one class a Batch pool is driven
through; every piece with logic of its own lives in the batch_* modules beside it.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, cast
from urllib.parse import quote

from azure.batch import BatchClient
from azure.batch import models as bm
from azure.batch.models._models import BatchJobTerminateOptions  # not re-exported by the package
from azure.core.credentials import AzureNamedKeyCredential, TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.rest import HttpRequest

from shared.adapters.batch_errors import calling_batch, error_code, translate
from shared.adapters.batch_node_files import (
    check_node_id,
    check_reason,
    check_tail_bytes,
    check_task_file_path,
    reading_task_file,
    tail_range,
)
from shared.adapters.batch_task_body import (
    ListBlobs,
    SasForContainer,
    TaskBodies,
    TaskBody,
    check_id,
    check_unique,
    command_line,
    request_chunks,
)
from shared.adapters.batch_task_state import TASK_FIELDS, failed, task_state, wire_text
from shared.errors import PipelineError, TransientError, ValidationError
from shared.tasks import TaskCounts, TaskSpec, TaskState

__all__ = ["API_VERSION", "AzureBatchBackend", "command_line"]

log = logging.getLogger(__name__)

API_VERSION = "2025-06-01"  # azure-batch 15.1's default; the client's own setting wins
# Batch's third mode, `terminate`, ends running tasks as failed: attempts the pipeline
# would have to count, so it is not offered (cancel terminates the whole job instead).
DISABLE_MODES = ("requeue", "wait")


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
        terminate_poll_seconds: int = 5,
        **client_kwargs: Any,
    ) -> None:
        """`identity_resource_id`: the pool's user-assigned managed identity, used by the
        nodes to read resource files and write output files (`identityReference`).
        `sas_for_container` is the alternative: a SAS appended to container URLs.
        `list_blobs`, when given, expands prefix resource files into one file per blob
        so files land under `path` without the prefix (see TaskBodies).
        `terminate_poll_seconds`: how often the SDK's pollers look at a job being
        terminated, disabled or enabled (in daemon threads; no call waits for them).
        `client_kwargs` go to BatchClient (e.g. `retry_total`, `connection_timeout`)."""
        if not pool_id:
            raise ValidationError("a Batch pool id is required", field="pool_id")
        if identity_resource_id and sas_for_container:
            raise ValidationError("use a managed identity or a SAS provider, not both")
        self._client = BatchClient(account_url, credential, **client_kwargs)
        self._pool_id = pool_id
        self._api_version: str = getattr(getattr(self._client, "_config", None), "api_version", API_VERSION)
        self._bodies = TaskBodies(storage_blob_url, identity_resource_id=identity_resource_id,
                                  sas_for_container=sas_for_container, list_blobs=list_blobs)
        self._max_concurrency = max(1, max_concurrency)
        self._terminate_poll_seconds = terminate_poll_seconds

    def close(self) -> None:
        self._client.close()

    # -- jobs ---------------------------------------------------------------

    def create_job(self, job_id: str, *, priority: int = 0) -> None:
        check_id(job_id, "job_id")
        if not -1000 <= priority <= 1000:
            raise ValidationError("priority must be between -1000 and 1000", field="priority")
        job = bm.BatchJobCreateOptions(
            id=job_id,
            pool_info=bm.BatchPoolInfo(pool_id=self._pool_id),
            priority=priority,
            uses_task_dependencies=True,
            # No Batch retries for tasks that do not set their own: a retry the
            # pipeline did not ask for would be an attempt it never counted.
            constraints=bm.BatchJobConstraints(max_task_retry_count=0),
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

    def disable_job(self, job_id: str, mode: str) -> None:
        """No new task of the job starts. `requeue`: its running tasks go back to the queue
        (they run again later, not counted as retries); `wait`: they run to the end.
        Disabling a disabled job is accepted by Batch as is."""
        check_id(job_id, "job_id")
        if mode not in DISABLE_MODES:
            raise ValidationError(f"mode must be one of {', '.join(DISABLE_MODES)}: {mode!r}", field="mode")
        with calling_batch("disable job"):
            self._client.begin_disable_job(job_id, bm.BatchJobDisableOptions(disable_tasks=mode),
                                           polling_interval=self._terminate_poll_seconds)

    def enable_job(self, job_id: str) -> None:
        """Tasks of a disabled job start again; a job that is already active stays as it is."""
        check_id(job_id, "job_id")
        with calling_batch("enable job"):
            try:
                self._client.begin_enable_job(job_id, polling_interval=self._terminate_poll_seconds)
            except HttpResponseError as exc:
                # Batch refuses to enable a job that is not disabled; if it is active (or
                # becoming so) the call's purpose is achieved.
                if exc.status_code != 409 or self._job_state(job_id) not in ("active", "enabling"):
                    raise

    def set_job_priority(self, job_id: str, priority: int) -> None:
        """Batch's job priority (-1000..1000): higher runs first when the pool is full."""
        check_id(job_id, "job_id")
        if isinstance(priority, bool) or not isinstance(priority, int) or not -1000 <= priority <= 1000:
            raise ValidationError("priority must be between -1000 and 1000", field="priority")
        with calling_batch("update job priority"):
            self._client.update_job(job_id, bm.BatchJobUpdateOptions(priority=priority))


    # -- tasks --------------------------------------------------------------

    def add_tasks(self, job_id: str, tasks: Sequence[TaskSpec]) -> None:
        check_id(job_id, "job_id")
        check_unique(tasks)
        chunks = list(request_chunks([self._bodies.body(spec) for spec in tasks]))
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
            # The body is the REST JSON itself (see TaskBodies), which the SDK serializes as is.
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
        tasks = list(self._task_pages(job_id, TASK_FIELDS))
        if not any(t.get("state") == "active" for t in tasks):
            return [task_state(t) for t in tasks]
        ended = self._job_ended(job_id)
        failed_ids = {t["id"] for t in tasks if failed(t)}
        return [task_state(t, job_ended=ended, failed_ids=failed_ids) for t in tasks]

    def get_task(self, job_id: str, task_id: str) -> TaskState:
        with calling_batch("get task"):
            task = self._client.get_task(job_id, task_id, select=TASK_FIELDS)
        if task.get("state") != "active":
            return task_state(task)
        ended = self._job_ended(job_id)
        failed_ids = self._failed_task_ids(job_id) if task.get("dependsOn") and not ended else set()
        return task_state(task, job_ended=ended, failed_ids=failed_ids)

    def task_counts(self, job_id: str) -> TaskCounts:
        with calling_batch("task counts"):
            counts = self._client.get_job_task_counts(job_id).task_counts
        active, failed_count = counts.active, counts.failed
        if active and self._job_ended(job_id):
            active, failed_count = 0, failed_count + active  # they will never run: see task_state
        return TaskCounts(active=active, running=counts.running, succeeded=counts.succeeded,
                          failed=failed_count)

    def task_node(self, job_id: str, task_id: str) -> str | None:
        """The id of the node the task runs or last ran on; None if it has not run yet."""
        check_id(job_id, "job_id")
        check_id(task_id, "task_id")
        with calling_batch("get task"):
            task = self._client.get_task(job_id, task_id, select=["id", "nodeInfo"])
        node = (task.get("nodeInfo") or {}).get("nodeId")
        return str(node) if node else None

    def read_task_file(self, job_id: str, task_id: str, path: str, tail_bytes: int) -> bytes:
        """The last `tail_bytes` bytes of a file in the task's directory on its node (e.g.
        `stdout.txt` of a running render). NotFoundError when the task, the file or the
        task's files (not yet on a node, or cleaned up) are not there."""
        check_id(job_id, "job_id")
        check_id(task_id, "task_id")
        check_task_file_path(path)
        check_tail_bytes(tail_bytes)
        with reading_task_file("get task file properties"):
            properties = self._client.get_task_file_properties(job_id, task_id, path)
        if properties.is_directory:
            raise ValidationError(f"{path} is a directory on the node, not a file", field="path")
        size = int(properties.content_length or 0)
        if size == 0:
            return b""
        with reading_task_file("read task file"):
            return b"".join(self._client.download_task_file(job_id, task_id, path,
                                                            ocp_range=tail_range(size, tail_bytes)))

    # -- nodes of the pool ----------------------------------------------------

    def disable_node_scheduling(self, node_id: str, reason: str) -> None:
        """No new task goes to the node; tasks running there finish (`taskcompletion`).
        Batch keeps no reason, so it is logged here, where ops look for it."""
        check_node_id(node_id)
        check_reason(reason)
        log.warning("Disabling task scheduling on node %s of pool %s: %s", node_id, self._pool_id, reason)
        option = bm.BatchNodeDisableSchedulingOptions(
            node_disable_scheduling_option=bm.BatchNodeDisableSchedulingOption.TASK_COMPLETION)
        with calling_batch("disable node scheduling", done_if=("NodeAlreadyInTargetSchedulingState",)):
            self._client.disable_node_scheduling(self._pool_id, node_id, option)

    def enable_node_scheduling(self, node_id: str) -> None:
        check_node_id(node_id)
        with calling_batch("enable node scheduling", done_if=("NodeAlreadyInTargetSchedulingState",)):
            self._client.enable_node_scheduling(self._pool_id, node_id)

    def _job_state(self, job_id: str) -> str:
        with calling_batch("get job"):
            job = self._client.get_job(job_id, select=["id", "state"])
        return wire_text(job.state)

    def _job_ended(self, job_id: str) -> bool:
        """Whether the job is terminated (or being terminated, or deleted)."""
        return self._job_state(job_id) in ("terminating", "completed", "deleting")

    def _failed_task_ids(self, job_id: str) -> set[str]:
        done = self._task_pages(job_id, ["id", "state", "executionInfo"], where="state eq 'completed'")
        return {t["id"] for t in done if failed(t)}

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


def _raise_first(futures: list[Future[None]]) -> None:
    errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
    # a permanent error says more than a transient one raised beside it
    errors.sort(key=lambda e: isinstance(e, PipelineError) and e.transient)
    if errors:
        raise errors[0]  # type: ignore[misc]
