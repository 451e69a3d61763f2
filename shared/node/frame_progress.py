"""Blender's own output, read line by line: which frame is rendering, when each one was saved and
how long it took, and which Blender it was.

Shipped beside task_runner.py (stdlib only). Blender 5.0 prints, per frame rendered with `-f`:

    Fra:12 Mem:38.1M | Time:00:01.52 | Remaining: … | Sample 12/64     (progress, many lines)
    00:03.405  render           | Saved: 'frames/shot_0012.png'      (a log prefix since 4.4)
     Time: 00:01.71 (Saving: 00:00.02)                                  (render + save of that frame)

and at start-up `Blender 5.0.1 (hash a3db93c5b259 built 2025-12-16 14:26:17)`; `--version` prints
`Blender 5.0.1` and then `build hash: a3db93c5b259`. A frame's seconds are the ` Time:` that follows
its `Saved:`; without one, the time between successive `Saved:` lines (the first frame: since its
first `Fra:` line, else since the command started). Nothing is guessed from the chunk's total.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

_FRA = re.compile(r"^Fra:(-?\d+)\b")
_SAVED = re.compile(r"(?:^|\| )Saved: '(.*)'\s*$")
_TIME = re.compile(r"^\s*Time: ((?:\d+:){1,2}\d+(?:\.\d+)?)(?:\s|$)")
_BANNER = re.compile(r"^Blender (\d+\.\d+(?:\.\d+)?)\b(.*)$")
_HASH = re.compile(r"(?:\(hash |build hash: )([0-9a-fA-F]{7,40})\b")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timecode(text: str) -> float:
    """Blender's `MM:SS.cc` or `HH:MM:SS.cc` in seconds."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


class FrameProgress:
    """What the lines of one command say about its frames; safe to feed from several threads."""

    def __init__(self, planned: Sequence[int] = (), *,
                 on_frame: Callable[[int, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._planned = list(planned)
        self._planned_set = set(self._planned)
        self._on_frame = on_frame
        self._clock = clock
        self._lock = threading.Lock()
        self.started = clock()
        self.last_frame_at = self.started   # when the latest frame was saved (or the start)
        self.current_frame: int | None = None
        self.frames_done: list[int] = []
        self.seconds: dict[int, float] = {}
        self.finished_at: dict[int, str] = {}
        self.blender_version: str | None = None
        self.build_hash: str | None = None
        self._first_seen: dict[int, float] = {}
        self._awaiting_time: int | None = None
        self._last_saved: float | None = None

    def feed(self, line: str) -> None:
        saved: tuple[int, str] | None = None
        with self._lock:
            saved = self._read(line.rstrip("\r\n"))
        if saved is not None and self._on_frame is not None:
            self._on_frame(*saved)  # outside the lock: the callback may take a snapshot

    def _read(self, line: str) -> tuple[int, str] | None:
        now = self._clock()
        if match := _FRA.match(line):
            frame = int(match.group(1))
            self.current_frame = frame
            self._first_seen.setdefault(frame, now)
            return None
        if match := _SAVED.search(line):
            return self._saved(match.group(1), now)
        if (match := _TIME.match(line)) and self._awaiting_time is not None:
            self.seconds[self._awaiting_time] = round(parse_timecode(match.group(1)), 3)
            self._awaiting_time = None
            return None
        self._read_provenance(line)
        return None

    def _saved(self, path: str, now: float) -> tuple[int, str] | None:
        frame = self._frame_of(path)
        if frame is None or frame in self.seconds:
            return None  # a second file of the same frame (stereo views): the frame is already counted
        since = self._last_saved if self._last_saved is not None else self._first_seen.get(frame, self.started)
        self.seconds[frame] = round(now - since, 3)  # until the ` Time:` line replaces it
        self.finished_at[frame] = now_iso()
        self.frames_done.append(frame)
        self._awaiting_time = frame
        self._last_saved = self.last_frame_at = now
        return frame, path

    def _frame_of(self, path: str) -> int | None:
        """The planned frame the file name says (`shot_0012.png` → 12), else the frame rendering now,
        else the next planned one: stdout and stderr are read apart, so the `Fra:` lines of the next
        frame may be read before the `Saved:` of this one."""
        digits = re.findall(r"\d+", path.replace("\\", "/").rsplit("/", 1)[-1])
        if digits and int(digits[-1]) in self._planned_set:
            return int(digits[-1])
        if self.current_frame is not None:
            return self.current_frame
        return next((f for f in self._planned if f not in self.seconds), None)

    def _read_provenance(self, line: str) -> None:
        if self.blender_version is None and (match := _BANNER.match(line.strip())):
            self.blender_version = match.group(1)
        if self.build_hash is None and (match := _HASH.search(line)):
            self.build_hash = match.group(1).lower()

    def snapshot(self) -> dict[str, Any]:
        """The frames so far, as the marker and the heartbeat carry them."""
        with self._lock:
            return {
                "framesDone": list(self.frames_done),
                "frameSeconds": {str(f): self.seconds[f] for f in self.frames_done},
                "frameFinishedAt": {str(f): self.finished_at[f] for f in self.frames_done},
                "currentFrame": self.current_frame,
            }

    def blender(self) -> dict[str, str | None] | None:
        with self._lock:
            if self.blender_version is None:
                return None
            return {"version": self.blender_version, "buildHash": self.build_hash}


class LineSplitter:
    """Bytes of one stream → complete lines for a FrameProgress (a line longer than `limit` is cut)."""

    def __init__(self, sink: Callable[[str], None], limit: int = 65536) -> None:
        self._sink, self._limit, self._buffer = sink, limit, b""

    def write(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = re.split(rb"\r\n|\n|\r", self._buffer)
        for raw in lines:
            self._sink(raw.decode("utf-8", "replace"))
        if len(self._buffer) > self._limit:
            self._sink(self._buffer.decode("utf-8", "replace"))
            self._buffer = b""

    def close(self) -> None:
        if self._buffer:
            self._sink(self._buffer.decode("utf-8", "replace"))
            self._buffer = b""
