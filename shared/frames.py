"""Frames and frame sets: which frames a job renders, as artists write them ("1-240", "1,5,10-20", "1-100x5").

Pure: no I/O, no environment, no clock (orchestrators import this module).

Decisions worth knowing:
- Frames are non-negative (0..MAX_FRAME). Blender's command line reads `-f -5` as
  "5 before the end", and a minus sign would break the `<name>_<padded frame>`
  file names FFmpeg's `%04d` pattern expects, so negative frames are rejected.
- A FrameSet is sorted ascending whatever order the spec lists; duplicate frames
  (including overlapping ranges) are rejected rather than silently merged, since
  they usually mean a typo.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from shared.errors import ValidationError

MAX_FRAME = 1_048_574           # Blender's MAXFRAME
MAX_FRAMES_PER_JOB = 100_000    # beyond this a spec is a typo, not a shot
MAX_FRAME_SPEC_CHARS = 4_096

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

    def preview_order(self) -> tuple[int, ...]:
        """Every frame once, spread over the shot first: the first, the last, then the middle
        of each gap, coarse to fine (as OpenCue's stagger), so that the first frames rendered
        let an artist scrub the whole shot. Breadth-first bisection keeps each level's frames
        evenly spaced."""
        frames = self.frames
        if len(frames) <= 2:
            return frames
        order = [0, len(frames) - 1]
        gaps = [(0, len(frames) - 1)]
        for lo, hi in gaps:  # a queue: the list grows behind the loop, level by level
            if hi - lo < 2:
                continue
            mid = (lo + hi) // 2
            order.append(mid)
            gaps += [(lo, mid), (mid, hi)]
        return tuple(frames[i] for i in order)

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

