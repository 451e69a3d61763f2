"""In-memory Batch jobs and tasks whose command lines are "run" by simulation.

A task's command line is split as bash would (`/bin/bash -c '<script>'` → the
script's words). `true` succeeds, `false` exits 1, `sleep N` runs N seconds then
succeeds; anything else exits 127 (command not found), as no program runs here.
State advances lazily, whenever the server looks at a job: a task starts when
its job is active, its dependencies succeeded (a failed dependency leaves it
active, blocked) and a node of the pool takes tasks (tests/batchrest/nodes.py),
and completes when its simulated run is over. A started task has the files a
node would give it (`stdout.txt`, `stderr.txt`). A disabled job starts nothing:
`requeue` puts its running tasks back to active, `wait` lets them finish.
"""

from __future__ import annotations

import re
import shlex
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.batchrest.nodes import Node, Pool

_SIMPLE_BASH = re.compile(r"^/bin/bash -c '([A-Za-z0-9_./:= -]*)'$|^/bin/bash -c ([A-Za-z0-9_./:=-]+)$")
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else None


def argv_of(command_line: str) -> list[str]:
    """The words a Linux node would run: bash -c scripts are split once more."""
    simple = _SIMPLE_BASH.match(command_line)
    if simple:  # nothing quoted inside: plain words (shlex is slow for 10,000 tasks)
        return (simple.group(1) or simple.group(2)).split()
    try:
        words = shlex.split(command_line)
        if len(words) == 3 and words[0] in ("/bin/bash", "/bin/sh", "bash", "sh") and words[1] == "-c":
            return shlex.split(words[2])
    except ValueError:  # unbalanced quotes: the shell would refuse to run it
        return []
    return words


def seconds_of(duration: str | None) -> float | None:
    """ISO 8601 `PnDTnHnMnS` (the shapes Batch accepts) in seconds."""
    match = _DURATION.match(duration or "")
    if not duration or not match:
        return None
    days, hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + secs


@dataclass
class Outcome:
    seconds: float
    exit_code: int | None
    failure: tuple[str, str] | None = None  # (code, message)


def outcome_of(argv: list[str], wall_clock: float | None) -> Outcome:
    program = argv[0].rsplit("/", 1)[-1] if argv else ""
    if program == "true":
        result = Outcome(0.0, 0)
    elif program == "false":
        result = Outcome(0.0, 1)
    elif program == "sleep" and len(argv) == 2 and _is_number(argv[1]):
        result = Outcome(float(argv[1]), 0)
    elif not argv:
        result = Outcome(0.0, 2)  # bash: syntax error
    else:
        result = Outcome(0.0, 127)  # command not found: nothing else runs here
    if wall_clock is not None and result.seconds > wall_clock:
        return Outcome(wall_clock, None, ("MaxWallClockTimeExpiry", "The task ran longer than the "
                                          "maximum time allowed by its constraints"))
    if result.exit_code:
        result.failure = ("FailureExitCode", "The task exited with an exit code representing a failure")
    return result


def _is_number(text: str) -> bool:
    try:
        return float(text) >= 0
    except ValueError:
        return False


