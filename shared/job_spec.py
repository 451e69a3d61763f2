"""The job spec (what to render) and the manifest it is made from (render.json or the POST body).

Pure: no I/O, no environment, no clock (orchestrators import this module). Every
type is a frozen dataclass with to_json()/from_json() over plain camelCase dicts.
manifest_from_json checks every key a client may send and names the field at fault;
JobSpec checks the merged result again, so a spec read back from a job document is
as sane as one made from a manifest.

Resolution keeps what was asked for (odd sizes included); the stitch makes it even.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.errors import ValidationError
from shared.frames import FrameSet
from shared.paths import is_safe_relative_path

MAX_CHUNK_SIZE = 10_000
AUTO_CHUNK_SIZE = "auto"          # chunkSize the pipeline chooses from probe renders (planning.size_chunks)
MIN_RESOLUTION = 4                # Blender renders nothing smaller (its resolution_x/y minimum)
MAX_RESOLUTION = 16_384
MAX_FPS = 1_000.0
MAX_SAMPLES = 1_000_000
MAX_SCENE_NAME = 63             # Blender's ID name limit (MAX_ID_NAME - 2)
MAX_JOB_NAME = 200              # characters, after trimming: "shot010 lighting v3", not a document

FORMAT_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "OPEN_EXR": "exr", "TIFF": "tif"}  # as Blender writes them
VIDEO_CODECS = ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1")
ENGINES = ("CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH")
FRAME_ORDERS = ("sequential", "preview")  # preview: frames spread over the shot render first

@dataclass(frozen=True)
class Resolution:
    width: int
    height: int

    def __post_init__(self) -> None:
        for name, value in (("width", self.width), ("height", self.height)):
            if not _is_int(value) or not MIN_RESOLUTION <= value <= MAX_RESOLUTION:
                raise ValidationError(f"{name} must be an integer {MIN_RESOLUTION}..{MAX_RESOLUTION}",
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
    """What to render. engine/samples None means "as saved in the .blend"; chunk_size None means
    sized by the pipeline (chunkSize "auto")."""

    frames: FrameSet
    fps: float
    resolution: Resolution
    scene: str | None = None
    chunk_size: int | None = 10
    format: ImageFormat = ImageFormat.PNG
    video: VideoSpec | None = field(default_factory=VideoSpec)
    priority: int = 0
    max_retries: int = 2
    engine: str | None = None
    samples: int | None = None
    frame_order: str = "sequential"

    def __post_init__(self) -> None:
        if self.chunk_size is not None:
            _check_range(self.chunk_size, 1, MAX_CHUNK_SIZE, "chunkSize")
        if self.frame_order not in FRAME_ORDERS:
            raise ValidationError(f"frameOrder must be one of {', '.join(FRAME_ORDERS)}", field="frameOrder")
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
            "scene": self.scene, "frames": self.frames.to_json(),
            "chunkSize": AUTO_CHUNK_SIZE if self.chunk_size is None else self.chunk_size,
            "fps": _number(self.fps), "resolution": self.resolution.to_json(), "format": self.format.value,
            "video": self.video.to_json() if self.video else None, "priority": self.priority,
            "maxRetries": self.max_retries, "engine": self.engine, "samples": self.samples,
            "frameOrder": self.frame_order,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobSpec:
        return cls(
            frames=FrameSet.from_json(data["frames"]), fps=float(data["fps"]),
            resolution=Resolution.from_json(data["resolution"]), scene=data.get("scene"),
            chunk_size=_spec_chunk_size(data.get("chunkSize", 10)), format=ImageFormat(data.get("format", "PNG")),
            video=VideoSpec.from_json(data["video"]) if data.get("video") else None,
            priority=data.get("priority", 0), max_retries=data.get("maxRetries", 2),
            engine=data.get("engine"), samples=data.get("samples"),
            frame_order=data.get("frameOrder", "sequential"),
        )


# ---------------------------------------------------------------- manifest (render.json / POST body)

MANIFEST_KEYS = ("scene", "frames", "chunkSize", "fps", "resolution", "format", "video", "priority",
                 "maxRetries", "engine", "samples", "blend", "stuckAfterSeconds", "maxCost", "frameOrder",
                 "notBefore", "paused", "name")
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


MIN_STUCK_AFTER = 60             # a frame that takes under a minute is never "stuck" by this rule
MAX_STUCK_AFTER = 7 * 86_400
MAX_COST = 1_000_000_000.0


def _manifest_max_cost(value: Any) -> int | float:
    """A job's budget in the currency of NODE_PRICE_PER_HOUR_*: a positive number."""
    if (isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_COST
            or not _number(float(value)) > 0):  # 1e-9 would be stored as 0 (six decimals kept)
        raise ValidationError(f"must be a number above 0 and at most {MAX_COST:g}", field="maxCost")
    return _number(float(value))


