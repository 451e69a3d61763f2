"""The render domain: job status, frames, specs, chunks, job ids and the job document.

Pure: no I/O, no environment, no clock (orchestrators import this module). Every
type is a frozen dataclass with to_json()/from_json() over plain camelCase dicts,
so values cross orchestration and process boundaries as JSON.

Decisions worth knowing:
- Frames are non-negative (0..MAX_FRAME). Blender's command line reads `-f -5` as
  "5 before the end", and a minus sign would break the `<name>_<padded frame>`
  file names FFmpeg's `%04d` pattern expects, so negative frames are rejected.
- A FrameSet is sorted ascending whatever order the spec lists; duplicate frames
  (including overlapping ranges) are rejected rather than silently merged, since
  they usually mean a typo.
- Resolution keeps what was asked for (odd sizes included); the stitch makes it even.
- ETags are kept bare: surrounding whitespace, a weak `W/` prefix and one pair of
  double quotes are removed, so the SDK's `"0x8D…"` and Event Grid's `0x8D…` agree.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.errors import ValidationError

MAX_FRAME = 1_048_574           # Blender's MAXFRAME
MAX_FRAMES_PER_JOB = 100_000    # beyond this a spec is a typo, not a shot
MAX_FRAME_SPEC_CHARS = 4_096
MAX_CHUNK_SIZE = 10_000
MAX_RESOLUTION = 16_384
MAX_FPS = 1_000.0
MAX_SAMPLES = 1_000_000
MAX_SCENE_NAME = 63             # Blender's ID name limit (MAX_ID_NAME - 2)

FORMAT_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "OPEN_EXR": "exr", "TIFF": "tif"}  # as Blender writes them
VIDEO_CODECS = ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1")
ENGINES = ("CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH")


# ---------------------------------------------------------------- status


class JobStatus(StrEnum):
    QUEUED = "queued"
    VALIDATING = "validating"
    RENDERING = "rendering"
    STITCHING = "stitching"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def rank(self) -> int:
        """Position in the life of a job; terminal states share the last rank."""
        return _RANK[self]

    def can_become(self, target: JobStatus) -> bool:
        """Whether a job in this status may move to target (staying put is always fine)."""
        return target == self or target in _TRANSITIONS[self]


_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
_END = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    # A job may skip validating (HTTP jobs validated on submit) and stitching (no video).
    JobStatus.QUEUED: frozenset({JobStatus.VALIDATING, JobStatus.RENDERING}) | _END,
    JobStatus.VALIDATING: frozenset({JobStatus.RENDERING}) | _END,
    JobStatus.RENDERING: frozenset({JobStatus.STITCHING, JobStatus.COMPLETED}) | _END,
    JobStatus.STITCHING: frozenset({JobStatus.COMPLETED}) | _END,
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}
_RANK = {JobStatus.QUEUED: 0, JobStatus.VALIDATING: 1, JobStatus.RENDERING: 2, JobStatus.STITCHING: 3,
         JobStatus.COMPLETED: 4, JobStatus.FAILED: 4, JobStatus.CANCELLED: 4}


class ChunkStatus(StrEnum):
    PENDING = "pending"      # planned, no task added yet
    QUEUED = "queued"        # task added to the backend
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# ---------------------------------------------------------------- frames

_FRAME_ITEM = re.compile(r"^(\d+)(?:-(\d+)(?:x(\d+))?)?$")


@dataclass(frozen=True, repr=False)
class FrameSet:
    """An ascending set of distinct frames, written as "1-240", "1,5,10-20" or "1-100x5"."""

    frames: tuple[int, ...]

    def __repr__(self) -> str:  # 100 000 frames should not flood a log line
        return f"FrameSet({self.to_spec()!r})"

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValidationError("frame set is empty", field="frames")
        if any(b <= a for a, b in itertools.pairwise(self.frames)):
            raise ValidationError("frames must be ascending and distinct", field="frames")
        if self.frames[0] < 0 or self.frames[-1] > MAX_FRAME:
            raise ValidationError(f"frames must be within 0..{MAX_FRAME}", field="frames")
        if len(self.frames) > MAX_FRAMES_PER_JOB:
            raise ValidationError(f"more than {MAX_FRAMES_PER_JOB} frames", field="frames")

    @classmethod
    def parse(cls, spec: str, *, field_name: str = "frames") -> FrameSet:
        if not isinstance(spec, str):
            raise ValidationError("frames must be a string such as \"1-240\"", field=field_name)
        if len(spec) > MAX_FRAME_SPEC_CHARS:
            raise ValidationError(f"frames spec longer than {MAX_FRAME_SPEC_CHARS} characters",
                                  field=field_name)
        items = [item.strip() for item in spec.split(",")]
        if not spec.strip() or any(not item for item in items):
            raise ValidationError("frames spec has an empty item", field=field_name)
        ranges = [_parse_item(item, field_name) for item in items]
        total = sum(len(r) for r in ranges)
        if total > MAX_FRAMES_PER_JOB:  # before expanding, so "0-1048574" costs nothing
            raise ValidationError(f"{total} frames: more than {MAX_FRAMES_PER_JOB}", field=field_name)
        frames = sorted(f for r in ranges for f in r)
        duplicate = next((a for a, b in itertools.pairwise(frames) if a == b), None)
        if duplicate is not None:
            raise ValidationError(f"frame {duplicate} is listed more than once", field=field_name)
        return cls(tuple(frames))

    @classmethod
    def range(cls, start: int, end: int, step: int = 1) -> FrameSet:
        if end < start or step < 1:
            raise ValidationError(f"bad frame range {start}..{end} step {step}", field="frames")
        if (end - start) // step + 1 > MAX_FRAMES_PER_JOB:
            raise ValidationError(f"more than {MAX_FRAMES_PER_JOB} frames", field="frames")
        return cls(tuple(range(start, end + 1, step)))

    def __iter__(self) -> Iterator[int]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def __contains__(self, frame: object) -> bool:
        if not isinstance(frame, int):
            return False
        i = bisect.bisect_left(self.frames, frame)
        return i < len(self.frames) and self.frames[i] == frame

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def runs(self) -> list[tuple[int, int, int]]:
        """Greedy arithmetic runs (start, end, step) covering the frames in order."""
        runs: list[tuple[int, int, int]] = []
        frames = self.frames
        i = 0
        while i < len(frames):
            j = i
            if i + 1 < len(frames):
                step = frames[i + 1] - frames[i]
                j = i + 1
                while j + 1 < len(frames) and frames[j + 1] - frames[j] == step:
                    j += 1
                if step > 1 and j - i < 2:  # two frames with a gap read better as "a,b"
                    j = i
            runs.append((frames[i], frames[j], frames[j] - frames[j - 1] if j > i else 1))
            i = j + 1
        return runs

    def to_spec(self) -> str:
        """The canonical spec string; FrameSet.parse(x.to_spec()) == x."""
        parts = []
        for start, end, step in self.runs():
            if start == end:
                parts.append(str(start))
            elif step == 1:
                parts.append(f"{start}-{end}")
            else:
                parts.append(f"{start}-{end}x{step}")
        return ",".join(parts)

    def to_blender(self) -> str:
        """Blender's `-f` syntax: comma list with `a..b` for consecutive runs (no step form)."""
        parts = []
        for start, end, step in self.runs():
            if start == end:
                parts.append(str(start))
            elif step == 1:
                parts.append(f"{start}..{end}")
            else:
                parts.extend(str(f) for f in range(start, end + 1, step))
        return ",".join(parts)

    def to_json(self) -> str:
        return self.to_spec()

    @classmethod
    def from_json(cls, data: str) -> FrameSet:
        return cls.parse(data)


