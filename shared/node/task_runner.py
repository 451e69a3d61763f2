"""Run one render, inspect or stitch task on a render node and leave a completion marker.

Shipped to nodes as a Batch resource file and run with the node's python3, so it uses only the
standard library (hence longer than the project's usual module: unpacking, running and the marker
are the steps of one task; the bundle code stays here because a tools folder without a file the
runner needs would fail every task). Watching the running command lives in sibling scripts shipped
in the same folder (shared.node.WATCH_SCRIPTS): watch.py, frame_progress.py (Blender's output →
frames, seconds, version), heartbeat.py and previews.py. Without them (a tools folder of before)
the task runs and is marked as before, unwatched.

    python3 task_runner.py --task-id chunk-0001 --marker marker.json [--kind render]
        [--bundle scene.zip --extract-to bundle [--max-entries N] [--max-bytes N] [--keep-free N]]
        [--frames 1-10] [--expect frames/shot_0001.png ...] [--timeout SECONDS]
        [--stuck-after SECONDS] [--heartbeat heartbeat.json] [--heartbeat-every 5]
        [--previews previews] [--ffmpeg PATH]
        -- blender -b bundle/shot.blend ... -f 1..10

Steps: check the bundle (no `..`, absolute paths, links or special files, no entry escaping the
directory, at most --max-entries entries and --max-bytes unpacked bytes); make it available at
--extract-to; run the command without a shell in its own process group, its stdout and stderr
copied byte for byte to this process's stdout and stderr (the task's stdout.txt and stderr.txt) and
read on the way; then check that every --expect file exists and is not empty (Blender sometimes
exits 0 without writing a frame); last, write the marker JSON atomically:

    {"taskId", "kind", "status": "succeeded"|"failed", "frames": [..], "exitCode",
     "childExitCode", "seconds", "startedAt", "finishedAt", "program",
     "expected": {"present": [..], "missing": [..]} | null, "error": str | null,
     "reason": "stuck"|"timeout"|null, "framesDone": [..], "frameSeconds": {"<frame>": s},
     "frameFinishedAt": {"<frame>": iso utc}, "blender": {"version", "buildHash"} | null,
     "ffmpeg": {"version", "banner"} | null}

While a render, inspect or `blender` command runs:
- frames: each `Saved:` line Blender prints finishes a frame; its seconds are the ` Time:` line
  after it (see frame_progress.py), `blender` comes from Blender's start-up banner.
- heartbeat: --heartbeat (default `heartbeat.json`, in the task's working directory; '' for none)
  is rewritten every --heartbeat-every seconds and soon after each frame (see heartbeat.py); with
  RENDER_HEARTBEAT_URL set to a write SAS URL of one blob, each heartbeat is also PUT there.
- previews (render tasks): each saved frame becomes `<--previews>/<frame>.jpg` (default
  `previews/1001.jpg`, frame number unpadded), at most 480 px wide, made with --ffmpeg, else
  RENDER_FFMPEG, else `ffmpeg` on PATH; `ffmpeg` in the marker is that FFmpeg's version (for a
  stitch task: the stitching FFmpeg's). A preview that cannot be made is noted on stderr only.
- --stuck-after: when no frame has finished for that long (counted from the start, then from the
  latest frame) the command's process group is stopped (SIGTERM, SIGKILL after 10 s), the marker
  says `reason: "stuck"` and the task exits with EXIT_STUCK.

What the pipeline passes (shared/pipeline/batch_tasks.py): ship WATCH_SCRIPTS into the same tools
folder as this file; optionally --stuck-after, and
RENDER_HEARTBEAT_URL (a secret: never printed) and RENDER_FFMPEG in the task's environment; upload
the output files `previews/*.jpg` (to renders/<jobId>/previews/) and `heartbeat.json` if wanted.

On a Batch node (AZ_BATCH_NODE_SHARED_DIR set) a bundle is unpacked once per node and version:
into `$AZ_BATCH_NODE_SHARED_DIR/bundles/<sha256 of the zip>`, under an fcntl lock so that
concurrent tasks wait for one unpack, into a `.<key>.partial-*` folder that is made read-only and
then renamed into place (a partial folder left by a crash is removed and the unpack redone).
Every task still checks the zip's entries against its own limits, and --extract-to becomes a
symbolic link to the shared, read-only copy: the .blend opens from there, outputs go to the task
directory. Before unpacking, the declared unpacked size plus --keep-free must fit on the disk.
Without AZ_BATCH_NODE_SHARED_DIR the bundle is unpacked into --extract-to itself. The command
gets RENDER_BUNDLE_DIR (the bundle's real directory), which the Blender scripts keep reads in.

Exit code: the command's own (128+N if killed by signal N), or one of the codes below when
the runner itself decided the task failed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

_WATCH_MISSING: str | None = None
try:
    if __package__:  # imported from the project (tests): the siblings are modules of shared.node
        from . import watch
    else:  # run on a node: the scripts shipped into the same folder
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import watch  # type: ignore[no-redef]
except ImportError as _missing:  # a tools folder of before: run and mark the task, without watching it
    watch = None  # type: ignore[assignment]
    _WATCH_MISSING = str(_missing)

_Parsed = TypeVar("_Parsed")

EXIT_BAD_BUNDLE = 65       # the bundle is unsafe or unreadable: retrying cannot help
EXIT_NO_SPACE = 75         # the node's disk cannot hold the unpacked bundle: another node may
EXIT_MISSING_OUTPUT = 68   # the command exited 0 but an expected file is missing or empty
EXIT_RUNNER_ERROR = 70     # the runner itself failed (marker not writable, bad arguments…)
EXIT_TIMEOUT = 124         # --timeout passed; the command was stopped
EXIT_STUCK = 86            # --stuck-after passed without a new frame; the command was stopped
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127

DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_BYTES = 20 * 1024**3
DEFAULT_HEARTBEAT_EVERY = 5.0
DEFAULT_KEEP_FREE = 1024**3  # room left for frames, Blender's temp files and the other tasks
SHARED_DIR_ENV = "AZ_BATCH_NODE_SHARED_DIR"
BUNDLE_DIR_ENV = "RENDER_BUNDLE_DIR"  # read by apply_settings.py and inspect_scene.py
COPY_CHUNK = 1024 * 1024
POLL_SECONDS = 0.25
STOP_GRACE = 10.0    # seconds between SIGTERM and SIGKILL for a stopped command
READER_GRACE = 5.0
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_OUTPUT_LOCK = threading.Lock()
_FRAME_ITEM = re.compile(r"^(\d+)(?:-(\d+)(?:x(\d+))?)?$")


class BundleError(Exception):
    """The bundle cannot be unpacked safely."""


class NoSpaceError(BundleError):
    """The bundle is fine but the node's disk is too small for it."""


