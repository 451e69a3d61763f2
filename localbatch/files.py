"""Resource files in and output files out, between blob storage and a task's working directory.

Blocking (azure-storage-blob's sync client); the runner calls these in a thread.
Every local path is resolved and checked to lie inside the working directory,
so neither a resource path, a blob name under a prefix, nor a symlink the task
made can reach outside it.

As on Batch, a transfer that fails transiently (storage unreachable, busy, 5xx) is
tried again after a short backoff (TRANSFER_BACKOFF); one that still fails is a
ServerError the task may be retried for. A missing blob, a refused credential or a
path that escapes is a UserError, final. A blob larger than the node's free disk
fails before a byte is written.
"""

from __future__ import annotations

import logging
import mimetypes
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TypeVar

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.tasks import OutputFile, ResourceFile, UploadCondition

log = logging.getLogger("localbatch.files")

WILDCARDS = ("*", "?", "[")
TRANSFER_BACKOFF = (0.5, 1.0, 2.0, 4.0)  # seconds before each further try: 5 tries in about 8 s
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
USER_ERROR, SERVER_ERROR = "UserError", "ServerError"  # Batch's failureInfo categories
T = TypeVar("T")


class TaskFileError(Exception):
    """A resource or output file could not be moved; the message becomes the task's `failure`.

    `category` is Batch's failureInfo category; `retryable` says whether another attempt
    of the task may succeed (storage was down), as opposed to a file that is missing or bad.
    """

    def __init__(self, message: str, *, category: str = USER_ERROR, retryable: bool = False) -> None:
        super().__init__(message)
        self.category, self.retryable = category, retryable


def transient(exc: BaseException) -> bool:
    """Whether trying the same transfer again later can help."""
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True  # not connected, reset, timed out
    if isinstance(exc, HttpResponseError):
        return exc.status_code in TRANSIENT_STATUS
    return isinstance(exc, AzureError) and not isinstance(exc, HttpResponseError)


def _failed(what: str, exc: Exception) -> TaskFileError:
    if transient(exc):
        return TaskFileError(f"{what}: storage unavailable after {len(TRANSFER_BACKOFF) + 1} tries: {exc}",
                             category=SERVER_ERROR, retryable=True)
    return TaskFileError(f"{what}: {exc}")


def inside(root: Path, relative: str) -> Path:
    """root/relative, resolved, or TaskFileError if it would leave root."""
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
        raise TaskFileError(f"path {relative!r} escapes the working directory")
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise TaskFileError(f"path {relative!r} escapes the working directory")
    return target


