"""In-memory JobStore for unit tests: etags change on every write, replace checks them,
list pages newest first with an opaque continuation token, like CosmosJobStore."""

from __future__ import annotations

import copy
import itertools

from shared.adapters.cosmos_job_store import MAX_TOP
from shared.errors import ConflictError, NotFoundError, ValidationError
from shared.job_document import JobStatus
from shared.ports import JobDocument


class FakeJobStore:
    def __init__(self) -> None:
        self.docs: dict[str, JobDocument] = {}
        self._versions = itertools.count(1)
        self.writes = 0  # how many create/replace calls succeeded, for tests

    def _stored(self, doc: JobDocument) -> JobDocument:
        body = {k: v for k, v in copy.deepcopy(doc).items() if not k.startswith("_")}
        body["_etag"] = f'"{next(self._versions):08x}-0000-0000-0000-000000000000"'
        self.docs[body["id"]] = body
        self.writes += 1
        return copy.deepcopy(body)

    def create(self, doc: JobDocument) -> JobDocument:
        if doc["id"] in self.docs:
            raise ConflictError(f"create job {doc['id']}: already exists")
        return self._stored(doc)

    def get(self, job_id: str) -> JobDocument:
        try:
            return copy.deepcopy(self.docs[job_id])
        except KeyError:
            raise NotFoundError(f"job {job_id}: not found") from None

    def replace(self, doc: JobDocument, *, etag: str) -> JobDocument:
        current = self.docs.get(doc["id"])
        if current is None:
            raise NotFoundError(f"replace job {doc['id']}: not found")
        if current["_etag"] != etag:
            raise ConflictError(f"replace job {doc['id']}: changed since it was read")
        return self._stored(doc)

    def list(self, *, status: str | None = None, top: int = 50, continuation: str | None = None,
             name_prefix: str | None = None) -> tuple[list[JobDocument], str | None]:
        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
            raise ValidationError(f"top must be 1..{MAX_TOP}", field="top")
        if status is not None:
            try:
                JobStatus(status)
            except ValueError:
                raise ValidationError(f"unknown status {status!r}", field="status") from None
        try:
            offset = int(continuation.removeprefix("fake:")) if continuation else 0
        except ValueError:
            raise ValidationError("bad continuation token", field="continuationToken") from None
        docs = [d for d in self.docs.values() if (status is None or d.get("status") == status)
                and (name_prefix is None or str(d.get("name") or "").lower().startswith(name_prefix.lower()))]
        docs.sort(key=lambda d: (d.get("timestamps") or {}).get("createdAt") or "", reverse=True)
        page = docs[offset:offset + top]
        token = f"fake:{offset + top}" if offset + top < len(docs) else None
        return copy.deepcopy(page), token

    def ping(self) -> None:
        return None

    def delete(self, job_id: str) -> None:
        if self.docs.pop(job_id, None) is None:
            raise NotFoundError(f"delete job {job_id}: not found")
