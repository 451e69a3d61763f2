"""Planning a render: merge the spec, split frames into chunks, track progress and retries.

Pure (orchestrators import it): no I/O, no environment, no clock.

Precedence when merging a spec: the manifest (render.json or the POST body) wins over
what the .blend says, which wins over the defaults. The .blend contributes only what an
artist sets in the scene (scene name, frame range, fps, resolution); chunk size, image
format, video, priority and retries come from the manifest or the studio defaults.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shared import names
from shared.errors import ValidationError
from shared.frames import FrameSet
from shared.job_document import Chunk, ChunkStatus
from shared.job_spec import AUTO_CHUNK_SIZE, MAX_CHUNK_SIZE, ImageFormat, JobSpec, Resolution, VideoSpec

FRAME_PADDING = 4  # Blender's "####": frames ≥ 10000 simply get more digits, as FFmpeg's %04d expects


@dataclass(frozen=True)
class SpecDefaults:
    """Studio defaults, used where neither the manifest nor the .blend says otherwise."""

    chunk_size: int | None = 10   # None: sized by the pipeline (chunkSize "auto")
    max_retries: int = 2
    frames: str = "1-250"
    fps: float = 24
    resolution: Resolution = field(default_factory=lambda: Resolution(1920, 1080))
    format: ImageFormat = ImageFormat.PNG
    video: VideoSpec | None = field(default_factory=VideoSpec)
    priority: int = 0


@dataclass(frozen=True)
class BlendInfo:
    """What inspecting the .blend found: its scene's frame range, fps and output size
    (resolution already scaled by the scene's resolution percentage)."""

    scene: str | None = None
    frame_start: int | None = None
    frame_end: int | None = None
    frame_step: int = 1
    fps: float | None = None
    resolution: Resolution | None = None
    engine: str | None = None

    def frames(self) -> FrameSet | None:
        if self.frame_start is None or self.frame_end is None:
            return None
        return FrameSet.range(self.frame_start, self.frame_end, max(1, self.frame_step))

    def to_json(self) -> dict[str, Any]:
        return {"scene": self.scene, "frameStart": self.frame_start, "frameEnd": self.frame_end,
                "frameStep": self.frame_step, "fps": self.fps,
                "resolution": self.resolution.to_json() if self.resolution else None, "engine": self.engine}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BlendInfo:
        res = data.get("resolution")
        return cls(scene=data.get("scene"), frame_start=data.get("frameStart"),
                   frame_end=data.get("frameEnd"),
                   frame_step=int(data.get("frameStep") or 1), fps=data.get("fps"),
                   resolution=Resolution.from_json(res) if res else None, engine=data.get("engine"))


def combine_manifests(*manifests: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validated manifests, highest priority first (e.g. POST body, then render.json)."""
    combined: dict[str, Any] = {}
    for manifest in reversed([m for m in manifests if m]):
        combined.update(manifest)
    return combined


def merge_spec(manifest: Mapping[str, Any], blend: BlendInfo | None, defaults: SpecDefaults) -> JobSpec:
    """manifest (validated by job_spec.manifest_from_json) > .blend > defaults."""
    blend = blend or BlendInfo()
    frames = (FrameSet.parse(manifest["frames"]) if "frames" in manifest
              else blend.frames() or FrameSet.parse(defaults.frames))
    resolution = (Resolution.from_json(manifest["resolution"]) if "resolution" in manifest
                  else blend.resolution or defaults.resolution)
    if "video" in manifest:
        video = VideoSpec.from_json(manifest["video"]) if manifest["video"] is not None else None
    else:
        video = defaults.video
    return JobSpec(
        frames=frames,
        fps=_first(manifest.get("fps"), blend.fps, defaults.fps),
        resolution=resolution,
        scene=_first(manifest.get("scene"), blend.scene),
        chunk_size=(_chunk_size(manifest["chunkSize"]) if "chunkSize" in manifest else defaults.chunk_size),
        format=ImageFormat(manifest.get("format", defaults.format.value)),
        video=video,
        priority=_first(manifest.get("priority"), defaults.priority),
        max_retries=_first(manifest.get("maxRetries"), defaults.max_retries),
        engine=manifest.get("engine"),
        samples=manifest.get("samples"),
        frame_order=manifest.get("frameOrder", "sequential"),
    )


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _chunk_size(value: Any) -> int | None:
    """The manifest's chunkSize: "auto" is None, whatever the studio's default says."""
    return None if value == AUTO_CHUNK_SIZE else int(value)


# ---------------------------------------------------------------- chunks


def plan_chunks(frames: FrameSet, chunk_size: int, order: str = "sequential") -> tuple[Chunk, ...]:
    """chunk_size frames per chunk; ids chunk-0001… (wider past 9999), added in this order.

    sequential: consecutive frames. preview: the frames in FrameSet.preview_order, so the
    first chunks hold frames spread over the whole shot and the later ones fill the gaps;
    each chunk is still one frame list Blender renders in one process (`-f a,b,c`)."""
    if chunk_size < 1:
        raise ValidationError("chunk size must be at least 1", field="chunkSize")
    ordered = frames.preview_order() if order == "preview" else frames.frames
    groups = [tuple(sorted(ordered[i:i + chunk_size])) for i in range(0, len(ordered), chunk_size)]
    width = max(4, len(str(len(groups))))
    return tuple(Chunk(id=f"chunk-{n:0{width}d}", frames=FrameSet(group))
                 for n, group in enumerate(groups, 1))


# ---------------------------------------------------------------- threads and automatic chunk sizes
#
# A job without a chunkSize (or "auto") starts with probe chunks: one frame each, one per task
# slot, spread over the shot (so they preview it too). Their measured seconds per frame and
# start-up size the rest, as Deadline Cloud's targetRuntimeSeconds does: each task about
# target_seconds, in whole waves of equal chunks so that every slot stays busy to the end.

FALLBACK_CHUNK_SIZE = 10       # frames per chunk when no probe was timed (their markers were unreadable)
MIN_FRAME_SECONDS = 0.001      # a frame timed at 0 s must not make one chunk of every frame


def render_threads(node_cores: int, slots: int, override: int = 0) -> int | None:
    """Blender's `-t` for a render task: the override, else the node's cores shared by the tasks
    that run on it at once (at least one each); None when the cores are unknown (Blender then
    takes every core it sees, as it does by itself)."""
    if override > 0:
        return override
    if node_cores <= 0:
        return None
    return max(1, node_cores // max(1, slots))


def plan_probe_chunks(frames: FrameSet, slots: int) -> tuple[Chunk, ...]:
    """The first chunks of an automatically sized job: single frames, one per slot, in preview
    order (the first, the last, then the middle…); ids probe-0001…, which wake a wait of their own
    (names.wait_instance_for_task)."""
    count = min(len(frames), max(1, slots))
    width = max(4, len(str(count)))
    return tuple(Chunk(id=f"{names.PROBE_CHUNK_PREFIX}{n:0{width}d}", frames=FrameSet((frame,)))
                 for n, frame in enumerate(frames.preview_order()[:count], 1))


def unplanned_frames(frames: FrameSet, chunks: Sequence[Chunk]) -> tuple[int, ...]:
    """The job's frames no chunk holds yet (an automatically sized job's, before sizing)."""
    planned = {f for c in chunks for f in c.frames}
    return tuple(f for f in frames if f not in planned)


@dataclass(frozen=True)
class ProbeTiming:
    """What the probes measured: a frame's seconds, and a task's seconds beyond its frames
    (files in and out, Blender's start-up, loading the scene)."""

    seconds_per_frame: float
    startup_seconds: float

    def to_json(self) -> dict[str, float]:
        return {"secondsPerFrame": round(self.seconds_per_frame, 3), "startupSeconds": round(self.startup_seconds, 3)}


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 30 * 86_400:
        return None  # also nan and inf: what a node wrote is input
    return float(value)


def probe_timing(samples: Iterable[tuple[Any, Mapping[str, Any] | None]]) -> ProbeTiming | None:
    """Medians over finished probes, each (task seconds, {frame: seconds}); None if no frame was timed."""
    frame_seconds: list[float] = []
    startups: list[float] = []
    for total, per_frame in samples:
        values = [v for v in map(_seconds, (per_frame or {}).values()) if v is not None]
        if not values:
            continue
        frame_seconds += values
        task = _seconds(total)
        if task is not None:
            startups.append(max(0.0, task - sum(values)))
    if not frame_seconds:
        return None
    return ProbeTiming(_median(frame_seconds), _median(startups) if startups else 0.0)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def frames_per_task(timing: ProbeTiming, target_seconds: float) -> int:
    """Frames that make a task of about target_seconds, start-up included; never so few that the
    start-up outweighs the frames (a target shorter than the start-up gives start-up ≈ frames)."""
    budget = max(target_seconds - timing.startup_seconds, timing.startup_seconds)
    return max(1, min(MAX_CHUNK_SIZE, round(budget / max(timing.seconds_per_frame, MIN_FRAME_SECONDS))))


def size_chunks(frames: FrameSet, chunks: Sequence[Chunk], timing: ProbeTiming | None, *,
                target_seconds: float, slots: int, order: str = "sequential",
                max_chunks: int | None = None) -> tuple[Chunk, ...]:
    """Chunks for the frames not yet planned, ids chunk-0001…; () when every frame is planned
    (so sizing twice adds nothing).

    frames_per_task gives the size; the count is then a whole number of waves of `slots` (the
    one nearest that size, at least one chunk per slot while frames last) and the frames are
    shared out evenly, so that the last wave ends together instead of one long chunk running
    alone at the end."""
    rest = unplanned_frames(frames, chunks)
    if not rest:
        return ()
    size = frames_per_task(timing, target_seconds) if timing is not None else FALLBACK_CHUNK_SIZE
    waves = max(1, slots)
    # The whole number of waves whose chunks come nearest the size (a tie: the shorter tasks).
    fewer = max(1, int(len(rest) / (size * waves)))
    more = fewer + 1
    best = more if abs(len(rest) / (more * waves) - size) <= abs(len(rest) / (fewer * waves) - size) else fewer
    count = min(len(rest), best * waves)
    if max_chunks is not None:
        count = max(1, min(count, max_chunks))
    ordered = FrameSet(rest).preview_order() if order == "preview" else rest
    share, extra = divmod(len(ordered), count)
    width = max(4, len(str(count)))
    out, at = [], 0
    for n in range(1, count + 1):
        take = share + (1 if n <= extra else 0)
        out.append(Chunk(id=f"chunk-{n:0{width}d}", frames=FrameSet(tuple(sorted(ordered[at:at + take])))))
        at += take
    return tuple(out)


def task_id(chunk_id: str, attempt: int) -> str:
    """Batch task ids are unique per job, so a rerun of a chunk gets a suffix: chunk-0001-r1…"""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    return chunk_id if attempt == 1 else f"{chunk_id}-r{attempt - 1}"  # names.split_render_task_id reads it


def start_attempts(chunks: Sequence[Chunk], chunk_ids: Iterable[str]) -> tuple[Chunk, ...]:
    """Mark chunks as queued on the backend, counting one more attempt each."""
    wanted = set(chunk_ids)
    return tuple(replace(c, status=ChunkStatus.QUEUED, attempts=c.attempts + 1, seconds=None)
                 if c.id in wanted else c for c in chunks)


def with_chunk_result(chunks: Sequence[Chunk], chunk_id: str, status: ChunkStatus,
                      seconds: float | None = None) -> tuple[Chunk, ...]:
    if all(c.id != chunk_id for c in chunks):
        raise KeyError(chunk_id)
    return tuple(replace(c, status=status, seconds=seconds if seconds is not None else c.seconds)
                 if c.id == chunk_id else c for c in chunks)


@dataclass(frozen=True)
class RequeuePlan:
    requeue: tuple[str, ...]    # failed chunks with attempts left
    exhausted: tuple[str, ...]  # failed chunks that ran 1 + max_retries times

    def to_json(self) -> dict[str, Any]:
        return {"requeue": list(self.requeue), "exhausted": list(self.exhausted)}


def plan_requeue(chunks: Sequence[Chunk], max_retries: int) -> RequeuePlan:
    """A chunk may run 1 + max_retries times; attempts counts the runs started."""
    failed = [c for c in chunks if c.status == ChunkStatus.FAILED]
    return RequeuePlan(requeue=tuple(c.id for c in failed if c.attempts < 1 + max_retries),
                       exhausted=tuple(c.id for c in failed if c.attempts >= 1 + max_retries))


def progress(chunks: Sequence[Chunk]) -> dict[str, int]:
    done = [c for c in chunks if c.status == ChunkStatus.SUCCEEDED]
    return {
        "framesDone": sum(len(c.frames) for c in done),
        "framesTotal": sum(len(c.frames) for c in chunks),
        "chunksDone": len(done),
        "chunksFailed": sum(1 for c in chunks if c.status == ChunkStatus.FAILED),
        "chunksTotal": len(chunks),
    }


def all_settled(chunks: Sequence[Chunk]) -> bool:
    return all(c.status in (ChunkStatus.SUCCEEDED, ChunkStatus.FAILED) for c in chunks)


def chunks_to_json(chunks: Iterable[Chunk]) -> list[dict[str, Any]]:
    return [c.to_json() for c in chunks]


def chunks_from_json(data: Iterable[Mapping[str, Any]]) -> tuple[Chunk, ...]:
    return tuple(Chunk.from_json(c) for c in data)


# ---------------------------------------------------------------- frame files

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def safe_name(text: str, default: str = "frame") -> str:
    """A file-name stem from an artist's name (a .blend stem, a scene name): unsafe characters → "_"."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:64]
    return stem if stem and _NAME.match(stem) else default


def frame_file_name(name: str, frame: int, fmt: ImageFormat | str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise ValidationError(f"frame name {name!r} is not a safe file name", field="name")
    return f"{name}_{frame:0{FRAME_PADDING}d}.{ImageFormat(fmt).extension}"


def expected_frame_files(name: str, chunk: Chunk, fmt: ImageFormat | str) -> list[str]:
    return [frame_file_name(name, frame, fmt) for frame in chunk.frames]