def _parse_item(item: str, field_name: str) -> range:
    match = _FRAME_ITEM.match(item)
    if not match:
        raise ValidationError(f"bad frames item {item!r}: use N, A-B or A-BxSTEP with frames ≥ 0",
                              field=field_name)
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) is not None else start
    step = int(match.group(3)) if match.group(3) is not None else 1
    if start > MAX_FRAME or end > MAX_FRAME:
        raise ValidationError(f"frame in {item!r} is above {MAX_FRAME}", field=field_name)
    if end < start:
        raise ValidationError(f"range {item!r} is reversed", field=field_name)
    if step < 1:
        raise ValidationError(f"step in {item!r} must be at least 1", field=field_name)
    return range(start, end + 1, step)


# ---------------------------------------------------------------- spec parts


@dataclass(frozen=True)
class Resolution:
    width: int
    height: int

    def __post_init__(self) -> None:
        for name, value in (("width", self.width), ("height", self.height)):
            if not _is_int(value) or not 1 <= value <= MAX_RESOLUTION:
                raise ValidationError(f"{name} must be an integer 1..{MAX_RESOLUTION}",
                                      field=f"resolution.{name}")

    def to_json(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height}

    @classmethod
    def from_json(cls, data: Any) -> Resolution:
        """{"width": w, "height": h}, or "WxH" as artists write it."""
        if isinstance(data, str):
            match = re.fullmatch(r"\s*(\d{1,6})\s*[xX]\s*(\d{1,6})\s*", data)
            if not match:
                raise ValidationError("resolution must look like \"1920x1080\"", field="resolution")
            return cls(int(match.group(1)), int(match.group(2)))
        if isinstance(data, Mapping):
            _reject_unknown(data, {"width", "height"}, "resolution")
            return cls(data.get("width"), data.get("height"))  # type: ignore[arg-type]
        raise ValidationError("resolution must be \"WxH\" or {width, height}", field="resolution")