class BlobFiles:
    def __init__(self, connection_string: str | None, *, backoff: Sequence[float] = TRANSFER_BACKOFF,
                 disk_reserve_bytes: int = 0) -> None:
        # The SDK's own retries are off (its first backoff is 15 s): the tries here are Batch's.
        self.service = (BlobServiceClient.from_connection_string(connection_string, retry_total=0)
                        if connection_string else None)
        self.backoff = tuple(backoff)
        self.disk_reserve_bytes = disk_reserve_bytes

    def _retrying(self, what: str, operation: Callable[[], T]) -> T:
        for delay in (*self.backoff, None):
            try:
                return operation()
            except AzureError as exc:
                if delay is None or not transient(exc):
                    raise
                log.warning("%s failed (%s); trying again in %.1f s", what, type(exc).__name__, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the last try returns or raises

    def _service(self) -> BlobServiceClient:
        if self.service is None:
            raise TaskFileError("localbatch was started without --storage-connection-string")
        return self.service

    # Resource files

    def download(self, workdir: Path, resources: Sequence[ResourceFile]) -> None:
        for resource in resources:
            source = f"{resource.container}/{resource.blob or resource.prefix}"
            try:
                if resource.blob is not None:
                    self._download_blob(resource.container, resource.blob, inside(workdir, resource.path))
                else:
                    self._download_prefix(workdir, resource)
            except ResourceNotFoundError as exc:
                raise TaskFileError(f"resource file not found: {source}") from exc
            except AzureError as exc:
                raise _failed(f"resource file download failed: {source}", exc) from exc
            except OSError as exc:
                raise TaskFileError(f"resource file download failed: {source}: {exc}") from exc

    def _download_blob(self, container: str, name: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        blob = self._service().get_blob_client(container, name)

        def download() -> None:
            stream = blob.download_blob()  # the first request: it tells the size
            self._check_disk(target.parent, stream.size, f"{container}/{name}")
            with target.open("wb") as file:  # a new try starts the file again
                stream.readinto(file)

        self._retrying(f"download of {container}/{name}", download)

    def _check_disk(self, directory: Path, size: int, source: str) -> None:
        free = shutil.disk_usage(directory).free - self.disk_reserve_bytes
        if size > free:
            raise TaskFileError(f"not enough disk space for resource file {source}: it needs {size} bytes, "
                                f"the node has {max(free, 0)} free" +
                                (f" beyond its reserve of {self.disk_reserve_bytes}" if self.disk_reserve_bytes
                                 else ""), category=SERVER_ERROR)

    def _download_prefix(self, workdir: Path, resource: ResourceFile) -> None:
        assert resource.prefix is not None
        directory = inside(workdir, resource.path)
        container = self._service().get_container_client(resource.container)
        # Names ending in "/" are directory markers some tools write, not files.
        names = self._retrying(
            f"listing of {resource.container}/{resource.prefix}",
            lambda: [b.name for b in container.list_blobs(name_starts_with=resource.prefix)
                     if not b.name.endswith("/")])
        if not names:
            raise TaskFileError(f"resource file not found: no blobs under "
                                f"{resource.container}/{resource.prefix}")
        for name in names:
            # As Batch does: each blob keeps its full name below the resource's path.
            target = inside(directory, name)
            if not target.is_relative_to(workdir.resolve()):  # pragma: no cover - inside() guards
                raise TaskFileError(f"blob {name!r} would escape the working directory")
            self._download_blob(resource.container, name, target)

    # Output files

    def upload(self, workdir: Path, outputs: Sequence[OutputFile], *, succeeded: bool) -> list[str]:
        """Upload in the order listed (within a pattern, by name); returns the blob names written.

        Stops at the first error, so a completion marker listed last is never
        uploaded after a failed upload.
        """
        written: list[str] = []
        for output in outputs:
            if not _wanted(output.condition, succeeded):
                continue
            files = _matches(workdir, output.pattern)
            for path, relative in files:
                name = _blob_name(output, relative, single=len(files) == 1)
                try:
                    self._retrying(f"upload of {output.container}/{name}",
                                   lambda: self._upload_file(output.container, name, path))  # noqa: B023
                except AzureError as exc:
                    raise _failed(f"output file upload failed: {relative} -> {output.container}/{name}",
                                  exc) from exc
                written.append(f"{output.container}/{name}")
        return written

    def _upload_file(self, container: str, name: str, path: Path) -> None:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        blob = self._service().get_blob_client(container, name)
        with path.open("rb") as file:
            blob.upload_blob(file, overwrite=True,
                             content_settings=ContentSettings(content_type=content_type))


def _wanted(condition: UploadCondition, succeeded: bool) -> bool:
    return (condition is UploadCondition.COMPLETION
            or (condition is UploadCondition.SUCCESS and succeeded)
            or (condition is UploadCondition.FAILURE and not succeeded))


def _matches(workdir: Path, pattern: str) -> list[tuple[Path, str]]:
    """Files matching pattern, as (path, name relative to the pattern's fixed leading directories)."""
    root = workdir.resolve()
    parts = PurePosixPath(pattern).parts
    if parts[:1] == ("..",):  # the task directory, where stdout.txt and stderr.txt are
        root, parts = root.parent, parts[1:]
    if ".." in parts or not parts or PurePosixPath(pattern).is_absolute():
        raise TaskFileError(f"output pattern {pattern!r} escapes the working directory")
    fixed = 0
    while fixed < len(parts) and not any(w in parts[fixed] for w in WILDCARDS):
        fixed += 1
    if fixed == len(parts):  # a plain file name: its base is its own directory
        base = root.joinpath(*parts[:-1])
        candidates = [root.joinpath(*parts)]
    else:
        base = root.joinpath(*parts[:fixed])
        candidates = sorted(base.glob(str(PurePosixPath(*parts[fixed:])))) if base.is_dir() else []
    found = []
    for path in candidates:
        if not path.is_file():
            continue
        if not path.resolve().is_relative_to(root):
            raise TaskFileError(f"output file {path.relative_to(root)} resolves outside "
                                "the working directory")
        found.append((path, path.relative_to(base).as_posix()))
    return found


def _blob_name(output: OutputFile, relative: str, *, single: bool) -> str:
    """As Batch: a prefix without a trailing '/' names the blob itself when one file matches."""
    if single and output.prefix and not output.prefix.endswith("/"):
        return output.prefix
    return f"{output.prefix.rstrip('/')}/{relative}" if output.prefix else relative
