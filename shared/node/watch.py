"""Watching one running command for task_runner.py: its frames (frame_progress.py), heartbeats
(heartbeat.py) and previews (previews.py). Stdlib only; shipped beside task_runner.py with the other
three, and imported only if they all are.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

if __package__:  # imported from the project (tests)
    from . import frame_progress, heartbeat, previews
else:  # on a node: the scripts shipped into the same folder as this one
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import frame_progress  # type: ignore[no-redef]
    import heartbeat  # type: ignore[no-redef]
    import previews  # type: ignore[no-redef]


class TaskWatch:
    """Built before the command starts; `finish()` gives the marker's frame and provenance fields."""

    def __init__(self, args: Any, command: list[str], frames: list[int], *, started_at: str,
                 log: Callable[[str], None], now: Callable[[], str]) -> None:
        self.command = command
        self.previews: previews.PreviewMaker | None = None
        self.heartbeat: heartbeat.Heartbeat | None = None
        self._splitters: list[frame_progress.LineSplitter] = []
        program = os.path.basename(command[0])
        self.blender = args.kind in ("render", "inspect") or program.startswith("blender")
        self.stitch = args.kind == "stitch" or program.startswith("ffmpeg")
        self.progress = frame_progress.FrameProgress(frames, on_frame=self._frame_saved)
        if args.kind == "render" and args.previews:
            self.previews = previews.PreviewMaker(previews.find_ffmpeg(args.ffmpeg), args.previews, log)
        if args.heartbeat:
            self.heartbeat = heartbeat.Heartbeat(
                args.task_id, args.heartbeat, self.progress.snapshot, every=args.heartbeat_every,
                url=heartbeat.heartbeat_url(log), log=log, started_at=started_at, now=now)

    def sinks(self) -> tuple[Callable[[bytes], None] | None, Callable[[bytes], None] | None]:
        """Where the command's stdout and stderr bytes go to be read (None: not a Blender command)."""
        if not self.blender:
            return None, None
        self._splitters = [frame_progress.LineSplitter(self.progress.feed) for _ in range(2)]
        return self._splitters[0].write, self._splitters[1].write

    def last_frame_at(self) -> float:
        return self.progress.last_frame_at

    def started(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.start()

    def _frame_saved(self, frame: int, path: str) -> None:
        if self.previews is not None:
            self.previews.add(frame, path)
        if self.heartbeat is not None:
            self.heartbeat.frame_finished()

    def finish(self, status: str) -> dict[str, Any]:
        """Wait for the previews and send the last heartbeat, then the marker's fields."""
        for splitter in self._splitters:
            splitter.close()
        if self.previews is not None:
            self.previews.close()
        if self.heartbeat is not None:
            self.heartbeat.stop(status)
        snapshot = self.progress.snapshot()
        fields = {key: snapshot[key] for key in ("framesDone", "frameSeconds", "frameFinishedAt")}
        if self.blender:
            fields["blender"] = self.progress.blender()
        ffmpeg = self.command[0] if self.stitch else (self.previews.ffmpeg if self.previews else None)
        if ffmpeg is not None and (self.stitch or snapshot["framesDone"]):
            fields["ffmpeg"] = previews.ffmpeg_version(ffmpeg)
        return fields
