"""Resource files in and output files out, between blob storage and a task's working directory.

Blocking (azure-storage-blob's sync client); the runner calls these in a thread.
Every local path is resolved and checked to lie inside the working directory,
so neither a resource path, a blob name under a prefix, nor a symlink the task
made can reach outside it.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.tasks import OutputFile, ResourceFile, UploadCondition

WILDCARDS = ("*", "?", "[")


class TaskFileError(Exception):
    """A resource or output file could not be moved; the message becomes the task's `failure`."""


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
    def __init__(self, connection_string: str | None) -> None:
        self.service = (BlobServiceClient.from_connection_string(connection_string)
                        if connection_string else None)

    def _service(self) -> BlobServiceClient:
        if self.service is None:
            raise TaskFileError("localbatch was started without --storage-connection-string")
        return self.service

    # Resource files

    def download(self, workdir: Path, resources: Sequence[ResourceFile]) -> None:
        for resource in resources:
            try:
                if resource.blob is not None:
                    self._download_blob(resource.container, resource.blob, inside(workdir, resource.path))
                else:
                    self._download_prefix(workdir, resource)
            except ResourceNotFoundError as exc:
                raise TaskFileError(f"resource file not found: {resource.container}/"
                                    f"{resource.blob or resource.prefix}") from exc
            except (AzureError, OSError) as exc:
                raise TaskFileError(f"resource file download failed: {resource.container}/"
                                    f"{resource.blob or resource.prefix}: {exc}") from exc

    def _download_blob(self, container: str, name: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        blob = self._service().get_blob_client(container, name)
        with target.open("wb") as file:
            blob.download_blob().readinto(file)

    def _download_prefix(self, workdir: Path, resource: ResourceFile) -> None:
        assert resource.prefix is not None
        directory = inside(workdir, resource.path)
        # Names ending in "/" are directory markers some tools write, not files.
        names = [b.name for b in self._service().get_container_client(resource.container)
                 .list_blobs(name_starts_with=resource.prefix) if not b.name.endswith("/")]
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
                    self._upload_file(output.container, name, path)
                except AzureError as exc:
                    raise TaskFileError(f"output file upload failed: {relative} -> "
                                        f"{output.container}/{name}: {exc}") from exc
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
