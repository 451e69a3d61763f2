"""The job document and its statuses: job and chunk status, chunks, errors, sources, job ids.

Pure: no I/O, no environment, no clock (orchestrators import this module); `now` is
always passed in.

ETags are kept bare: surrounding whitespace, a weak `W/` prefix and one pair of
double quotes are removed, so the SDK's `"0x8D…"` and Event Grid's `0x8D…` agree.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.errors import ValidationError
from shared.frames import FrameSet
from shared.job_spec import JobSpec

# ---------------------------------------------------------------- status


class JobStatus(StrEnum):
    QUEUED = "queued"
    VALIDATING = "validating"
    SCHEDULED = "scheduled"   # validated and planned, waiting for its notBefore time
    RENDERING = "rendering"
    PAUSED = "paused"         # no new task starts; `pause.resumeTo` says where resume goes
    STITCHING = "stitching"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def rank(self) -> int:
        """Position in the life of a job; terminal states share the last rank. A paused job
        keeps the rank of where it will resume (jobs.apply_status handles it apart)."""
        return _RANK[self]

    @property
    def can_pause(self) -> bool:
        return self in _PAUSABLE

    @property
    def can_retry(self) -> bool:
        """A new run of the same job (each run kept in `runs`); a completed job only with `all`."""
        return self in _END

    def can_become(self, target: JobStatus) -> bool:
        """Whether a job in this status may move to target (staying put is always fine)."""
        return target == self or target in _TRANSITIONS[self]


_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
_END = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
_PAUSABLE = frozenset({JobStatus.QUEUED, JobStatus.VALIDATING, JobStatus.SCHEDULED, JobStatus.RENDERING,
                       JobStatus.STITCHING})
_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    # A job may skip validating (HTTP jobs validated on submit), scheduled (no notBefore)
    # and stitching (no video). Pausing is possible until the job ends; a paused job goes back
    # to where it was (resume), or ends. Retrying a failed or cancelled job is jobs.apply_retry's
    # business (a new run), not a status move.
    JobStatus.QUEUED: frozenset({JobStatus.VALIDATING, JobStatus.SCHEDULED, JobStatus.RENDERING,
                                 JobStatus.PAUSED}) | _END,
    JobStatus.VALIDATING: frozenset({JobStatus.SCHEDULED, JobStatus.RENDERING, JobStatus.PAUSED}) | _END,
    JobStatus.SCHEDULED: frozenset({JobStatus.RENDERING, JobStatus.PAUSED}) | _END,
    JobStatus.RENDERING: frozenset({JobStatus.STITCHING, JobStatus.COMPLETED, JobStatus.PAUSED}) | _END,
    JobStatus.PAUSED: frozenset({JobStatus.VALIDATING, JobStatus.SCHEDULED, JobStatus.RENDERING,
                                 JobStatus.STITCHING}) | _END,
    JobStatus.STITCHING: frozenset({JobStatus.COMPLETED, JobStatus.PAUSED}) | _END,
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}
_RANK = {JobStatus.QUEUED: 0, JobStatus.VALIDATING: 1, JobStatus.SCHEDULED: 2, JobStatus.RENDERING: 3,
         JobStatus.PAUSED: 3, JobStatus.STITCHING: 4, JobStatus.COMPLETED: 5, JobStatus.FAILED: 5,
         JobStatus.CANCELLED: 5}


class ChunkStatus(StrEnum):
    PENDING = "pending"      # planned, no task added yet
    QUEUED = "queued"        # task added to the backend
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# ---------------------------------------------------------------- chunks, errors, sources


@dataclass(frozen=True)
class Chunk:
    """A run of consecutive frames rendered by one Batch task. attempts = runs started."""

    id: str
    frames: FrameSet
    status: ChunkStatus = ChunkStatus.PENDING
    attempts: int = 0
    seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "frames": self.frames.to_json(), "status": self.status.value,
                "attempts": self.attempts, "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Chunk:
        return cls(id=data["id"], frames=FrameSet.from_json(data["frames"]),
                   status=ChunkStatus(data.get("status", "pending")), attempts=int(data.get("attempts", 0)),
                   seconds=data.get("seconds"))


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str
    details: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ErrorInfo:
        return cls(code=str(data["code"]), message=str(data["message"]), details=data.get("details"))


class SourceKind(StrEnum):
    BLOB = "blob"   # a bundle dropped into the scenes container
    HTTP = "http"   # POST /api/jobs


@dataclass(frozen=True)
class JobSource:
    """Where a job came from and which bundle it renders (container + blob name)."""

    kind: SourceKind
    container: str
    blob_name: str
    blob_url: str
    etag: str | None = None
    submitter: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "container": self.container, "blobName": self.blob_name,
                "blobUrl": self.blob_url, "eTag": self.etag, "submitter": self.submitter}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobSource:
        return cls(kind=SourceKind(data["kind"]), container=data["container"], blob_name=data["blobName"],
                   blob_url=data["blobUrl"], etag=data.get("eTag"), submitter=data.get("submitter"))


# ---------------------------------------------------------------- job ids

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def normalize_etag(etag: str) -> str:
    value = etag.strip()
    if value.startswith("W/"):
        value = value[2:]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def upload_job_id(blob_url: str, etag: str) -> str:
    """Same blob version → same job id, so a redelivered BlobCreated event is a no-op.

    blob_url is used as given (only surrounding whitespace removed): pass the event's
    `data.url` every time, not a URL rebuilt by an SDK, whose percent-encoding may differ.
    The eTag is normalized (normalize_etag), so quoted and bare forms give the same id."""
    if not blob_url.strip() or not etag.strip():
        raise ValidationError("blob url and eTag are required for an upload job id", field="source")
    digest = hashlib.sha256(f"{blob_url.strip()}|{normalize_etag(etag)}".encode()).hexdigest()
    return "job-" + digest[:32]


def new_job_id(random_hex: str) -> str:
    """A fresh HTTP job id from caller-supplied randomness (e.g. uuid4().hex), keeping this module pure."""
    if not re.fullmatch(r"[0-9a-f]{32}", random_hex):
        raise ValueError("random_hex must be 32 lowercase hex digits")
    return "job-" + random_hex


def validate_job_id(value: object, *, field_name: str = "jobId") -> str:
    """A client-supplied job id or Idempotency-Key: a valid Batch job id (letters, digits, - and _, ≤ 64)."""
    if not isinstance(value, str) or not _CLIENT_ID.fullmatch(value):  # fullmatch: "$" allows a final "\n"
        raise ValidationError("must be 1-64 letters, digits, hyphens or underscores", field=field_name)
    return value


# ---------------------------------------------------------------- job document


def job_document(job_id: str, source: JobSource, *, now: str, renders_container: str,
                 spec: JobSpec | None = None) -> dict[str, Any]:
    """A new job document (DESIGN.md); `now` is passed in to keep this module clock-free."""
    return {
        "id": validate_job_id(job_id, field_name="id"),
        "status": JobStatus.QUEUED.value,
        "source": source.to_json(),
        "spec": spec.to_json() if spec else None,
        "chunkCount": 0,       # the chunks themselves are in pages (shared.chunk_pages)
        "chunkPageCount": 0,
        "progress": {"framesDone": 0, "framesTotal": len(spec.frames) if spec else 0,
                     "chunksDone": 0, "chunksFailed": 0, "chunksTotal": 0},
        "outputs": {"container": renders_container, "framesPrefix": f"{job_id}/frames/", "videoUrl": None},
        "error": None,
        "timestamps": {"createdAt": now, "updatedAt": now, "startedAt": None, "finishedAt": None},
        "history": {"statuses": [{"status": JobStatus.QUEUED.value, "at": now}], "requeues": 0},
        "run": 1,
        "runs": [{"run": 1, "startedAt": now, "endedAt": None, "status": None, "error": None}],
    }


def current_run(doc: Mapping[str, Any]) -> int:
    """The run a job is in (documents written before retries existed are in run 1)."""
    return int(doc.get("run") or 1)