def _manifest_format(value: Any) -> str:
    if not isinstance(value, str) or value not in FORMAT_EXTENSIONS:  # a list or object is unhashable
        raise ValidationError(f"format must be one of {', '.join(FORMAT_EXTENSIONS)}", field="format")
    return str(value)


def _manifest_engine(value: Any) -> str:
    if not isinstance(value, str) or value not in ENGINES:
        raise ValidationError(f"engine must be one of {', '.join(ENGINES)}", field="engine")
    return str(value)


def _manifest_frame_order(value: Any) -> str:
    if not isinstance(value, str) or value not in FRAME_ORDERS:
        raise ValidationError(f"must be one of {', '.join(FRAME_ORDERS)}", field="frameOrder")
    return str(value)


def _manifest_paused(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("must be true or false", field="paused")
    return value


_ISO_WITH_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")


def _manifest_not_before(value: Any) -> str:
    """An ISO-8601 time with its offset (a bare local time means nothing to a farm in another
    zone). The calendar and how far ahead it is are checked where a clock is
    (shared/pipeline/control.py's not_before)."""
    if not isinstance(value, str) or not _ISO_WITH_OFFSET.fullmatch(value):
        raise ValidationError("must be an ISO-8601 time with an offset, e.g. 2026-01-31T22:00:00+01:00",
                              field="notBefore")
    return value


# Line breaks and bidi overrides would let a name redraw a terminal table or a list line
# (a name reading as another job's); lone surrogates cannot be stored as UTF-8 at all.
_NOT_IN_NAMES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def forbidden_in_name(ch: str) -> bool:
    return unicodedata.category(ch) in _NOT_IN_NAMES or ch in _BIDI_CONTROLS


def check_job_name(value: Any) -> str:
    """A job's name as people write it ("shot010 lighting v3"): trimmed, 1..MAX_JOB_NAME characters,
    no control characters. Returned trimmed."""
    if not isinstance(value, str):
        raise ValidationError("must be a string", field="name")
    name = value.strip()
    if not 1 <= len(name) <= MAX_JOB_NAME:
        raise ValidationError(f"must be 1..{MAX_JOB_NAME} characters (surrounding spaces not counted)",
                              field="name")
    if any(map(forbidden_in_name, name)):
        raise ValidationError("must not hold control characters, line breaks or direction overrides",
                              field="name")
    return name


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


def _manifest_chunk_size(value: Any) -> int | str:
    """A number of frames per render task, or "auto": the pipeline sizes the chunks."""
    if value == AUTO_CHUNK_SIZE:
        return AUTO_CHUNK_SIZE
    if not _is_int(value) or not 1 <= value <= MAX_CHUNK_SIZE:
        raise ValidationError(f'must be "auto" or an integer 1..{MAX_CHUNK_SIZE}', field="chunkSize")
    return int(value)


def _spec_chunk_size(value: Any) -> int | None:
    return None if value == AUTO_CHUNK_SIZE else value


_MANIFEST_FIELDS: dict[str, Any] = {
    "scene": _manifest_scene,
    "frames": lambda v: FrameSet.parse(v).to_json(),
    "chunkSize": _manifest_chunk_size,
    "fps": _manifest_fps,
    "resolution": lambda v: Resolution.from_json(v).to_json(),
    "format": _manifest_format,
    "video": lambda v: None if v is None else VideoSpec.from_json(v).to_json(),
    "priority": _manifest_int("priority", -1000, 1000),
    "maxRetries": _manifest_int("maxRetries", 0, 10),
    "engine": _manifest_engine,
    "samples": _manifest_int("samples", 1, MAX_SAMPLES),
    "blend": _manifest_path("blend", (".blend",)),
    "stuckAfterSeconds": _manifest_int("stuckAfterSeconds", MIN_STUCK_AFTER, MAX_STUCK_AFTER),
    "maxCost": _manifest_max_cost,
    "bundle": _manifest_path("bundle", (".zip", ".blend")),
    "frameOrder": _manifest_frame_order,
    "notBefore": _manifest_not_before,
    "paused": _manifest_paused,
    "name": check_job_name,
}


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
