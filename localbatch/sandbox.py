"""Each task in a bubblewrap sandbox: it sees its own task directory and the node's software, nothing else.

A bundle's .blend may hold any path (`//../../other-job`, `/etc/...`) and its
scripts, if ever run, any code; so the process gets new mount, pid, network,
ipc, uts and user namespaces (`bwrap --unshare-all`):

- writable: its task directory (`stdout.txt`, `stderr.txt`, `wd/`), the node's shared
  directory (AZ_BATCH_NODE_SHARED_DIR, where the task runner unpacks each bundle once per
  node, into `bundles/<hash>`), and a private, empty /tmp. What another task already
  finished there (every directory two levels down, `bundles/<hash>`, not those named
  `.…`, which are still being made) is read-only, so no task can change or remove
  another job's unpacked bundle;
- read-only: the system's programs and libraries (/usr and its /bin, /lib links), the few
  /etc files programs need, this Python (its base installation and the virtualenv with bpy
  and imageio-ffmpeg), localbatch's own package (for `blender`) and DIR/bin;
- invisible: every other task's and job's directory, localbatch's queue and key, the
  rest of /etc, /root, /home, /work, /sys, the host's processes (/proc is the sandbox's own);
- no network: a new network namespace has only its own loopback, so not even
  127.0.0.1 ports of the host (Azurite, localbatch, devhost) are reachable.

The task runs as an unprivileged uid inside (no capabilities). bwrap stays the
leader of the task's process group, so killing the group (timeout, terminate,
shutdown, a restart after a crash) kills the sandbox and everything in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TASK_UID = 65534  # "nobody" inside the sandbox's user namespace
# Top-level links of a merged-/usr system (/bin -> usr/bin); directories where they are not links.
ROOT_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What dynamic linking, Python, FFmpeg and Blender read from /etc; nothing with secrets.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/passwd", "/etc/group",
             "/etc/nsswitch.conf", "/etc/localtime", "/etc/timezone", "/etc/alternatives", "/etc/ssl/certs",
             "/etc/ca-certificates", "/etc/mime.types", "/etc/fonts")
SYS_READ = ("/sys/devices/system/cpu",)  # core counts for Cycles' and TBB's thread pools


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or cannot make namespaces here; localbatch refuses to start without one."""


@dataclass(frozen=True)
class Sandbox:
    bwrap: str
    software: tuple[Path, ...]  # read-only, at the same paths as outside

    def wrap(self, argv: Sequence[str], *, task_dir: Path, workdir: Path, shared_dir: Path, bin_dir: Path,
             env: Mapping[str, str]) -> list[str]:
        """The bwrap command line that runs argv (resolved already) in workdir, inside the sandbox."""
        args = [self.bwrap, "--unshare-all", "--uid", str(TASK_UID), "--gid", str(TASK_UID),
                "--cap-drop", "ALL", "--clearenv", "--hostname", "localbatch-task",
                # A crashed localbatch takes its sandboxes (and every process in them) with it.
                "--die-with-parent"]
        for link in ROOT_LINKS:
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                args += ["--ro-bind", link, link]
        # The empty /tmp first: node directories may lie below /tmp and are bound over it.
        args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
        for path in (*ETC_FILES, *SYS_READ):
            args += ["--ro-bind-try", path, path]
        for software in (*self.software, bin_dir):
            args += ["--ro-bind", str(software), str(software)]
        args += ["--bind", str(shared_dir), str(shared_dir)]
        for finished in _finished_shared_entries(shared_dir):
            args += ["--ro-bind", str(finished), str(finished)]
        args += ["--bind", str(task_dir), str(task_dir)]
        for name, value in env.items():
            args += ["--setenv", name, value]
        # The sandbox's own /tmp for everything temporary, HOME included (Blender writes its config there).
        args += ["--setenv", "TMPDIR", "/tmp", "--setenv", "HOME", "/tmp",
                 "--remount-ro", "/", "--chdir", str(workdir), "--", *argv]
        return args


def _finished_shared_entries(shared_dir: Path) -> list[Path]:
    """Directories two levels below the shared directory (`bundles/<hash>`) that are complete."""
    found: list[Path] = []
    try:
        areas = [a for a in shared_dir.iterdir() if a.is_dir() and not a.is_symlink()
                 and not a.name.startswith(".")]
        for area in areas:
            found += [e for e in area.iterdir() if e.is_dir() and not e.is_symlink() and not e.name.startswith(".")]
    except OSError:  # a directory removed meanwhile: it is not there to protect
        pass
    return sorted(found)


def software_paths() -> tuple[Path, ...]:
    """This interpreter (base installation and virtualenv, also where their symlinks point) and localbatch."""
    paths: list[Path] = []
    for raw in (sys.base_prefix, sys.prefix, sys.exec_prefix, str(PACKAGE_DIR)):
        for path in (Path(raw), Path(raw).resolve()):
            if path.is_dir() and path not in paths:
                paths.append(path)
    # Binding a directory inside one already bound would be redundant, and its order would matter.
    return tuple(p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths))


def find_sandbox() -> Sandbox:
    """A working bwrap, checked by running `true` in a sandbox as tasks will run."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bwrap (Debian package bubblewrap) is not installed")
    sandbox = Sandbox(bwrap=bwrap, software=software_paths())
    # An empty directory of its own: the shared directory's bundles are bound one by one, and a
    # busy folder such as /tmp would make the probe race other programs' files coming and going.
    with tempfile.TemporaryDirectory(prefix="localbatch-probe-") as tmp:
        probe = Path(tmp)
        argv = sandbox.wrap(["/usr/bin/env", "true"], task_dir=probe, workdir=probe, shared_dir=probe,
                            bin_dir=probe, env={})
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"bwrap does not run: {exc}") from exc
    if result.returncode != 0:
        raise SandboxUnavailable(f"bwrap cannot make a sandbox here (user namespaces may be restricted): "
                                 f"{result.stderr.strip() or f'exit {result.returncode}'}")
    return sandbox