@dataclass
class Task:
    body: dict[str, Any]
    created: datetime
    etag: str
    state: str = "active"
    state_time: datetime = field(default_factory=now)
    start: datetime | None = None
    end: datetime | None = None
    exit_code: int | None = None
    retry_count: int = 0
    failure: tuple[str, str] | None = None
    finish_at: datetime | None = None
    planned: Outcome | None = None
    requeue_count: int = 0
    node: Node | None = None  # where it runs, or last ran
    files: dict[str, bytes] = field(default_factory=dict)  # relative to the task directory

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def succeeded(self) -> bool:
        return self.state == "completed" and self.failure is None

    def dependencies(self, job: Job) -> list[Task | None]:
        depends = self.body.get("dependsOn") or {}
        found: list[Task | None] = [job.tasks.get(i) for i in depends.get("taskIds") or []]
        for r in depends.get("taskIdRanges") or []:
            found += [job.tasks.get(str(i)) for i in range(int(r["start"]), int(r["end"]) + 1)]
        return found

    def to_json(self, base_url: str, job_id: str) -> dict[str, Any]:
        data = dict(self.body)
        data.update({
            "url": f"{base_url}/jobs/{job_id}/tasks/{self.id}", "eTag": self.etag,
            "creationTime": iso(self.created), "lastModified": iso(self.created),
            "state": self.state, "stateTransitionTime": iso(self.state_time),
        })
        if self.node is not None:
            data["nodeInfo"] = {
                "affinityId": self.node.affinity_id, "poolId": self.node.pool_id, "nodeId": self.node.id,
                "nodeUrl": f"{base_url}/pools/{self.node.pool_id}/nodes/{self.node.id}",
                "taskRootDirectory": f"workitems/{job_id}/job-1/{self.id}",
                "taskRootDirectoryUrl": f"{base_url}/jobs/{job_id}/tasks/{self.id}/files",
            }
        if self.start is not None or self.requeue_count:  # a requeued task keeps its counts
            info: dict[str, Any] = {"retryCount": self.retry_count, "requeueCount": self.requeue_count}
            if self.start is not None:
                info["startTime"] = iso(self.start)
            if self.state == "completed":
                info["endTime"] = iso(self.end)
                info["result"] = "failure" if self.failure else "success"
                if self.exit_code is not None:
                    info["exitCode"] = self.exit_code
                if self.failure:
                    info["failureInfo"] = {"category": "usererror", "code": self.failure[0],
                                           "message": self.failure[1]}
            data["executionInfo"] = info
        return data


@dataclass
class Job:
    body: dict[str, Any]
    created: datetime
    etag: str
    state: str = "active"
    state_time: datetime = field(default_factory=now)
    end: datetime | None = None
    terminate_reason: str | None = None
    tasks: dict[str, Task] = field(default_factory=dict)
    lower_ids: set[str] = field(default_factory=set)
    unfinished: dict[str, Task] = field(default_factory=dict)  # so a look costs O(tasks not done)
    pool: Pool = field(default_factory=lambda: Pool.with_nodes("pool"))
    disable_mode: str | None = None  # while disabling or disabled: requeue | terminate | wait

    def add(self, task: Task) -> None:
        self.tasks[task.id] = task
        self.lower_ids.add(task.id.lower())
        self.unfinished[task.id] = task

    @property
    def id(self) -> str:
        return str(self.body["id"])

    def terminate(self, reason: str, moment: datetime) -> None:
        """Running tasks are ended; active ones stay active and never run."""
        self.state, self.state_time = "terminating", moment
        self.terminate_reason = reason
        for task in self.tasks.values():
            if task.state == "running":
                complete(task, moment, None,
                          ("TaskEnded", "The task was ended because its job was terminated"))
                self.unfinished.pop(task.id, None)

    def disable(self, mode: str, moment: datetime) -> None:
        """Batch's Disable Job: nothing new starts; running tasks are requeued, ended or
        (`wait`) left to finish, and the job is `disabled` once they are dealt with."""
        if self.state == "disabled":
            return
        self.state, self.state_time, self.disable_mode = "disabling", moment, mode
        for task in self.running():
            if mode == "requeue":
                requeue(task, moment)
            elif mode == "terminate":
                complete(task, moment, None, ("TaskEnded", "The task was ended because its job was disabled"))
                self.unfinished.pop(task.id, None)

    def enable(self, moment: datetime) -> None:
        self.state, self.state_time, self.disable_mode = "enabling", moment, None

    def running(self) -> list[Task]:
        return [t for t in self.unfinished.values() if t.state == "running"]

    def advance(self, moment: datetime) -> None:
        if self.state == "terminating":
            self.state, self.state_time, self.end = "completed", moment, moment
        if self.state == "enabling":
            self.state, self.state_time = "active", moment
        if self.state == "disabling":
            for task in self.running():  # `wait`: they finish, nothing else starts
                if _step(self, task, moment):
                    del self.unfinished[task.id]
            if not self.running():
                self.state, self.state_time = "disabled", moment
        if self.state != "active":
            return
        changed = True
        while changed:  # a task finishing can release its dependents in the same look
            changed = False
            for task in list(self.unfinished.values()):
                changed |= _step(self, task, moment)
                if task.state == "completed":
                    del self.unfinished[task.id]
        if self.body.get("onAllTasksComplete") == "terminatejob" and self.tasks and not self.unfinished:
            self.state, self.state_time, self.end = "completed", moment, moment
            self.terminate_reason = "AllTasksComplete"

    def counts(self) -> dict[str, int]:
        counts = {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0}
        for task in self.tasks.values():
            key = "running" if task.state == "preparing" else task.state
            counts[key] += 1
            if task.state == "completed":
                counts["succeeded" if task.succeeded else "failed"] += 1
        return counts

    def to_json(self, base_url: str) -> dict[str, Any]:
        data = dict(self.body)
        data.update({
            "url": f"{base_url}/jobs/{self.id}", "eTag": self.etag,
            "lastModified": iso(self.created), "creationTime": iso(self.created),
            "state": self.state, "stateTransitionTime": iso(self.state_time),
            "executionInfo": {"startTime": iso(self.created), "poolId": self.body["poolInfo"].get("poolId")},
        })
        data.setdefault("priority", 0)
        data.setdefault("usesTaskDependencies", False)
        data.setdefault("onAllTasksComplete", "noaction")
        data.setdefault("onTaskFailure", "noaction")
        if self.end is not None:
            data["executionInfo"]["endTime"] = iso(self.end)
        if self.terminate_reason:
            data["executionInfo"]["terminateReason"] = self.terminate_reason
        return data