def log(message: str) -> None:
    print(f"[task_runner] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- frames


def parse_frames(spec: str) -> list[int]:
    """The pipeline's frame spec: "1-240", "1,5,10-20", "1-100x5"."""
    frames: set[int] = set()
    for item in spec.split(","):
        match = _FRAME_ITEM.match(item.strip())
        if not match:
            raise ValueError(f"bad frames item {item!r}")
        start = int(match.group(1))
        end = int(match.group(2) or start)
        step = int(match.group(3) or 1)
        if end < start or step < 1 or (end - start) // step > 1_000_000:
            raise ValueError(f"bad frames item {item!r}")
        frames.update(range(start, end + 1, step))
    return sorted(frames)


# ---------------------------------------------------------------- bundle


def _entry_parts(info: zipfile.ZipInfo) -> list[str]:
    """The path parts of a zip entry, or BundleError if the entry is not a plain file or directory
    that stays inside the extraction directory."""
    name = info.filename
    if not name or "\0" in name:
        raise BundleError(f"entry with an empty or NUL-containing name: {name!r}")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise BundleError(f"entry with an absolute path: {name!r}")
    parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
    if ".." in parts:
        raise BundleError(f"entry escaping the bundle with '..': {name!r}")
    if not parts:
        raise BundleError(f"entry without a name: {name!r}")
    mode = (info.external_attr >> 16) & 0xFFFF
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise BundleError(f"entry is a symbolic link: {name!r}")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise BundleError(f"entry is not a regular file or directory: {name!r}")
    if info.flag_bits & 0x1:
        raise BundleError(f"entry is encrypted: {name!r}")
    return parts


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _plan(archive: zipfile.ZipFile, max_entries: int, max_bytes: int) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    """Every entry checked against the limits, from the zip's directory alone (nothing is written)."""
    infos = archive.infolist()
    if len(infos) > max_entries:
        raise BundleError(f"bundle has {len(infos)} entries, more than the limit {max_entries}")
    declared = sum(i.file_size for i in infos)
    if declared > max_bytes:
        raise BundleError(f"bundle unpacks to {declared} bytes, more than the limit {max_bytes}")
    plan: list[tuple[zipfile.ZipInfo, list[str]]] = []
    seen: set[str] = set()
    for info in infos:
        parts = _entry_parts(info)
        key = "/".join(parts).casefold()
        if key in seen and not info.is_dir():
            raise BundleError(f"entry appears twice: {info.filename!r}")
        seen.add(key)
        plan.append((info, parts))
    return plan


def _open_zip(zip_path: str | Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"cannot open bundle {zip_path}: {exc}") from exc


def extract_bundle(zip_path: str | Path, dest: str | Path, *, max_entries: int = DEFAULT_MAX_ENTRIES,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
    """Unpack `zip_path` into `dest`; every entry is checked before anything is written.
    Returns the files written, relative to dest."""
    with _open_zip(zip_path) as archive:
        plan = _plan(archive, max_entries, max_bytes)
        os.makedirs(dest, exist_ok=True)
        root = os.path.realpath(dest)
        written: list[str] = []
        total = 0
        for info, parts in plan:
            target = os.path.join(root, *parts)
            try:
                if info.is_dir():
                    os.makedirs(target, exist_ok=True)
                    if not _inside(root, os.path.realpath(target)):
                        raise BundleError(f"entry escapes the bundle directory: {info.filename!r}")
                    continue
                parent = os.path.dirname(target)
                os.makedirs(parent, exist_ok=True)
            except (OSError, RecursionError) as exc:
                # a file where a folder must go, a name too long, folders too deep: a bad bundle,
                # reported in the marker rather than a traceback without one
                raise BundleError(f"cannot create the folder of {info.filename[:200]!r}: {exc}") from None
            if not _inside(root, os.path.realpath(parent)) or os.path.islink(target):
                raise BundleError(f"entry escapes the bundle directory: {info.filename!r}")
            total = _copy_entry(archive, info, target, total, max_bytes)
            written.append("/".join(parts))
        return written


def _copy_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: str, total: int, max_bytes: int) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, 0o644)
    except OSError as exc:
        raise BundleError(f"cannot write {info.filename!r}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out, archive.open(info) as src:
            while chunk := src.read(COPY_CHUNK):
                total += len(chunk)
                if total > max_bytes:  # headers can lie about sizes; count what is really written
                    raise BundleError(f"bundle unpacks to more than the limit {max_bytes} bytes")
                out.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
        raise BundleError(f"cannot unpack {info.filename!r}: {exc}") from exc
    return total


# ---------------------------------------------------------------- bundles shared by a node's tasks


def bundle_key(zip_path: str | Path) -> str:
    """The bundle's version: the sha256 of the zip's bytes."""
    digest = hashlib.sha256()
    try:
        with open(zip_path, "rb") as handle:
            while chunk := handle.read(COPY_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise BundleError(f"cannot read bundle {zip_path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """An exclusive fcntl lock on `path`: released by the kernel too if this process dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _make_read_only(root: str) -> None:
    for directory, dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.chmod(os.path.join(directory, name), 0o444)
        for name in dirs:
            os.chmod(os.path.join(directory, name), 0o555)
    os.chmod(root, 0o555)


def _remove_tree(root: str) -> None:
    """Remove a (possibly read-only) folder this runner unpacked."""
    for directory, dirs, _ in os.walk(root):
        os.chmod(directory, 0o755)
        for name in dirs:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755)
    shutil.rmtree(root, ignore_errors=True)


def _check_space(directory: str, declared: int, keep_free: int) -> None:
    free = shutil.disk_usage(directory).free
    if declared + keep_free > free:
        raise NoSpaceError(f"not enough disk space on this node: the bundle unpacks to {declared} bytes, "
                           f"{free} bytes are free and {keep_free} must stay free")


def shared_bundle(zip_path: str | Path, cache_root: str | Path, *, max_entries: int = DEFAULT_MAX_ENTRIES,
                  max_bytes: int = DEFAULT_MAX_BYTES, keep_free: int = DEFAULT_KEEP_FREE) -> tuple[str, bool]:
    """The node's read-only copy of the bundle, unpacked now if no task has yet.
    Returns (its directory, whether this call unpacked it)."""
    key = bundle_key(zip_path)
    with _open_zip(zip_path) as archive:
        declared = sum(info.file_size for info, _ in _plan(archive, max_entries, max_bytes))
    root = os.path.realpath(cache_root)
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as exc:
        raise BundleError(f"cannot create the node's bundle folder: {exc.strerror or exc}") from exc
    final = os.path.join(root, key)
    try:
        with locked(os.path.join(root, f".{key}.lock")):
            if os.path.isdir(final):  # complete: the rename below is the last step of an unpack
                return final, False
            for name in os.listdir(root):
                if name.startswith(f".{key}.partial-"):
                    log(f"removing an unfinished unpack of this bundle: {name}")
                    _remove_tree(os.path.join(root, name))
            _check_space(root, declared, keep_free)
            partial = tempfile.mkdtemp(prefix=f".{key}.partial-", dir=root)
            try:
                extract_bundle(zip_path, partial, max_entries=max_entries, max_bytes=max_bytes)
                _make_read_only(partial)
                os.rename(partial, final)
            except BaseException:
                _remove_tree(partial)
                raise
            return final, True
    except OSError as exc:
        raise BundleError(f"cannot unpack into the node's bundle folder: {exc.strerror or exc}") from exc


def link_bundle(directory: str, link: str) -> None:
    """Point the task's --extract-to at the shared copy (replacing a link left by an earlier try)."""
    if os.path.islink(link):
        os.unlink(link)
    elif os.path.exists(link):
        raise BundleError(f"cannot place the bundle at {link}: something else is there")
    parent = os.path.dirname(os.path.abspath(link))
    os.makedirs(parent, exist_ok=True)
    os.symlink(directory, link, target_is_directory=True)


def provide_bundle(args: argparse.Namespace) -> str:
    """Make the bundle available at --extract-to; returns its real directory."""
    shared = os.environ.get(SHARED_DIR_ENV)
    if not shared:
        files = extract_bundle(args.bundle, args.extract_to, max_entries=args.max_entries,
                               max_bytes=args.max_bytes)
        log(f"unpacked {len(files)} files from {args.bundle} into {args.extract_to}")
        return os.path.realpath(args.extract_to)
    directory, unpacked = shared_bundle(args.bundle, os.path.join(shared, "bundles"),
                                        max_entries=args.max_entries, max_bytes=args.max_bytes,
                                        keep_free=args.keep_free)
    log(f"{'unpacked' if unpacked else 'reusing the node copy of'} {args.bundle} at {directory}")
    try:
        link_bundle(directory, args.extract_to)
    except OSError as exc:
        raise BundleError(f"cannot link the bundle into the task: {exc.strerror or exc}") from exc
    return directory


# ---------------------------------------------------------------- running


def _own_group() -> None:
    """In the child before exec: its own process group (so a stuck or timed-out render is killed
    with whatever it started), and killed if the runner dies (localbatch and Batch kill the
    runner's group, which the child has left)."""
    os.setpgid(0, 0)
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _tee(source: Any, target: Any, sink: Callable[[bytes], None] | None) -> None:
    """Copy the child's stream to ours byte for byte, handing each piece to `sink` as well."""
    fd = source.fileno()
    out = getattr(target, "buffer", None)
    broken = False
    while data := os.read(fd, COPY_CHUNK):
        with _OUTPUT_LOCK:
            try:
                if broken:
                    pass  # keep draining: a child blocked on a full pipe would never finish
                elif out is not None:
                    out.write(data)
                    out.flush()
                else:
                    target.write(data.decode("utf-8", "replace"))
                    target.flush()
            except (OSError, ValueError):
                broken = True
        if sink is not None:
            try:
                sink(data)
            except Exception as exc:  # watching the frames must never stop the task's output
                log(f"cannot read the command's progress: {exc!r}")
                sink = None
    source.close()


def run_command(argv: list[str], timeout: float | None, env: dict[str, str] | None = None, *,
                sinks: tuple[Callable[[bytes], None] | None, Callable[[bytes], None] | None] = (None, None),
                last_frame_at: Callable[[], float] | None = None,
                stuck_after: float | None = None,
                on_started: Callable[[], None] | None = None) -> tuple[int | None, int, str | None, str | None]:
    """Run argv, its output teed to ours (and to `sinks`), SIGTERM/SIGINT passed on to it.
    Returns (the command's exit code or None if it never ran, the task's exit code, error, reason),
    reason being "timeout" or "stuck" when the runner stopped the command."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, preexec_fn=_own_group)  # before any thread starts
    except FileNotFoundError:
        return None, EXIT_NOT_FOUND, f"program not found: {argv[0]}", None
    except PermissionError:
        return None, EXIT_NOT_EXECUTABLE, f"program not executable: {argv[0]}", None
    except OSError as exc:
        return None, EXIT_NOT_EXECUTABLE, f"cannot start {argv[0]}: {exc}", None
    started = time.monotonic()
    readers = [threading.Thread(target=_tee, args=(stream, target, sink), daemon=True)
               for stream, target, sink in ((proc.stdout, sys.stdout, sinks[0]), (proc.stderr, sys.stderr, sinks[1]))]
    for reader in readers:
        reader.start()
    if on_started is not None:
        on_started()
    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        stopped = _wait(proc, started, timeout, last_frame_at, stuck_after)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for reader in readers:
            reader.join(timeout=READER_GRACE)  # a grandchild may hold the pipe open
    if stopped is not None:
        return proc.returncode, *stopped
    code = proc.returncode
    if code < 0:
        return code, 128 - code, f"killed by signal {-code}", None
    if received:
        return code, code or 128 + received[0], f"stopped by signal {received[0]}", None
    return code, code, None, None


def _wait(proc: subprocess.Popen[bytes], started: float, timeout: float | None,
          last_frame_at: Callable[[], float] | None, stuck_after: float | None) -> tuple[int, str, str] | None:
    """Wait for the command; stop it on --timeout or --stuck-after: (exit code, error, reason)."""
    while True:
        try:
            proc.wait(timeout=POLL_SECONDS)
            return None
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if timeout is not None and now - started >= timeout:
            _stop_group(proc)
            return EXIT_TIMEOUT, f"stopped after the {timeout:g}s timeout", "timeout"
        if stuck_after is not None and last_frame_at is not None and now - last_frame_at() >= stuck_after:
            _stop_group(proc)
            return EXIT_STUCK, f"stuck: no frame for {stuck_after:g} s", "stuck"


def check_outputs(paths: list[str]) -> dict[str, list[str]]:
    present: list[str] = []
    missing: list[str] = []
    for path in paths:
        try:
            info = os.stat(path)
            ok = stat.S_ISREG(info.st_mode) and info.st_size > 0
        except OSError:
            ok = False
        (present if ok else missing).append(path)
    return {"present": present, "missing": missing}


def write_marker(path: str, marker: dict[str, Any]) -> None:
    """Atomically: a reader (or the upload that wakes the orchestration) never sees half a marker."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".marker-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(marker, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- main


def options_and_command(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The options before `--` and the command after it (node scripts wrap a command)."""
    if "--" not in argv:
        raise SystemExit(f"{parser.prog.removesuffix('.py')}: the command to run must follow '--'")
    split = argv.index("--")
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        parser.error("no command after '--'")
    return args, command


def parse_or_exit_code(parse: Callable[[list[str]], _Parsed], argv: list[str]) -> _Parsed | int:
    """What `parse` makes of argv, or the exit code for a bad command line (usage on stderr)."""
    try:
        return parse(argv)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        return EXIT_RUNNER_ERROR if exc.code else 0


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="task_runner.py", description="Run one render/stitch task.")
    parser.add_argument("--task-id", required=True)
    parser.add_argument("--marker", required=True, help="where to write the completion marker JSON")
    parser.add_argument("--kind", default="command", help="render, inspect, stitch or command")
    parser.add_argument("--bundle", help="a scene bundle zip to unpack first")
    parser.add_argument("--extract-to", default="bundle", help="directory to unpack the bundle into")
    parser.add_argument("--max-entries", type=int, default=DEFAULT_MAX_ENTRIES)
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES)
    parser.add_argument("--keep-free", type=int, default=DEFAULT_KEEP_FREE,
                        help="bytes that must stay free on the disk after unpacking")
    parser.add_argument("--frames", help="the frames this task renders, e.g. 1-10 (for the marker)")
    parser.add_argument("--expect", action="append", default=[], help="a file the command must write")
    parser.add_argument("--timeout", type=float, help="stop the command after this many seconds")
    parser.add_argument("--stuck-after", type=float,
                        help="stop the command when no frame has finished for this many seconds")
    parser.add_argument("--heartbeat", default="heartbeat.json",
                        help="the heartbeat file rewritten while the command runs ('' for none)")
    parser.add_argument("--heartbeat-every", type=float, default=DEFAULT_HEARTBEAT_EVERY,
                        help="seconds between heartbeats")
    parser.add_argument("--previews", default="previews",
                        help="directory for the frames' JPEG previews ('' for none)")
    parser.add_argument("--ffmpeg", help="FFmpeg for the previews (default: RENDER_FFMPEG, else PATH)")
    args, command = options_and_command(parser, argv)
    if args.max_entries < 1 or args.max_bytes < 1 or args.keep_free < 0:
        parser.error("--max-entries and --max-bytes must be positive, --keep-free not negative")
    if (args.stuck_after is not None and not args.stuck_after > 0) or not args.heartbeat_every > 0:
        parser.error("--stuck-after and --heartbeat-every must be positive")
    return args, command


def run_task(args: argparse.Namespace, command: list[str]) -> int:
    marker: dict[str, Any] = {
        "taskId": args.task_id, "kind": args.kind, "status": "failed", "frames": [],
        "exitCode": None, "childExitCode": None, "seconds": 0.0, "startedAt": _now(), "finishedAt": None,
        "program": os.path.basename(command[0]), "expected": None, "error": None, "reason": None,
        "framesDone": [], "frameSeconds": {}, "frameFinishedAt": {}, "blender": None, "ffmpeg": None,
    }
    code, error = 0, None
    try:
        marker["frames"] = parse_frames(args.frames) if args.frames else []
    except ValueError as exc:
        code, error = EXIT_RUNNER_ERROR, f"bad --frames: {exc}"
    env = dict(os.environ)
    if error is None and args.bundle:
        try:
            env[BUNDLE_DIR_ENV] = provide_bundle(args)
        except NoSpaceError as exc:
            code, error = EXIT_NO_SPACE, str(exc)
        except BundleError as exc:
            code, error = EXIT_BAD_BUNDLE, f"bad bundle: {exc}"
    task_watch: Any = None
    if error is None:
        log(f"running {command[0]} for task {args.task_id}")
        last_frame_at = None
        if watch is not None:
            task_watch = watch.TaskWatch(args, command, marker["frames"], started_at=marker["startedAt"],
                                         log=log, now=_now)
            last_frame_at = task_watch.last_frame_at
        else:
            log(f"frame times, heartbeats, previews and --stuck-after are off (a node script is missing: "
                f"{_WATCH_MISSING})")
        started = time.monotonic()
        marker["childExitCode"], code, error, marker["reason"] = run_command(
            command, args.timeout, env, sinks=task_watch.sinks() if task_watch else (None, None),
            last_frame_at=last_frame_at, stuck_after=args.stuck_after,
            on_started=task_watch.started if task_watch else None)
        marker["seconds"] = round(time.monotonic() - started, 3)
        if args.expect:
            marker["expected"] = check_outputs(args.expect)
            missing = marker["expected"]["missing"]
            if missing and code == 0:
                code = EXIT_MISSING_OUTPUT
                error = f"{len(missing)} expected files missing or empty: {', '.join(missing[:10])}"
    if error:
        log(error)
    status = "succeeded" if code == 0 else "failed"
    if task_watch is not None:
        marker.update(task_watch.finish(status))
    marker.update(status=status, exitCode=code, error=error, finishedAt=_now())
    try:
        write_marker(args.marker, marker)
    except OSError as exc:
        log(f"cannot write the marker {args.marker}: {exc}")
        return code or EXIT_RUNNER_ERROR
    return code


def main(argv: list[str]) -> int:
    parsed = parse_or_exit_code(parse_args, argv)
    if isinstance(parsed, int):
        return parsed
    return run_task(*parsed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
