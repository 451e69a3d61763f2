"""Slots, priority, and what survives a stop or a crash of localbatch itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from localbatch.launcher import LaunchError
from shared.tasks import TaskResult, TaskSpec, TaskStatus
from tests.contract.render_backend_contract import poll_until_done
from tests.localbatch.conftest import Launch
from tests.localbatch.helpers import beating, py, wait_for, wait_running


def gate(flag: Path) -> tuple[str, ...]:
    """A task that holds its slot until `flag` exists."""
    return py(f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.02)")


def test_higher_priority_job_runs_first_then_fifo(launch: Launch, exchange: Path) -> None:
    backend = launch(slots=1).backend()
    flag = exchange / "go"
    backend.create_job("gate")
    backend.add_tasks("gate", [TaskSpec(id="hold", argv=gate(flag))])
    wait_running(backend, "gate", "hold")
    backend.create_job("low", priority=-10)
    backend.create_job("high", priority=100)
    backend.add_tasks("low", [TaskSpec(id=f"low{i}", argv=("true",)) for i in range(3)])
    backend.add_tasks("high", [TaskSpec(id=f"high{i}", argv=("true",)) for i in range(3)])
    flag.touch()
    done = {**poll_until_done(backend, "low", 20), **poll_until_done(backend, "high", 20)}
    order = sorted(done, key=lambda t: done[t].start_time or "")
    assert order == ["high0", "high1", "high2", "low0", "low1", "low2"]


def test_slots_limit_how_many_tasks_run_at_once(launch: Launch, exchange: Path) -> None:
    backend = launch(slots=2).backend()
    flag = exchange / "go"
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id=f"t{i}", argv=gate(flag)) for i in range(3)])
    wait_for(lambda: backend.task_counts("job").running == 2, 20, "two running tasks")
    counts = backend.task_counts("job")
    assert (counts.running, counts.active) == (2, 1)
    flag.touch()
    poll_until_done(backend, "job", 20)


def test_a_second_localbatch_on_the_same_data_dir_refuses_to_start(launch: Launch) -> None:
    launch()
    with pytest.raises(LaunchError, match="another localbatch"):
        launch()


def test_crash_during_a_task_reruns_it_and_keeps_finished_tasks(launch: Launch, exchange: Path) -> None:
    starts = exchange / "starts"
    finished_runs = exchange / "finished"
    flag = exchange / "go"
    # Records each start, then holds its slot until the flag exists, beating into beat<n> meanwhile.
    code = (f"import os, time\nopen({str(starts)!r}, 'a').write('x')\n"
            f"beat = {str(exchange)!r} + '/beat' + str(len(open({str(starts)!r}).read()))\n"
            f"while not os.path.exists({str(flag)!r}):\n    open(beat, 'a').write('.'); time.sleep(0.02)")
    first = launch(slots=2)
    backend = first.backend()
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="done", argv=py(f"open({str(finished_runs)!r}, 'a').write('x')"))])
    before = poll_until_done(backend, "job", 20)["done"]
    backend.add_tasks("job", [TaskSpec(id="long", argv=py(code), max_retries=0)])
    orphan = exchange / "beat1"
    wait_for(orphan.exists, 20, "the task to start")

    first.kill()  # kill -9: the task's process group outlives localbatch
    assert beating(orphan)

    backend = launch(slots=2).backend()
    wait_for(lambda: len(starts.read_text()) == 2, 20, "the task to start again")
    assert not beating(orphan)  # the restart killed what the crashed run left behind
    flag.touch()
    states = poll_until_done(backend, "job", 20)
    assert states["long"].result is TaskResult.SUCCESS
    assert states["long"].retry_count == 0  # the crash did not use a retry
    assert states["done"] == before  # finished tasks are not rerun
    assert finished_runs.read_text() == "x"


def test_stop_requeues_running_tasks_for_the_next_start(launch: Launch, exchange: Path) -> None:
    starts = exchange / "starts"
    flag = exchange / "go"
    code = (f"import os, time\nopen({str(starts)!r}, 'a').write('x')\n"
            f"while not os.path.exists({str(flag)!r}): time.sleep(0.02)")
    first = launch()
    backend = first.backend()
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="long", argv=py(code))])
    wait_for(starts.exists, 20, "the task to start")
    assert first.stop() == 0

    backend = launch().backend()
    wait_for(lambda: starts.read_text() == "xx", 20, "the task to start again")
    assert backend.get_task("job", "long").status is TaskStatus.RUNNING
    flag.touch()
    state = poll_until_done(backend, "job", 20)["long"]
    assert (state.result, state.retry_count) == (TaskResult.SUCCESS, 0)
