"""Slots, priority, and what survives a stop or a crash of localbatch itself."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from localbatch import procs
from localbatch.launcher import LaunchError
from localbatch.runner import slot_cpus
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

    first.kill()  # kill -9
    assert not beating(orphan)  # its sandbox died with it (bwrap --die-with-parent)

    backend = launch(slots=2).backend()
    wait_for(lambda: len(starts.read_text()) == 2, 20, "the task to start again")
    flag.touch()
    states = poll_until_done(backend, "job", 20)
    assert states["long"].result is TaskResult.SUCCESS
    assert states["long"].retry_count == 0  # the crash did not use a retry
    assert states["done"] == before  # finished tasks are not rerun
    assert finished_runs.read_text() == "x"


def pid_beat(pids: Path, beat: Path) -> tuple[str, ...]:
    """A task that records its pid in `pids`, then appends to `beat` every 50 ms."""
    return ("sh", "-c", 'echo $$ >> "$0"; while :; do printf . >> "$1"; sleep 0.05; done', str(pids), str(beat))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # an orphan nobody reaps stays a zombie here: it counts as gone


@pytest.mark.parametrize("recorded", [True, False], ids=["pid-recorded", "pid-not-recorded"])
def test_unsandboxed_tasks_outlive_a_crash_and_the_restart_kills_them(
        launch: Launch, exchange: Path, recorded: bool) -> None:
    """Without the sandbox a task's process group outlives a kill -9 of localbatch; the next start
    kills it, by its recorded pid or, when the crash came between starting the process and
    recording its pid, by the node's marker in its environment."""
    pids, beat = exchange / "pids", exchange / "beat"
    first = launch(sandbox=False)
    backend = first.backend()
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id="long", argv=pid_beat(pids, beat), max_retries=0)])
    wait_for(beat.exists, 20, "the task to start")
    first.kill()
    orphan = int(pids.read_text().split()[0])
    assert beating(beat) and alive(orphan)  # it lives on
    if not recorded:
        with sqlite3.connect(first.data_dir / "localbatch.sqlite") as db:
            db.execute("UPDATE tasks SET pid = NULL, pid_start = NULL")
    # A process carrying another node's marker is none of this node's business.
    other = subprocess.Popen(("sleep", "60"), start_new_session=True,
                             env={**os.environ, procs.MARKER: str(exchange / "another-node")})
    try:
        second = launch(sandbox=False)
        backend = second.backend()
        wait_for(lambda: len(pids.read_text().split()) == 2, 20, "the task to run again")
        assert not alive(orphan)  # the restart killed the leftover before starting the task again
        assert backend.get_task("job", "long").retry_count == 0
        assert other.poll() is None
        backend.terminate_job("job")
        wait_for(lambda: not alive(int(pids.read_text().split()[1])), 20, "the rerun to be killed")
    finally:
        other.kill()
        other.wait()
        procs.kill_marked(str(first.data_dir.resolve()))  # whatever a failed run of this test left


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


def test_slot_cpus_share_the_cores_out_whole() -> None:
    assert slot_cpus(2, {0, 1}) == [(0,), (1,)]
    assert slot_cpus(1, {0, 1}) == [(0, 1)]
    assert slot_cpus(2, {2, 3, 6, 7, 9}) == [(2, 3), (6, 7)]  # the odd core out is nobody's
    assert slot_cpus(4, {0, 1}) is None  # more slots than cores: nothing is pinned
    assert slot_cpus(0, {0, 1}) is None


def affinity_task(out: Path, flag: Path) -> tuple[str, ...]:
    """Writes the cores it and a child of it may run on, then holds its slot until `flag` exists."""
    child = "import json, os; print(json.dumps(sorted(os.sched_getaffinity(0))))"
    return py(f"import json, os, subprocess, time\n"
              f"child = subprocess.run(['python3', '-c', {child!r}], capture_output=True, text=True).stdout\n"
              f"open({str(out)!r}, 'w').write(json.dumps([sorted(os.sched_getaffinity(0)), json.loads(child)]))\n"
              f"while not os.path.exists({str(flag)!r}): time.sleep(0.02)")


@pytest.mark.parametrize("pin", [True, False], ids=["pinned", "not-pinned"])
def test_each_slot_runs_its_tasks_on_its_own_cores(launch: Launch, exchange: Path, pin: bool) -> None:
    flag = exchange / "go"
    process = launch(slots=2, extra_args=() if pin else ("--no-pin-cpus",))
    backend = process.backend()
    backend.create_job("job")
    outs = [exchange / f"cpus{i}" for i in range(2)]
    backend.add_tasks("job", [TaskSpec(id=f"t{i}", argv=affinity_task(out, flag)) for i, out in enumerate(outs)])
    wait_for(lambda: all(o.exists() and o.read_text() for o in outs), 20, "both tasks to run")
    seen = [json.loads(o.read_text()) for o in outs]
    flag.touch()
    assert all(r.result is TaskResult.SUCCESS for r in poll_until_done(backend, "job", 20).values())
    everything = sorted(os.sched_getaffinity(0))
    expected = slot_cpus(2, os.sched_getaffinity(0)) if pin else None
    if expected is None:  # not pinned (or more slots than cores): every task may use every core
        assert all(cpus == everything and child == everything for cpus, child in seen)
    else:  # each task on its slot's cores, its children too, and no two tasks share one
        assert sorted(tuple(cpus) for cpus, _ in seen) == sorted(expected)
        assert all(child == cpus for cpus, child in seen)