_VIDEO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\.mp4$")


@dataclass(frozen=True)
class VideoSpec:
    codec: str = "libx264"
    crf: int = 18
    name: str = "video.mp4"

    def __post_init__(self) -> None:
        if self.codec not in VIDEO_CODECS:
            raise ValidationError(f"codec must be one of {', '.join(VIDEO_CODECS)}", field="video.codec")
        if not _is_int(self.crf) or not 0 <= self.crf <= 51:
            raise ValidationError("crf must be an integer 0..51", field="video.crf")
        if not isinstance(self.name, str) or not _VIDEO_NAME.fullmatch(self.name) or ".." in self.name:
            raise ValidationError("name must be a plain file name (letters, digits, . _ -) ending .mp4",
                                  field="video.name")

    def to_json(self) -> dict[str, Any]:
        return {"codec": self.codec, "crf": self.crf, "name": self.name}

    @classmethod
    def from_json(cls, data: Any) -> VideoSpec:
        if not isinstance(data, Mapping):
            raise ValidationError("video must be an object or null", field="video")
        _reject_unknown(data, {"codec", "crf", "name"}, "video")
        defaults = cls()
        return cls(codec=data.get("codec", defaults.codec), crf=data.get("crf", defaults.crf),
                   name=data.get("name", defaults.name))


class ImageFormat(StrEnum):
    PNG = "PNG"
    JPEG = "JPEG"
    OPEN_EXR = "OPEN_EXR"
    TIFF = "TIFF"

    @property
    def extension(self) -> str:
        return FORMAT_EXTENSIONS[self.value]