def _step(job: Job, task: Task, moment: datetime) -> bool:
    if task.state == "active":
        deps = task.dependencies(job)
        if any(d is None or not d.succeeded for d in deps):
            return False  # waiting, or blocked by a failed dependency
        node = job.pool.next_node()
        if node is None:
            return False  # no node takes tasks now
        constraints = task.body.get("constraints") or {}
        retries = int(constraints.get("maxTaskRetryCount") or 0)
        wall_clock = seconds_of(constraints.get("maxWallClockTime"))
        planned = outcome_of(argv_of(task.body["commandLine"]), wall_clock)
        task.state, task.state_time, task.start = "running", moment, moment
        task.planned, task.node = planned, node
        program = (argv_of(task.body["commandLine"]) or ["bash"])[0]
        task.files = {"stdout.txt": b"", "stderr.txt": (f"bash: line 1: {program}: command not found\n".encode()
                                                        if planned.exit_code == 127 else b"")}
        # a failing run is retried up to maxTaskRetryCount times, each as long as the first
        attempts = 1 + (retries if planned.failure else 0)
        task.retry_count = attempts - 1
        task.finish_at = moment + timedelta(seconds=planned.seconds * attempts)
        return True
    if task.state == "running" and task.finish_at is not None and moment >= task.finish_at:
        assert task.planned is not None
        complete(task, task.finish_at, task.planned.exit_code, task.planned.failure)
        return True
    return False


def requeue(task: Task, moment: datetime) -> None:
    """A running task back to active, to run again from the start (not a retry)."""
    task.state, task.state_time, task.start, task.finish_at = "active", moment, None, None
    task.requeue_count += 1


def complete(task: Task, moment: datetime, exit_code: int | None, failure: tuple[str, str] | None) -> None:
    task.state, task.state_time, task.end = "completed", moment, moment
    task.exit_code, task.failure = exit_code, failure


class Store:
    """All jobs of the simulated account; one lock, as handlers run on one loop thread
    but tests read state from theirs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self.pools: dict[str, Pool] = {}
        self._etag = 0

    def pool(self, pool_id: str) -> Pool:
        """The pool of that id, with its nodes (every pool a job names exists here)."""
        if pool_id not in self.pools:
            self.pools[pool_id] = Pool.with_nodes(pool_id)
        return self.pools[pool_id]

    def next_etag(self) -> str:
        self._etag += 1
        return f'"0x8DD{self._etag:012X}"'
