"""The ports: what activities and triggers need from the outside world.

Each Protocol has a real adapter in shared/adapters/ and, where a unit test needs
one, a small in-memory fake beside it. Adapters raise only shared.errors types.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from shared.tasks import TaskCounts, TaskSpec, TaskState

JobDocument = dict[str, Any]  # the Cosmos job document of DESIGN.md, with `_etag` when read
# One page of a job's chunks (shared.chunk_pages): {"id", "jobId", "page", "rev", "chunks": [...]},
# with `_etag` when read.
ChunkPage = dict[str, Any]


class RenderBackend(Protocol):
    """Batch semantics: a job holds tasks; tasks run argv on a node with files in and out.

    Every call is safe to repeat (activities are retried): creating a job or adding
    a task that already exists with the same id is not an error.
    """

    def create_job(self, job_id: str, *, priority: int = 0) -> None: ...

    def add_tasks(self, job_id: str, tasks: Sequence[TaskSpec]) -> None: ...

    def list_tasks(self, job_id: str) -> list[TaskState]: ...

    def get_task(self, job_id: str, task_id: str) -> TaskState: ...

    def task_counts(self, job_id: str) -> TaskCounts: ...

    def terminate_job(self, job_id: str) -> None: ...

    # Job control, with Batch's semantics: a disabled job starts no new task; mode
    # "requeue" sends its running tasks back to the queue (not counted as retries), "wait"
    # lets them finish. Enabling an active job and disabling a disabled one are no-ops.

    def disable_job(self, job_id: str, mode: str) -> None: ...

    def enable_job(self, job_id: str) -> None: ...

    def set_job_priority(self, job_id: str, priority: int) -> None: ...

    # Watching. A backend that cannot say where a task ran answers None (and NotFoundError for
    # its files); node ids are Batch's (1-128 letters, digits, '-' or '_').

    def task_node(self, job_id: str, task_id: str) -> str | None:
        """The node the task runs or last ran on; None if it has not run (or the backend cannot say)."""
        ...

    def read_task_file(self, job_id: str, task_id: str, path: str, tail_bytes: int) -> bytes:
        """The last `tail_bytes` bytes of a file in the task's directory on its node (`stdout.txt`,
        `wd/...`); NotFoundError when the task or the file is not there, ValidationError for a path
        that leaves the task's directory."""
        ...

    def disable_node_scheduling(self, node_id: str, reason: str) -> None:
        """No new task starts on the node; tasks running there finish. Already disabled: done."""
        ...

    def enable_node_scheduling(self, node_id: str) -> None: ...


@dataclass(frozen=True)
class BlobInfo:
    container: str
    name: str
    size: int
    etag: str
    content_type: str | None = None
    last_modified: str | None = None  # ISO 8601, UTC


class BlobStore(Protocol):
    def ensure_container(self, container: str) -> None: ...

    def upload(self, container: str, name: str, data: bytes, *, overwrite: bool = False,
               content_type: str | None = None) -> BlobInfo: ...

    def upload_file(self, container: str, name: str, path: Path, *, overwrite: bool = False,
                    content_type: str | None = None) -> BlobInfo: ...

    def download(self, container: str, name: str, *, max_bytes: int | None = None) -> bytes: ...

    def download_to_file(self, container: str, name: str, path: Path, *,
                         max_bytes: int | None = None) -> BlobInfo: ...

    def info(self, container: str, name: str) -> BlobInfo: ...

    def list(self, container: str, prefix: str = "") -> Iterator[BlobInfo]: ...

    def url(self, container: str, name: str) -> str: ...

    def delete(self, container: str, name: str) -> None: ...


class JobStore(Protocol):
    """Job documents, partitioned by id, written with optimistic concurrency."""

    def create(self, doc: JobDocument) -> JobDocument: ...

    def get(self, job_id: str) -> JobDocument: ...

    def replace(self, doc: JobDocument, *, etag: str) -> JobDocument: ...

    def list(self, *, status: str | None = None, top: int = 50, continuation: str | None = None,
             name_prefix: str | None = None) -> tuple[list[JobDocument], str | None]: ...

    def ping(self) -> None: ...


class ChunkStore(Protocol):
    """A job's chunks in pages (shared.chunk_pages), partitioned by job id, written with
    optimistic concurrency like the job documents; shared.job_chunks reads and changes them."""

    def create_page(self, page: ChunkPage) -> ChunkPage: ...

    def get_page(self, job_id: str, number: int) -> ChunkPage: ...

    def replace_page(self, page: ChunkPage, *, etag: str) -> ChunkPage: ...

    def list_pages(self, job_id: str) -> list[ChunkPage]: ...  # every page of the job, by number

    def ping(self) -> None: ...


@dataclass(frozen=True)
class LifecycleEvent:
    """An outbound Event Grid event (Event Grid schema)."""

    id: str
    event_type: str   # RenderPipeline.Job.Queued|Started|Completed|Failed|Cancelled
    subject: str      # /jobs/<jobId>
    data: dict[str, Any]
    event_time: str   # ISO 8601, UTC
    data_version: str = "1.0"


class EventPublisher(Protocol):
    def publish(self, events: Sequence[LifecycleEvent]) -> None: ...