@dataclass(frozen=True)
class JobSpec:
    """What to render. engine/samples None means "as saved in the .blend"."""

    frames: FrameSet
    fps: float
    resolution: Resolution
    scene: str | None = None
    chunk_size: int = 10
    format: ImageFormat = ImageFormat.PNG
    video: VideoSpec | None = field(default_factory=VideoSpec)
    priority: int = 0
    max_retries: int = 2
    engine: str | None = None
    samples: int | None = None

    def __post_init__(self) -> None:
        _check_range(self.chunk_size, 1, MAX_CHUNK_SIZE, "chunkSize")
        _check_range(self.priority, -1000, 1000, "priority")
        _check_range(self.max_retries, 0, 10, "maxRetries")
        _check_fps(self.fps, "fps")
        _check_scene(self.scene, "scene")
        if self.engine is not None and self.engine not in ENGINES:
            raise ValidationError(f"engine must be one of {', '.join(ENGINES)}", field="engine")
        if self.samples is not None:
            _check_range(self.samples, 1, MAX_SAMPLES, "samples")

    def to_json(self) -> dict[str, Any]:
        return {
            "scene": self.scene, "frames": self.frames.to_json(), "chunkSize": self.chunk_size,
            "fps": _number(self.fps), "resolution": self.resolution.to_json(), "format": self.format.value,
            "video": self.video.to_json() if self.video else None, "priority": self.priority,
            "maxRetries": self.max_retries, "engine": self.engine, "samples": self.samples,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobSpec:
        return cls(
            frames=FrameSet.from_json(data["frames"]), fps=float(data["fps"]),
            resolution=Resolution.from_json(data["resolution"]), scene=data.get("scene"),
            chunk_size=data.get("chunkSize", 10), format=ImageFormat(data.get("format", "PNG")),
            video=VideoSpec.from_json(data["video"]) if data.get("video") else None,
            priority=data.get("priority", 0), max_retries=data.get("maxRetries", 2),
            engine=data.get("engine"), samples=data.get("samples"),
        )


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
        "chunks": [],
        "progress": {"framesDone": 0, "framesTotal": len(spec.frames) if spec else 0,
                     "chunksDone": 0, "chunksFailed": 0, "chunksTotal": 0},
        "outputs": {"container": renders_container, "framesPrefix": f"{job_id}/frames/", "videoUrl": None},
        "error": None,
        "timestamps": {"createdAt": now, "updatedAt": now, "startedAt": None, "finishedAt": None},
        "history": {"statuses": [{"status": JobStatus.QUEUED.value, "at": now}], "requeues": 0},
    }


# ---------------------------------------------------------------- manifest (render.json / POST body)

MANIFEST_KEYS = ("scene", "frames", "chunkSize", "fps", "resolution", "format", "video", "priority",
                 "maxRetries", "engine", "samples", "blend")
REQUEST_KEYS = (*MANIFEST_KEYS, "bundle")
MAX_REPORTED_ERRORS = 20   # a render.json of 100,000 unknown keys must not make a 4 MB error
MAX_REPORTED_KEY = 100


def manifest_from_json(data: Any, *, request: bool = False) -> dict[str, Any]:
    """Validate render.json (or, with request=True, the POST /api/jobs body, which must
    name its `bundle` blob). Returns only the keys given, normalized to plain JSON.
    Raises ValidationError(code="manifest_invalid") naming the first bad field, with
    the first MAX_REPORTED_ERRORS problems in details["errors"] (errorCount: how many)."""
    if not isinstance(data, Mapping):
        raise ValidationError("must be a JSON object", code="manifest_invalid", field="body" if request else "")
    allowed = REQUEST_KEYS if request else MANIFEST_KEYS
    errors: list[dict[str, str]] = []
    out: dict[str, Any] = {}
    for key in data:
        if key not in allowed:
            name = str(key)
            errors.append({"field": name if len(name) <= MAX_REPORTED_KEY else name[:MAX_REPORTED_KEY] + "…",
                           "message": "unknown key"})
    for key in allowed:
        if key not in data:
            continue
        try:
            out[key] = _MANIFEST_FIELDS[key](data[key])
        except ValidationError as exc:
            errors.append({"field": exc.field or key, "message": exc.message})
    if request and "bundle" not in data:
        errors.append({"field": "bundle", "message": "required: the scene bundle's blob name"})
    if errors:
        first = errors[0]
        shown = errors[:MAX_REPORTED_ERRORS]
        message = "; ".join(f"{e['field']}: {e['message']}" for e in shown)
        if len(errors) > len(shown):
            message += f"; and {len(errors) - len(shown)} more"
        raise ValidationError(message, field=first["field"], code="manifest_invalid",
                              details={"errors": shown, "errorCount": len(errors)})
    return out


