"""TaskSpec → the Batch REST API's task JSON (an `addtaskcollection` entry).

Tasks are built as the REST body (camelCase, as azure-batch's models name their
rest fields) rather than as SDK models: building and sizing 10,000 models costs
seconds of CPU, the plain JSON a few tens of milliseconds.

Batch on Linux does not run a task's command line in a shell: it splits the line
into words itself. argv is therefore quoted for a POSIX shell and handed to
`/bin/bash -c`, so bash, not Batch's splitter, decides the words (see
`command_line`). Everything a spec carries is checked here, before anything is sent.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

from azure.batch import models as bm

from shared.errors import ValidationError
from shared.tasks import OutputFile, ResourceFile, TaskSpec, UploadCondition

MAX_TASKS_PER_REQUEST = 100
# The service rejects collections of 1 MB or more; stay well under it so the
# RequestBodyTooLarge round trip is the exception, not the rule.
MAX_REQUEST_BYTES = 900_000
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UPLOAD_CONDITION = {
    UploadCondition.SUCCESS: "tasksuccess",
    UploadCondition.FAILURE: "taskfailure",
    UploadCondition.COMPLETION: "taskcompletion",
}

TaskBody = dict[str, Any]  # one task of an addtaskcollection body, in the REST API's JSON
SasForContainer = Callable[[str], str]           # container -> SAS query string (no "?")
ListBlobs = Callable[[str, str], Iterable[str]]  # (container, prefix) -> blob names

# Every task runs as its own non-admin auto-user (task scope): one task cannot read
# another's working directory, and nothing a scene does runs as admin. Only the
# pool's start task (infra/modules/batch.bicep) is admin, to install software.
TASK_USER: dict[str, Any] = bm.UserIdentity(auto_user=bm.AutoUserSpecification(
    scope=bm.AutoUserScope.TASK, elevation_level=bm.ElevationLevel.NON_ADMIN)).as_dict()


def command_line(argv: Sequence[str]) -> str:
    """`/bin/bash -c '<argv quoted for a POSIX shell>'`: the one place argv becomes text.

    `shlex.join` quotes each word so bash sees exactly argv (spaces, quotes, `$`,
    `;`, globs stay literal); `shlex.quote` makes that script a single word of the
    outer line, which is all Batch's own splitting has to get right.
    """
    return "/bin/bash -c " + shlex.quote(shlex.join(argv))


class TaskBodies:
    """Builds task bodies whose files live in one storage account, reached with the
    pool's managed identity (`identity_resource_id`) or a SAS per container."""

    def __init__(self, storage_blob_url: str, *, identity_resource_id: str | None = None,
                 sas_for_container: SasForContainer | None = None, list_blobs: ListBlobs | None = None) -> None:
        self._storage = storage_blob_url.rstrip("/")
        self._identity_id = identity_resource_id
        self._sas = sas_for_container
        self._list_blobs = list_blobs

    def body(self, spec: TaskSpec) -> TaskBody:
        check_task(spec)
        # Batch retries a task (also one whose resource or output files failed to
        # transfer) only up to maxTaskRetryCount, under the same task id. The pipeline
        # sends 0 and requeues a failed chunk as a new task, so each Batch run is one
        # attempt it counts; a Spot pre-emption requeues without counting (requeueCount).
        constraints: dict[str, Any] = {"maxTaskRetryCount": spec.max_retries}
        if spec.max_wall_clock_seconds:
            constraints["maxWallClockTime"] = duration(spec.max_wall_clock_seconds)
        body: TaskBody = {
            "id": spec.id,
            "commandLine": command_line(spec.argv),
            "constraints": constraints,
            "userIdentity": dict(TASK_USER),
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


def duration(seconds: int) -> str:
    """ISO 8601, as Batch wants durations: 3725 -> PT1H2M5S."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"PT{hours}H{minutes}M{secs}S"


def request_chunks(bodies: list[TaskBody]) -> Iterator[list[TaskBody]]:
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


def check_id(value: str, field: str) -> None:
    if not isinstance(value, str) or not _ID.match(value):
        raise ValidationError(f"{field} must be 1-64 letters, digits, '-' or '_': {value!r}", field=field)


def check_unique(tasks: Sequence[TaskSpec]) -> None:
    seen: set[str] = set()
    for spec in tasks:
        if spec.id in seen:
            # a second spec with the same id would be swallowed as "TaskExists"
            raise ValidationError(f"task id {spec.id} appears twice", field="tasks")
        seen.add(spec.id)


def check_task(spec: TaskSpec) -> None:
    check_id(spec.id, "task.id")
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
        check_id(dep, "depends_on")
    for res in spec.resource_files:
        if res.blob is not None and res.prefix is not None:
            raise ValidationError(f"task {spec.id}: a resource file has a blob or a prefix, not both",
                                  field="resource_files")
