"""BlobStore on azure-storage-blob: a connection string (Azurite, local) or an account
URL with DefaultAzureCredential (Azure, identity-based).

Nothing stored is overwritten unless the caller says so: upload sends If-None-Match: *
and an existing blob becomes ConflictError. Names are checked before any request, so
no name escapes its prefix. ETags are returned bare (no quotes), as model.normalize_etag.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.adapters.retry import blob_endpoint, storage_options
from shared.errors import (
    ConflictError,
    NotFoundError,
    PermanentError,
    TransientError,
    ValidationError,
)
from shared.job_document import normalize_etag
from shared.paths import is_safe_relative_path
from shared.ports import BlobInfo

MAX_BLOB_NAME = 1024
_CONTAINER = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")


# ---------------------------------------------------------------- names (shared with the fake)


def check_container(container: str) -> str:
    if not isinstance(container, str) or not _CONTAINER.match(container):
        raise ValidationError(f"bad container name {container!r}", field="container",
                              code="invalid_blob_name")
    return container


def check_blob_name(name: str) -> str:
    """Relative, "/"-separated, no "..", "." or empty segments, no backslashes or control characters."""
    if (not isinstance(name, str) or len(name) > MAX_BLOB_NAME or not is_safe_relative_path(name)
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)):
        raise ValidationError(f"bad blob name {name!r}", field="name", code="invalid_blob_name")
    return name


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a blob name optionally ending in "/"."""
    if prefix == "":
        return prefix
    check_blob_name(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def check_max_bytes(size: int, max_bytes: int | None, container: str, name: str) -> None:
    if max_bytes is not None and size > max_bytes:
        raise ValidationError(f"blob {container}/{name} is {size} bytes, more than {max_bytes}",
                              field="name", code="blob_too_large", details={"size": size, "limit": max_bytes})


# ---------------------------------------------------------------- errors


def _is_transient_status(status: int | None) -> bool:
    return status is not None and (status in (408, 429) or status >= 500)


def map_error(exc: AzureError, what: str) -> Exception:
    """SDK error → shared.errors (the caller raises it `from exc`)."""
    if isinstance(exc, ResourceExistsError):
        return ConflictError(f"{what}: already exists")
    if isinstance(exc, ResourceModifiedError):
        return ConflictError(f"{what}: changed meanwhile")
    if isinstance(exc, ResourceNotFoundError):
        return NotFoundError(f"{what}: not found")
    if isinstance(exc, ClientAuthenticationError):
        return PermanentError(f"{what}: not authorized: {exc.message}", code="unauthorized")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return TransientError(f"{what}: storage unreachable: {exc.message}")
    if isinstance(exc, HttpResponseError):
        if exc.status_code == 409:
            return ConflictError(f"{what}: {exc.message}")
        if exc.status_code == 412:
            return ConflictError(f"{what}: condition not met")
        if _is_transient_status(exc.status_code):
            return TransientError(f"{what}: storage busy ({exc.status_code})")
        return PermanentError(f"{what}: storage refused ({exc.status_code}): {exc.message}")
    return TransientError(f"{what}: {exc}")


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    try:
        yield
    except AzureError as exc:
        raise map_error(exc, what) from exc


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _info(container: str, name: str, props: Any) -> BlobInfo:
    settings = getattr(props, "content_settings", None)
    return BlobInfo(container=container, name=name, size=int(props.size or 0),
                    etag=normalize_etag(props.etag or ""),
                    content_type=getattr(settings, "content_type", None),
                    last_modified=_iso(props.last_modified))


# ---------------------------------------------------------------- adapter


class AzureBlobStore:
    def __init__(self, service: BlobServiceClient) -> None:
        self._service = service

    @classmethod
    def from_connection_string(cls, connection_string: str, **client_options: Any) -> AzureBlobStore:
        """client_options go to the SDK client (e.g. retry_total=0 in tests); a local endpoint
        retries quickly unless they say otherwise (shared.adapters.retry)."""
        options = storage_options(blob_endpoint(connection_string), client_options)
        return cls(BlobServiceClient.from_connection_string(connection_string, **options))

    @classmethod
    def from_account_url(cls, account_url: str, credential: Any = None) -> AzureBlobStore:
        if credential is None:
            from azure.identity import DefaultAzureCredential
            credential = DefaultAzureCredential()
        return cls(BlobServiceClient(account_url, credential=credential, **storage_options(account_url, {})))

    @classmethod
    def from_settings(cls, settings: Any) -> AzureBlobStore:
        if settings.storage_connection_string:
            return cls.from_connection_string(settings.storage_connection_string)
        return cls.from_account_url(settings.storage_account_url)

    def _blob(self, container: str, name: str) -> Any:
        return self._service.get_blob_client(check_container(container), check_blob_name(name))

    def ensure_container(self, container: str) -> None:
        try:
            with _mapped(f"container {container}"):
                self._service.create_container(check_container(container))
        except ConflictError:
            pass  # exists already

    def upload(self, container: str, name: str, data: bytes, *, overwrite: bool = False,
               content_type: str | None = None) -> BlobInfo:
        return self._upload(container, name, data, len(data), overwrite, content_type)

    def upload_file(self, container: str, name: str, path: Path, *, overwrite: bool = False,
                    content_type: str | None = None) -> BlobInfo:
        with Path(path).open("rb") as handle:
            return self._upload(container, name, handle, os.fstat(handle.fileno()).st_size, overwrite,
                                content_type)

    def _upload(self, container: str, name: str, data: Any, length: int, overwrite: bool,
                content_type: str | None) -> BlobInfo:
        blob = self._blob(container, name)
        settings = ContentSettings(content_type=content_type) if content_type else None
        with _mapped(f"upload {container}/{name}"):
            result = blob.upload_blob(data, length=length, overwrite=overwrite, content_settings=settings)
        return BlobInfo(container=container, name=name, size=length, etag=normalize_etag(result["etag"]),
                        content_type=content_type, last_modified=_iso(result.get("last_modified")))

    def download(self, container: str, name: str, *, max_bytes: int | None = None) -> bytes:
        blob = self._blob(container, name)
        with _mapped(f"download {container}/{name}"):
            stream = blob.download_blob(max_concurrency=1)
            check_max_bytes(stream.size, max_bytes, container, name)
            return bytes(stream.readall())

    def download_to_file(self, container: str, name: str, path: Path, *,
                         max_bytes: int | None = None) -> BlobInfo:
        """Stream to path (replacing it); on any failure no partial file is left behind."""
        blob = self._blob(container, name)
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        try:
            with _mapped(f"download {container}/{name}"):
                stream = blob.download_blob(max_concurrency=1)
                check_max_bytes(stream.size, max_bytes, container, name)
                with partial.open("wb") as handle:
                    stream.readinto(handle)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return _info(container, name, stream.properties)

    def info(self, container: str, name: str) -> BlobInfo:
        blob = self._blob(container, name)
        with _mapped(f"info {container}/{name}"):
            return _info(container, name, blob.get_blob_properties())

    def list(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        client = self._service.get_container_client(check_container(container))
        check_prefix(prefix)
        with _mapped(f"list {container}/{prefix}"):
            for props in client.list_blobs(name_starts_with=prefix or None):
                yield _info(container, props.name, props)

    def url(self, container: str, name: str) -> str:
        return str(self._blob(container, name).url)

    def delete(self, container: str, name: str) -> None:
        """Delete one blob (used by clean-up tools and tests); missing → NotFoundError."""
        blob = self._blob(container, name)
        with _mapped(f"delete {container}/{name}"):
            blob.delete_blob()

