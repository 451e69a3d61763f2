"""Worker slots: claim runnable tasks from the store, run them, record how they ended.

One asyncio loop drives everything; the store is touched only from it. The loop
wakes when tasks are added or finish, and every poll interval as a fallback.
Each pass first settles jobs being disabled or enabled, then claims, unless the
node's scheduling is disabled (then running tasks finish and nothing new starts).

A task's directory goes once the task has ended and its outputs are uploaded: at once
when it succeeded (its outputs are in storage), after `failed_retention` when it failed,
so its logs and working files can be looked at meanwhile.

With `pin_cpus` each slot owns its share of the cores (`runner.slot_cpus`), and a task runs
on the cores of the slot it was given; with more slots than cores nothing is pinned.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from datetime import UTC, datetime, timedelta

from localbatch import procs
from localbatch.files import SERVER_ERROR
from localbatch.runner import DISABLED, SHUTDOWN, Node, Outcome, TaskRun, slot_cpus
from localbatch.store import Claim, Store

log = logging.getLogger("localbatch.scheduler")


class Scheduler:
    def __init__(self, store: Store, node: Node, *, slots: int, poll_interval: float,
                 failed_retention: timedelta, pin_cpus: bool = False) -> None:
        self.store, self.node = store, node
        self.cpu_sets = slot_cpus(slots, os.sched_getaffinity(0)) if pin_cpus else None
        self._free_slots = set(range(slots))
        self.slots, self.poll_interval, self.failed_retention = slots, poll_interval, failed_retention
        # Sweep often enough to honour a short retention, never more than every 10 minutes.
        self._sweep_every = min(timedelta(minutes=10), max(failed_retention / 2, timedelta(seconds=1)))
        self.running: dict[tuple[str, str], tuple[TaskRun, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_sweep = datetime.min.replace(tzinfo=UTC)

    def recover(self) -> None:
        """After a crash: kill what the last run left behind and queue it again (no retry used)."""
        for row in self.store.running():
            if row["pid"] is not None and procs.kill_stale_group(row["pid"], row["pid_start"]):
                log.info("killed leftover process group %s of %s/%s", row["pid"], row["job_id"], row["id"])
            self.store.requeue(row["job_id"], row["id"])
            log.info("requeued interrupted task %s/%s", row["job_id"], row["id"])
        # A crash between starting a process and recording its pid leaves one no row names.
        for pgid in procs.kill_marked(str(self.node.root)):
            log.info("killed leftover process group %s (started before the crash, pid not recorded)", pgid)

    def wake(self) -> None:
        self._wake.set()

    async def loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                self.store.settle_jobs()
                if self.store.node(self.node.node_id)["schedulingState"] == "enabled":
                    for claim in self.store.claim_next(self.slots - len(self.running), self.node.node_id):
                        self._start(claim)
                self._sweep_workdirs()
            except Exception:  # e.g. a locked or full disk: keep serving, try again next pass
                log.exception("scheduling pass failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except TimeoutError:
                pass

    def terminate(self, job_id: str) -> None:
        for task_id in self.store.terminate_job(job_id):
            entry = self.running.get((job_id, task_id))
            if entry is not None:
                entry[0].stop("terminated")

    def disable(self, job_id: str, mode: str) -> None:
        """Batch's Disable Job: `requeue` kills the job's running tasks and queues them again
        (no retry used); `wait` lets them finish. Nothing of the job starts until enabled."""
        self.store.disable_job(job_id)
        if mode == "requeue":
            for task_id in self.store.running_ids(job_id):
                entry = self.running.get((job_id, task_id))
                if entry is not None:
                    entry[0].stop(DISABLED)
        self.store.settle_jobs()  # a job with nothing running is disabled at once
        self.wake()

    def enable(self, job_id: str) -> None:
        self.store.enable_job(job_id)
        self.wake()

    async def shutdown(self) -> None:
        """Stop claiming, kill every running task, and leave them queued for the next start."""
        self._stopping = True
        self.wake()
        entries = list(self.running.values())
        for run, _ in entries:
            run.stop(SHUTDOWN)
        await asyncio.gather(*(task for _, task in entries), return_exceptions=True)

    def _start(self, claim: Claim) -> None:
        slot = min(self._free_slots)  # claims never exceed the free slots
        self._free_slots.discard(slot)
        cpus = self.cpu_sets[slot] if self.cpu_sets is not None else None
        run = TaskRun(self.node, claim.job_id, claim.spec, cpus=cpus)
        key = (claim.job_id, claim.spec.id)
        log.info("starting %s/%s (retry %d) in slot %d%s", claim.job_id, claim.spec.id, claim.retry_count, slot,
                 f" on cores {','.join(map(str, cpus))}" if cpus else "")
        self.running[key] = (run, asyncio.create_task(self._run(claim, run, slot)))

    async def _run(self, claim: Claim, run: TaskRun, slot: int) -> None:
        job_id, task_id = claim.job_id, claim.spec.id
        try:
            outcome = await run.run(lambda pid, start: self.store.set_process(job_id, task_id, pid, start))
        except Exception as exc:  # a bug in localbatch fails the task instead of leaving it running
            log.exception("task %s/%s crashed localbatch's runner", job_id, task_id)
            outcome = Outcome.failed(None, f"localbatch error: {exc}", category=SERVER_ERROR)
        try:
            succeeded = self._record(claim, outcome)
            self.store.settle_jobs()  # a job disabling with `wait` is disabled once its last task ends
        except Exception:  # the task stays "running" in the store and runs again after a restart
            log.exception("could not record the end of %s/%s", job_id, task_id)
            succeeded = False
        try:
            if succeeded:  # its outputs are uploaded: nothing in its directory is needed any more
                await asyncio.to_thread(self._remove_task_dir, job_id, task_id)
        finally:
            self.running.pop((job_id, task_id), None)
            self._free_slots.add(slot)
            self.wake()

    def _record(self, claim: Claim, outcome: Outcome) -> bool:
        """Store how the attempt ended; True if the task has now succeeded."""
        job_id, task_id = claim.job_id, claim.spec.id
        if outcome.requeue:
            self.store.requeue(job_id, task_id)
            return False
        retry = outcome.retryable and claim.retry_count < claim.spec.max_retries
        self.store.finish(job_id, task_id, exit_code=outcome.exit_code, failure=outcome.failure, retry=retry,
                          category=outcome.category)
        log.info("task %s/%s %s (exit %s)%s", job_id, task_id, outcome.failure or "succeeded",
                 outcome.exit_code, ", will retry" if retry else "")
        return outcome.failure is None and outcome.exit_code == 0

    def _remove_task_dir(self, job_id: str, task_id: str) -> None:
        task_dir = self.node.task_dir(job_id, task_id)
        if task_dir.exists():
            shutil.rmtree(task_dir, ignore_errors=True)
        try:
            task_dir.parent.rmdir()  # the job's directory, once its last task's is gone
        except OSError:
            pass

    def _sweep_workdirs(self) -> None:
        """Remove the directories of failed tasks older than the retention, and of any succeeded
        task whose removal a crash interrupted."""
        now = datetime.now(UTC)
        if now - self._last_sweep < self._sweep_every:
            return
        self._last_sweep = now
        cutoff = (now - self.failed_retention).isoformat(timespec="microseconds").replace("+00:00", "Z")
        for job_id, task_id in self.store.to_clean_up(failed_before=cutoff):
            self._remove_task_dir(job_id, task_id)