def _manifest_scene(value: Any) -> Any:
    _check_scene(value, "scene")
    return value


def _manifest_int(name: str, low: int, high: int) -> Any:
    def check(value: Any) -> int:
        _check_range(value, low, high, name)
        return int(value)
    return check


def _manifest_fps(value: Any) -> Any:
    _check_fps(value, "fps")
    _check_fps(_number(float(value)), "fps")  # 1e-9 would be stored as 0 (six decimals kept)
    return _number(float(value))


def _manifest_format(value: Any) -> str:
    if not isinstance(value, str) or value not in FORMAT_EXTENSIONS:  # a list or object is unhashable
        raise ValidationError(f"format must be one of {', '.join(FORMAT_EXTENSIONS)}", field="format")
    return str(value)


def _manifest_engine(value: Any) -> str:
    if not isinstance(value, str) or value not in ENGINES:
        raise ValidationError(f"engine must be one of {', '.join(ENGINES)}", field="engine")
    return str(value)


def _manifest_path(name: str, suffixes: tuple[str, ...]) -> Any:
    def check(value: Any) -> str:
        if (not isinstance(value, str) or not is_safe_relative_path(value) or len(value) > 1024
                or any(ord(ch) < 32 or ord(ch) == 127 for ch in value)):  # as blob_store.check_blob_name
            raise ValidationError("must be a relative path without '..', '\\', control characters "
                                  "or empty segments", field=name)
        if not value.lower().endswith(suffixes):
            raise ValidationError(f"must end with {' or '.join(suffixes)}", field=name)
        return value
    return check


_MANIFEST_FIELDS: dict[str, Any] = {
    "scene": _manifest_scene,
    "frames": lambda v: FrameSet.parse(v).to_json(),
    "chunkSize": _manifest_int("chunkSize", 1, MAX_CHUNK_SIZE),
    "fps": _manifest_fps,
    "resolution": lambda v: Resolution.from_json(v).to_json(),
    "format": _manifest_format,
    "video": lambda v: None if v is None else VideoSpec.from_json(v).to_json(),
    "priority": _manifest_int("priority", -1000, 1000),
    "maxRetries": _manifest_int("maxRetries", 0, 10),
    "engine": _manifest_engine,
    "samples": _manifest_int("samples", 1, MAX_SAMPLES),
    "blend": _manifest_path("blend", (".blend",)),
    "bundle": _manifest_path("bundle", (".zip", ".blend")),
}


# ---------------------------------------------------------------- helpers


def is_safe_relative_path(path: str) -> bool:
    """No absolute paths, drive letters, backslashes, NULs, or empty/"."/".." segments."""
    if not path or "\\" in path or "\x00" in path or path.startswith("/"):
        return False
    if re.match(r"^[A-Za-z]:", path):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_range(value: object, low: int, high: int, name: str) -> None:
    if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
        raise ValidationError(f"must be an integer {low}..{high}", field=name)


def _check_fps(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_FPS:
        raise ValidationError(f"must be a number above 0 and at most {MAX_FPS:g}", field=name)


def _check_scene(value: object, name: str) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_SCENE_NAME or not value.isprintable():
        raise ValidationError(f"must be a scene name of 1..{MAX_SCENE_NAME} printable characters",
                              field=name)


def _number(value: float) -> int | float:
    """fps as JSON: 24 rather than 24.0, and 23.976024 rather than 23.976023976023978."""
    return int(value) if float(value).is_integer() else round(float(value), 6)


def _reject_unknown(data: Mapping[str, Any], allowed: Iterable[str], prefix: str) -> None:
    for key in data:
        if key not in allowed:
            raise ValidationError("unknown key", field=f"{prefix}.{key}")
