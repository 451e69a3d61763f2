"""Job disable/enable and priority with Batch's semantics, with real processes and restarts."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from localbatch.launcher import LocalBatchProcess
from shared.errors import ConflictError, NotFoundError, ValidationError
from shared.tasks import TaskResult, TaskSpec, TaskStatus
from tests.contract.render_backend_contract import poll_until_done
from tests.localbatch.conftest import Launch
from tests.localbatch.helpers import beating, py, wait_for, wait_running


def job(process: LocalBatchProcess, job_id: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{process.url}/jobs/{job_id}", headers={"x-localbatch-key": process.key})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def counted(starts: Path, flag: Path, beat: Path | None = None) -> tuple[str, ...]:
    """A task that records each start in `starts`, then holds its slot until `flag` exists
    (appending to `beat` meanwhile, so a test sees whether it still runs)."""
    beat_line = f"open({str(beat)!r}, 'a').write('.'); " if beat else ""
    return py(f"import os, time\nopen({str(starts)!r}, 'a').write('x')\n"
              f"while not os.path.exists({str(flag)!r}):\n    {beat_line}time.sleep(0.02)")


def runs(starts: Path) -> int:
    return len(starts.read_text()) if starts.exists() else 0


def test_disable_requeue_kills_the_running_task_and_it_runs_again_after_enable(
        launch: Launch, exchange: Path) -> None:
    process = launch(slots=2)
    backend = process.backend()
    starts, flag, beat = exchange / "starts", exchange / "go", exchange / "beat"
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="long", argv=counted(starts, flag, beat), max_retries=0)])
    wait_running(backend, "job", "long")
    wait_for(beat.exists, 20, "the task to beat")

    backend.disable_job("job", "requeue")
    wait_for(lambda: job(process, "job")["state"] == "disabled", 20, "the job to be disabled")
    assert not beating(beat)  # its process group was killed
    state = backend.get_task("job", "long")
    assert (state.status, state.retry_count, state.result) == (TaskStatus.ACTIVE, 0, None)
    assert not beating(starts, 1.0) and runs(starts) == 1  # disabled: it does not start again
    backend.disable_job("job", "requeue")  # disabling a disabled job is accepted
    assert job(process, "job")["state"] == "disabled"

    backend.enable_job("job")
    wait_for(lambda: runs(starts) == 2, 20, "the task to run again")
    assert job(process, "job")["state"] == "active"
    flag.touch()
    state = poll_until_done(backend, "job", 20)["long"]
    assert (state.result, state.retry_count) == (TaskResult.SUCCESS, 0)  # the requeue used no retry
    assert runs(starts) == 2


def test_disable_wait_lets_the_running_task_finish_and_starts_nothing_until_enabled(
        launch: Launch, exchange: Path) -> None:
    process = launch(slots=2)
    backend = process.backend()
    starts, later_starts, flag = exchange / "starts", exchange / "later", exchange / "go"
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="running", argv=counted(starts, flag))])
    wait_running(backend, "job", "running")

    backend.disable_job("job", "wait")
    assert job(process, "job")["state"] == "disabling"  # until its running task is done
    with pytest.raises(ConflictError):
        backend.enable_job("job")  # as Batch: not while it is being disabled
    backend.add_tasks("job", [TaskSpec(id="later", argv=counted(later_starts, flag))])  # still takes tasks
    flag.touch()
    done = poll_until_done(backend, "job", 20, ["running"])["running"]
    assert (done.result, runs(starts)) == (TaskResult.SUCCESS, 1)
    wait_for(lambda: job(process, "job")["state"] == "disabled", 20, "the job to be disabled")
    assert not beating(later_starts, 1.0)
    assert backend.get_task("job", "later").status is TaskStatus.ACTIVE

    backend.enable_job("job")
    backend.enable_job("job")  # enabling an active (or enabling) job is no error
    assert poll_until_done(backend, "job", 20)["later"].result is TaskResult.SUCCESS
    assert runs(later_starts) == 1


def test_a_disabled_job_stays_disabled_across_a_restart_and_a_crash(launch: Launch, exchange: Path) -> None:
    starts, flag, beat = exchange / "starts", exchange / "go", exchange / "beat"
    first = launch()
    backend = first.backend()
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="long", argv=counted(starts, flag, beat))])
    wait_running(backend, "job", "long")
    wait_for(beat.exists, 20, "the task's process to run")  # "running" begins at the claim, before the process
    backend.disable_job("job", "wait")
    first.kill()  # crash while the job is still disabling

    second = launch()
    backend = second.backend()
    wait_for(lambda: job(second, "job")["state"] == "disabled", 20, "the job to be disabled")
    assert not beating(beat)  # the crashed run's task was killed, and nothing started it again
    assert runs(starts) == 1
    assert backend.get_task("job", "long").status is TaskStatus.ACTIVE
    assert second.stop() == 0

    third = launch()
    backend = third.backend()
    assert job(third, "job")["state"] == "disabled"
    assert not beating(starts, 1.0)
    backend.enable_job("job")
    wait_for(lambda: runs(starts) == 2, 20, "the task to run after enable")
    flag.touch()
    assert poll_until_done(backend, "job", 20)["long"].retry_count == 0


def test_control_of_terminated_missing_jobs_and_bad_modes_is_refused(launch: Launch) -> None:
    backend = launch().backend()
    backend.create_job("ended")
    backend.terminate_job("ended")
    for control in (lambda: backend.disable_job("ended", "wait"), lambda: backend.enable_job("ended"),
                    lambda: backend.set_job_priority("ended", 5)):
        with pytest.raises(ConflictError):
            control()
    for missing in (lambda: backend.disable_job("nope", "requeue"), lambda: backend.enable_job("nope"),
                    lambda: backend.set_job_priority("nope", 1)):
        with pytest.raises(NotFoundError):
            missing()
    for mode in ("terminate", "REQUEUE", ""):
        with pytest.raises(ValidationError):
            backend.disable_job("ended", mode)


def test_raising_a_queued_jobs_priority_makes_its_tasks_start_first(launch: Launch, exchange: Path) -> None:
    process = launch(slots=1)
    backend = process.backend()
    flag = exchange / "go"
    backend.create_job("gate")
    backend.add_tasks("gate", [TaskSpec(id="hold", argv=counted(exchange / "held", flag))])
    wait_running(backend, "gate", "hold")
    backend.create_job("first")
    backend.create_job("second")
    backend.add_tasks("first", [TaskSpec(id=f"first{i}", argv=("true",)) for i in range(2)])
    backend.add_tasks("second", [TaskSpec(id=f"second{i}", argv=("true",)) for i in range(2)])
    backend.set_job_priority("second", 10)
    assert job(process, "second")["priority"] == 10
    flag.touch()
    done = {**poll_until_done(backend, "first", 20), **poll_until_done(backend, "second", 20)}
    order = sorted(done, key=lambda t: done[t].start_time or "")
    assert order == ["second0", "second1", "first0", "first1"]


def test_priority_outside_batch_range_is_refused_by_adapter_and_server(launch: Launch) -> None:
    process = launch()
    backend = process.backend()
    backend.create_job("job", priority=3)
    for priority in (1001, -1001, True, 2.5):
        with pytest.raises(ValidationError):
            backend.set_job_priority("job", priority)  # type: ignore[arg-type]
    for body in ({"priority": 1001}, {"priority": "high"}, {}, {"priority": 1, "state": "active"}, [1]):
        request = urllib.request.Request(f"{process.url}/jobs/job", data=json.dumps(body).encode(), method="PATCH",
                                         headers={"x-localbatch-key": process.key,
                                                  "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400
    assert job(process, "job")["priority"] == 3
