"""In-memory BlobStore for unit tests, with AzureBlobStore's rules: names checked, no
overwrite unless asked, a missing container or blob is NotFoundError, max_bytes enforced."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.adapters.blob_store import check_blob_name, check_container, check_max_bytes, check_prefix
from shared.errors import ConflictError, NotFoundError
from shared.ports import BlobInfo


@dataclass
class _Blob:
    data: bytes
    etag: str
    content_type: str | None
    last_modified: str


class FakeBlobStore:
    def __init__(self, base_url: str = "http://blobs.invalid/account") -> None:
        self.base_url = base_url.rstrip("/")
        self.containers: dict[str, dict[str, _Blob]] = {}
        self._versions = itertools.count(1)

    def ensure_container(self, container: str) -> None:
        self.containers.setdefault(check_container(container), {})

    def _container(self, container: str) -> dict[str, _Blob]:
        try:
            return self.containers[check_container(container)]
        except KeyError:
            raise NotFoundError(f"container {container}: not found") from None

    def _get(self, container: str, name: str) -> _Blob:
        check_blob_name(name)
        try:
            return self._container(container)[name]
        except KeyError:
            raise NotFoundError(f"{container}/{name}: not found") from None

    def upload(self, container: str, name: str, data: bytes, *, overwrite: bool = False,
               content_type: str | None = None) -> BlobInfo:
        check_blob_name(name)
        blobs = self._container(container)
        if name in blobs and not overwrite:
            raise ConflictError(f"upload {container}/{name}: already exists")
        version = next(self._versions)
        etag = "0x" + hashlib.sha256(f"{version}".encode() + data).hexdigest()[:15].upper()
        blobs[name] = _Blob(bytes(data), etag, content_type, f"2026-01-01T00:00:{version % 60:02d}Z")
        return self._info(container, name, blobs[name])

    def upload_file(self, container: str, name: str, path: Path, *, overwrite: bool = False,
                    content_type: str | None = None) -> BlobInfo:
        return self.upload(container, name, Path(path).read_bytes(), overwrite=overwrite,
                           content_type=content_type)

    def download(self, container: str, name: str, *, max_bytes: int | None = None) -> bytes:
        blob = self._get(container, name)
        check_max_bytes(len(blob.data), max_bytes, container, name)
        return blob.data

    def download_to_file(self, container: str, name: str, path: Path, *,
                         max_bytes: int | None = None) -> BlobInfo:
        data = self.download(container, name, max_bytes=max_bytes)
        partial = Path(path).with_name(Path(path).name + ".partial")
        partial.write_bytes(data)
        shutil.move(partial, path)
        return self.info(container, name)

    def info(self, container: str, name: str) -> BlobInfo:
        return self._info(container, name, self._get(container, name))

    def list(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        check_prefix(prefix)
        blobs = self._container(container)
        for name in sorted(blobs):
            if name.startswith(prefix):
                yield self._info(container, name, blobs[name])

    def url(self, container: str, name: str) -> str:
        return f"{self.base_url}/{check_container(container)}/{check_blob_name(name)}"

    def delete(self, container: str, name: str) -> None:
        self._get(container, name)
        del self._container(container)[name]

    @staticmethod
    def _info(container: str, name: str, blob: _Blob) -> BlobInfo:
        return BlobInfo(container=container, name=name, size=len(blob.data), etag=blob.etag,
                        content_type=blob.content_type, last_modified=blob.last_modified)
