"""Small JPEG previews of rendered frames, made on the node with FFmpeg (stdlib only; shipped beside
task_runner.py).

`previews/<frame>.jpg` (the frame number without padding), at most 480 px wide, aspect kept, never
upscaled. FFmpeg reads what a browser cannot show (OpenEXR, TIFF, DPX…). OpenEXR and Radiance HDR
hold scene-linear values: they are scaled from a linear to the sRGB transfer (the scale filter's
in_transfer/out_transfer) so that the preview is not much darker than the frame; an FFmpeg without
those options makes a plain (darker) preview instead. No view transform (AgX, Filmic) is applied.

Making a preview never fails the frame: an error (no FFmpeg, a corrupt frame, a timeout) is noted
on stderr and the next frame goes on. Previews are made one at a time on a worker thread, so that
reading Blender's output never waits for FFmpeg.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable

MAX_WIDTH = 480
PREVIEW_TIMEOUT = 60.0
VERSION_TIMEOUT = 10.0
FFMPEG_ENV = "RENDER_FFMPEG"


def find_ffmpeg(flag: str | None) -> str | None:
    """--ffmpeg, else RENDER_FFMPEG, else `ffmpeg` on PATH."""
    candidate = flag or os.environ.get(FFMPEG_ENV) or "ffmpeg"
    if os.sep in candidate:
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which(candidate)


def ffmpeg_version(ffmpeg: str) -> dict[str, str] | None:
    """From the first line of `ffmpeg -version`: `ffmpeg version 7.0.2-static Copyright …`."""
    try:
        result = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, errors="replace",
                                timeout=VERSION_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    first = (result.stdout.splitlines() or [""])[0].strip()
    parts = first.split()
    if result.returncode != 0 or len(parts) < 3 or parts[1] != "version":
        return None
    return {"version": parts[2], "banner": first[:300]}


LINEAR_EXTENSIONS = (".exr", ".hdr")


def preview_argv(ffmpeg: str, frame_file: str, out: str, *, linear: bool = False) -> list[str]:
    source = frame_file if not frame_file.startswith("-") else f"./{frame_file}"
    target = out if not out.startswith("-") else f"./{out}"
    scale = f"scale='min({MAX_WIDTH},iw)':-1"
    if linear:
        scale += ":in_transfer=linear:out_transfer=iec61966-2-1"
    return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", source, "-frames:v", "1",
            "-vf", scale, "-q:v", "4", "-f", "image2", "-update", "1", target]


def make_preview(ffmpeg: str, frame_file: str, out: str) -> str | None:
    """Write the preview of `frame_file` to `out` (atomically); returns an error or None."""
    directory = os.path.dirname(os.path.abspath(out))
    tmp = os.path.join(directory, f".{os.path.basename(out)}.partial.jpg")
    linear = frame_file.lower().endswith(LINEAR_EXTENSIONS)
    try:
        os.makedirs(directory, exist_ok=True)
        for attempt in ((True, False) if linear else (False,)):
            result = subprocess.run(preview_argv(ffmpeg, frame_file, tmp, linear=attempt), capture_output=True,
                                    text=True, errors="replace", timeout=PREVIEW_TIMEOUT, stdin=subprocess.DEVNULL)
            if result.returncode == 0 and os.path.isfile(tmp) and os.path.getsize(tmp) > 0:
                os.replace(tmp, out)
                return None
        detail = " ".join(result.stderr.split())[-300:] or f"exit code {result.returncode}"
        return f"FFmpeg could not make it: {detail}"
    except subprocess.TimeoutExpired:
        return f"FFmpeg took more than {PREVIEW_TIMEOUT:g}s"
    except OSError as exc:
        return str(exc.strerror or exc)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _inside(root: str, path: str) -> bool:
    real, top = os.path.realpath(os.path.join(root, path)), os.path.realpath(root)
    return real.startswith(top.rstrip(os.sep) + os.sep)


class PreviewMaker:
    """Queue frames as they are saved; `close()` waits until every queued preview is made."""

    def __init__(self, ffmpeg: str | None, directory: str, log: Callable[[str], None]) -> None:
        self.ffmpeg, self.directory, self._log = ffmpeg, directory, log
        self.made: list[int] = []
        self._queue: queue.Queue[tuple[int, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._warned = False

    def add(self, frame: int, frame_file: str) -> None:
        if not _inside(os.getcwd(), frame_file):
            # frames are written inside the task; a preview of anything else could publish a file
            # that is not this task's (another job's frames on the same node)
            self._log(f"no preview for frame {frame}: {frame_file[:200]!r} is outside the task directory")
            return
        if self.ffmpeg is None:
            if not self._warned:
                self._log("no FFmpeg (--ffmpeg, RENDER_FFMPEG or PATH): frames get no previews")
                self._warned = True
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="previews", daemon=True)
            self._thread.start()
        self._queue.put((frame, frame_file))

    def _work(self) -> None:
        assert self.ffmpeg is not None
        while (item := self._queue.get()) is not None:
            frame, frame_file = item
            error = make_preview(self.ffmpeg, frame_file, os.path.join(self.directory, f"{frame}.jpg"))
            if error:
                self._log(f"no preview for frame {frame} ({frame_file}): {error}")
            else:
                self.made.append(frame)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
