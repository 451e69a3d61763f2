"""One attempt of one task: working directory, resource files, the process, output files.

The process runs without a shell as the leader of its own process group, with
a Batch node's environment; a timeout, a job termination or a shutdown kills
the whole group. stdout.txt and stderr.txt stay in the task directory, the parent of the
working directory (output patterns reach them as ../std*.txt, as on Batch).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from localbatch import procs
from localbatch.files import SERVER_ERROR, USER_ERROR, BlobFiles, TaskFileError
from localbatch.sandbox import Sandbox
from shared.tasks import TaskSpec

log = logging.getLogger("localbatch.runner")

# What a task inherits from localbatch's own environment; the rest is the node's and the task's.
INHERITED = ("HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME")
SHUTDOWN = "shutdown"  # stop reasons that requeue the task instead of failing it (no retry used)
DISABLED = "job disabled"
REQUEUE_REASONS = frozenset({SHUTDOWN, DISABLED})
TASKSET = shutil.which("taskset")  # util-linux: runs a command on given cores


def slot_cpus(slots: int, cpus: set[int] | frozenset[int]) -> list[tuple[int, ...]] | None:
    """The cores of each slot when the slots share the cores out whole (slot i gets the i-th
    run of len(cpus) // slots of them); None when there are more slots than cores.

    Each task then keeps to its own cores, as a Deadline Worker with CPU affinity does: two
    tasks never fight over one core, and a task's helper threads (Blender's task scheduler spins
    on every core it may use) stay on its slot's cores.
    """
    ordered = sorted(cpus)
    if not 1 <= slots <= len(ordered):
        return None
    share = len(ordered) // slots
    return [tuple(ordered[i * share:(i + 1) * share]) for i in range(slots)]


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None
    failure: str | None        # None when the task succeeded
    retryable: bool = False    # a non-zero exit or storage down: may be retried; timeouts, bad files are final
    requeue: bool = False      # stopped by a shutdown or a job disable: run again, no retry used
    category: str | None = None  # Batch's failureInfo category: UserError or ServerError

    @classmethod
    def failed(cls, exit_code: int | None, failure: str, *, retryable: bool = False,
               category: str = USER_ERROR) -> Outcome:
        return cls(exit_code, failure, retryable=retryable, category=category)


@dataclass(frozen=True)
class Node:
    """Where tasks run and what they find there."""

    root: Path
    bin_dir: Path
    files: BlobFiles
    sandbox: Sandbox | None = None  # None: tasks run unisolated (only with --no-sandbox)
    node_id: str = "localbatch"     # Batch's nodeInfo.nodeId of every task run here

    def task_dir(self, job_id: str, task_id: str) -> Path:
        """As on a Batch node: stdout.txt and stderr.txt here, the working directory in wd/."""
        return self.root / "work" / job_id / task_id

    def workdir(self, job_id: str, task_id: str) -> Path:
        return self.task_dir(job_id, task_id) / "wd"

    @property
    def shared_dir(self) -> Path:
        return self.root / "shared"


class TaskRun:
    def __init__(self, node: Node, job_id: str, spec: TaskSpec, cpus: tuple[int, ...] | None = None) -> None:
        self.node, self.job_id, self.spec = node, job_id, spec
        self.cpus = cpus  # the cores of the task's slot (its process and children run there); None: any
        self.task_dir = node.task_dir(job_id, spec.id)
        self.workdir = node.workdir(job_id, spec.id)
        self.stop_reason: str | None = None
        self.pid: int | None = None

    def stop(self, reason: str) -> None:
        """Ask the attempt to end now (terminate, disable or shutdown); kills the group if it runs."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.pid is not None:
            procs.kill_group(self.pid)

    async def run(self, on_started: Callable[[int, str], None]) -> Outcome:
        # A fresh directory per attempt: a retry never sees a half-written frame of the last one.
        await asyncio.to_thread(_fresh_dir, self.task_dir)
        self.workdir.mkdir()
        try:
            await asyncio.to_thread(self.node.files.download, self.workdir, self.spec.resource_files)
        except TaskFileError as exc:
            return await self._finish(None, str(exc), retryable=exc.retryable, category=exc.category)
        if self.stop_reason:
            return await self._finish(None, self.stop_reason)
        try:
            process = await self._start()
        except OSError as exc:
            return await self._finish(None, f"cannot start {self.spec.argv[0]}: {exc.strerror or exc}")
        self.pid = process.pid
        on_started(process.pid, procs.start_time(process.pid) or "")
        if self.stop_reason:  # stopped while starting
            procs.kill_group(process.pid)
        failure: str | None = None
        try:
            await asyncio.wait_for(process.wait(), timeout=self.spec.max_wall_clock_seconds)
        except TimeoutError:
            failure = "timeout"
            procs.kill_group(process.pid)
            await process.wait()
        # Whatever the task left running in its group ends with it.
        procs.kill_group(process.pid)
        assert process.returncode is not None
        code = procs.exit_code(process.returncode)
        failure = self.stop_reason or failure or (f"exit code {code}" if code != 0 else None)
        return await self._finish(code, failure, retryable=failure == f"exit code {code}")

    async def _start(self) -> asyncio.subprocess.Process:
        env = self._environment()
        program = self.spec.argv[0]
        resolved = (shutil.which(program, path=env["PATH"]) if "/" not in program
                    else str(self.workdir / program))
        if resolved is None:
            raise FileNotFoundError(2, f"program not found on PATH: {program}")
        argv = [resolved, *self.spec.argv[1:]]
        sandbox = self.node.sandbox
        if sandbox is not None:
            argv = sandbox.wrap(argv, task_dir=self.task_dir, workdir=self.workdir,
                                shared_dir=self.node.shared_dir, bin_dir=self.node.bin_dir, env=env)
            env = {"PATH": os.defpath}  # bwrap's own; the task's is set inside (--clearenv, --setenv)
        env[procs.MARKER] = str(self.node.root)  # a restart after a crash finds the process by it
        if self.cpus is not None and TASKSET is not None:
            # taskset sets the affinity and execs: the pid stays the task's (or bwrap's), and every
            # thread and child the task starts inherits the slot's cores.
            argv = [TASKSET, "-c", ",".join(map(str, self.cpus)), *argv]
        with (self.task_dir / "stdout.txt").open("wb") as out, (self.task_dir / "stderr.txt").open("wb") as err:
            return await asyncio.create_subprocess_exec(
                *argv, cwd=self.workdir, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=out, stderr=err, start_new_session=True)

    def _environment(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in INHERITED if k in os.environ}
        env.update(self.spec.environment)
        path = self.spec.environment.get("PATH") or os.environ.get("PATH", os.defpath)
        env["PATH"] = os.pathsep.join([str(self.node.bin_dir), path])
        env.update({
            "AZ_BATCH_JOB_ID": self.job_id,
            "AZ_BATCH_TASK_ID": self.spec.id,
            "AZ_BATCH_TASK_WORKING_DIR": str(self.workdir),
            "AZ_BATCH_TASK_DIR": str(self.task_dir),
            "AZ_BATCH_NODE_ROOT_DIR": str(self.node.root),
            "AZ_BATCH_NODE_SHARED_DIR": str(self.node.shared_dir),
        })
        return env

    async def _finish(self, exit_code: int | None, failure: str | None, *,
                      retryable: bool = False, category: str = USER_ERROR) -> Outcome:
        if self.stop_reason in REQUEUE_REASONS:  # outputs of an interrupted attempt are not uploaded
            return Outcome(exit_code, self.stop_reason, requeue=True)
        try:
            await asyncio.to_thread(self.node.files.upload, self.workdir, self.spec.output_files,
                                    succeeded=failure is None)
        except TaskFileError as exc:
            if failure is not None:  # the process's own failure says more than the upload that followed it
                return Outcome.failed(exit_code, failure, retryable=retryable, category=category)
            return Outcome.failed(exit_code, str(exc), retryable=exc.retryable, category=exc.category)
        except Exception as exc:  # a bug must not leave the task running forever
            log.exception("output upload of %s/%s failed", self.job_id, self.spec.id)
            return Outcome.failed(exit_code, failure or f"output file upload failed: {exc}", category=SERVER_ERROR)
        if failure is None:
            return Outcome(exit_code, None)
        return Outcome.failed(exit_code, failure, retryable=retryable, category=category)


def _fresh_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
