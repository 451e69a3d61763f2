"""The numbers of a watched job: seconds per frame, ETA, node-seconds and cost, stuck limits.

Pure: no I/O, no clock (`now` is passed in), so each rule is unit-tested on its own
(tests/watch/test_estimates.py) and watching.py only gathers the inputs.

The ETA schedules the work that is left on the slots the job is seen to use: each
running chunk keeps its slot until its frames are done, then the queued chunks take
the slot that frees first, in order (as Batch hands out tasks). A frame costs the
median of the frames done so far, so one slow outlier moves it little.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SECONDS_PER_HOUR = 3600.0
STUCK_MEDIAN_FACTOR = 5  # a task is stuck when no frame came for 5× the usual frame time (or the floor)


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time as the services write it (`…Z` or `+00:00`); None if absent or unreadable."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def seconds_between(start: str | None, end: str | None) -> float | None:
    begin, finish = parse_time(start), parse_time(end)
    if begin is None or finish is None:
        return None
    return max(0.0, (finish - begin).total_seconds())


def clean_frame_seconds(raw: Any, frames: Iterable[int]) -> dict[str, float]:
    """`{"<frame>": seconds}` from a marker or heartbeat, kept only for the chunk's own frames and
    for sane numbers: a node's file is input like any other."""
    if not isinstance(raw, Mapping):
        return {}
    wanted = {str(f) for f in frames}
    clean: dict[str, float] = {}
    for key, value in raw.items():
        if key in wanted and isinstance(value, int | float) and not isinstance(value, bool) \
                and 0 <= value < 30 * 86_400:
            clean[key] = round(float(value), 3)
    return clean


def median_seconds(values: Iterable[float]) -> float | None:
    numbers = [float(v) for v in values]
    return round(statistics.median(numbers), 3) if numbers else None


# ---------------------------------------------------------------- ETA


@dataclass(frozen=True)
class ChunkWork:
    """What is left of one chunk. A running one holds a slot: `elapsed` seconds have passed since
    its last frame was done (since its start while `starting`, no frame done yet, which also
    counts the task's start-up: download, unpack, loading the scene)."""

    frames_left: int
    running: bool = False
    elapsed: float = 0.0
    starting: bool = False


def remaining_seconds(work: Sequence[ChunkWork], seconds_per_frame: float, slots: int,
                      overhead: float = 0.0) -> float:
    """When the last chunk ends, in seconds from now, on `slots` parallel slots; `overhead` is a
    task's start-up before its first frame (the median seen so far)."""
    if seconds_per_frame < 0 or slots < 1 or overhead < 0:
        raise ValueError("seconds_per_frame and overhead must be >= 0, slots >= 1")
    free_at = [max(0.0, w.frames_left * seconds_per_frame + (overhead if w.starting else 0.0) - w.elapsed)
               for w in work if w.running]
    # Slots not taken by a running chunk are free now (a job between rounds has none running).
    free_at += [0.0] * max(0, slots - len(free_at))
    heapq.heapify(free_at)
    end = max(free_at, default=0.0)
    for chunk in (w for w in work if not w.running and w.frames_left > 0):
        finish = heapq.heappop(free_at) + overhead + chunk.frames_left * seconds_per_frame
        end = max(end, finish)
        heapq.heappush(free_at, finish)
    return end


def observed_slots(running_now: int, peak: int) -> int:
    """The job's parallelism: the tasks running now (the pool is busy with them when chunks still
    queue), else the most seen running at once, else 1."""
    return running_now if running_now > 0 else max(peak, 1)


def estimate_eta(work: Sequence[ChunkWork], seconds_per_frame: float | None, slots: int,
                 now: datetime, overhead: float | None = None) -> datetime | None:
    """The finish of the frames (UTC); None until a frame has been timed."""
    if seconds_per_frame is None:
        return None
    if not any(w.frames_left > 0 for w in work):
        return now
    return now + timedelta(seconds=remaining_seconds(work, seconds_per_frame, slots, overhead or 0.0))


def task_overhead(chunk_seconds: Iterable[tuple[float | None, Iterable[float]]]) -> float | None:
    """The median start-up of finished tasks: run time minus the seconds of their frames."""
    gaps = [max(0.0, total - sum(frames)) for total, frames in chunk_seconds if total is not None]
    return median_seconds(gaps)


# ---------------------------------------------------------------- cost


@dataclass(frozen=True)
class TaskRun:
    """One attempt's time on a node: seconds run so far (or in all) and whether the node was Spot."""

    seconds: float
    spot: bool = False


def is_spot_node(node_id: str | None) -> bool:
    """Batch names low-priority (Spot) nodes `…_p` and dedicated ones `…_d`; localbatch's host is neither."""
    return bool(node_id) and str(node_id).endswith("_p")


def node_seconds(runs: Iterable[TaskRun], slots_per_node: int) -> tuple[float, float]:
    """(dedicated, Spot) node-seconds: a task had 1/slots_per_node of its node while it ran."""
    if slots_per_node < 1:
        raise ValueError("slots_per_node must be >= 1")
    dedicated = spot = 0.0
    for run in runs:
        share = max(0.0, run.seconds) / slots_per_node
        if run.spot:
            spot += share
        else:
            dedicated += share
    return round(dedicated, 3), round(spot, 3)


def estimate_cost(dedicated_seconds: float, spot_seconds: float, *, price_dedicated: float,
                  price_spot: float) -> float:
    return round(dedicated_seconds / SECONDS_PER_HOUR * price_dedicated
                 + spot_seconds / SECONDS_PER_HOUR * price_spot, 4)


def budget_reached(estimate: float, max_cost: float | None) -> bool:
    return max_cost is not None and max_cost > 0 and estimate >= max_cost


# ---------------------------------------------------------------- stuck tasks


def stuck_after_seconds(job_value: int | None, default_floor: int, median: float | None) -> int:
    """A job's own stuckAfterSeconds wins; otherwise the larger of the floor (10 minutes by
    default) and 5× the job's median frame time so far."""
    if job_value is not None:
        return int(job_value)
    if median is None:
        return default_floor
    return max(default_floor, round(STUCK_MEDIAN_FACTOR * median))
