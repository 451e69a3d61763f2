"""How a task runs: node environment, programs on PATH, logs, retries, timeouts."""

from __future__ import annotations

import json
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from localbatch.launcher import LocalBatchProcess
from shared.adapters.local_batch_backend import LocalBatchBackend
from shared.tasks import OutputFile, TaskResult, TaskSpec, TaskStatus
from tests.contract.render_backend_contract import poll_until_done
from tests.localbatch.helpers import beating, heartbeat, py, wait_for


def logs(container: str) -> tuple[OutputFile, ...]:
    """Upload the task's stdout.txt and stderr.txt, as the pipeline does (its directory goes once it succeeded)."""
    return (OutputFile("../std*.txt", container, "logs/"),)


def read_log(blobs: BlobServiceClient, container: str, name: str = "stdout.txt") -> str:
    return bytes(blobs.get_blob_client(container, f"logs/{name}").download_blob().readall()).decode()


def test_task_sees_a_batch_node_environment(backend: LocalBatchBackend, shared_localbatch: LocalBatchProcess,
                                            blobs: BlobServiceClient, container: str, unique_name: str) -> None:
    code = ("import json, os, shutil; keys = ['AZ_BATCH_JOB_ID', 'AZ_BATCH_TASK_ID', 'AZ_BATCH_TASK_WORKING_DIR',"
            " 'AZ_BATCH_NODE_ROOT_DIR', 'SHOT']; env = {k: os.environ.get(k) for k in keys};"
            " env['cwd'] = os.getcwd(); env['which'] = {p: shutil.which(p) for p in"
            " ('blender', 'ffmpeg', 'python3')}; print(json.dumps(env));"
            " print('to stderr', file=__import__('sys').stderr)")
    backend.create_job(unique_name)
    backend.add_tasks(unique_name, [TaskSpec(id="env", argv=py(code), environment={"SHOT": "sh010"},
                                             output_files=logs(container))])
    assert poll_until_done(backend, unique_name, 20)["env"].result is TaskResult.SUCCESS
    task_dir = shared_localbatch.data_dir.resolve() / "work" / unique_name / "env"
    workdir = task_dir / "wd"  # as on a Batch node: the logs beside the working directory
    seen = json.loads(read_log(blobs, container))
    assert read_log(blobs, container, "stderr.txt").strip() == "to stderr"
    assert seen["AZ_BATCH_JOB_ID"] == unique_name and seen["AZ_BATCH_TASK_ID"] == "env"
    assert seen["AZ_BATCH_TASK_WORKING_DIR"] == seen["cwd"] == str(workdir)
    assert seen["AZ_BATCH_NODE_ROOT_DIR"] == str(shared_localbatch.data_dir.resolve())
    assert seen["SHOT"] == "sh010"
    bin_dir = shared_localbatch.data_dir.resolve() / "bin"
    assert seen["which"] == {p: str(bin_dir / p) for p in ("blender", "ffmpeg", "python3")}


def test_node_ffmpeg_runs(backend: LocalBatchBackend, unique_name: str) -> None:
    backend.create_job(unique_name)
    backend.add_tasks(unique_name, [TaskSpec(id="ffmpeg", argv=("ffmpeg", "-hide_banner", "-version"))])
    state = poll_until_done(backend, unique_name, 20)["ffmpeg"]
    assert (state.result, state.exit_code) == (TaskResult.SUCCESS, 0)


def test_node_blender_runs_bpy(backend: LocalBatchBackend, blobs: BlobServiceClient, container: str,
                               unique_name: str) -> None:
    backend.create_job(unique_name)
    backend.add_tasks(unique_name, [TaskSpec(id="blender", argv=(
        "blender", "-b", "--python-expr", "import bpy; print('scenes', len(bpy.data.scenes))"),
        output_files=logs(container))])
    state = poll_until_done(backend, unique_name, 30)["blender"]
    assert (state.result, state.exit_code) == (TaskResult.SUCCESS, 0)
    assert "scenes 1" in read_log(blobs, container)


def test_argv_is_not_run_through_a_shell(backend: LocalBatchBackend, blobs: BlobServiceClient, container: str,
                                         unique_name: str) -> None:
    backend.create_job(unique_name)
    backend.add_tasks(unique_name, [TaskSpec(id="echo", argv=("echo", "$HOME", ";", "false"),
                                             output_files=logs(container))])
    assert poll_until_done(backend, unique_name, 20)["echo"].result is TaskResult.SUCCESS
    assert read_log(blobs, container) == "$HOME ; false\n"


def test_missing_program_fails_with_a_reason(backend: LocalBatchBackend, unique_name: str) -> None:
    backend.create_job(unique_name)
    backend.add_tasks(unique_name, [TaskSpec(id="nope", argv=("no-such-program-here",), max_retries=3)])
    state = poll_until_done(backend, unique_name, 20)["nope"]
    assert state.result is TaskResult.FAILURE
    assert state.failure is not None and "no-such-program-here" in state.failure
    assert state.retry_count == 0  # it cannot start next time either


def test_failed_task_is_retried_until_it_succeeds(backend: LocalBatchBackend, shared_exchange: Path,
                                                  unique_name: str) -> None:
    counter = shared_exchange / "attempts"
    code = ("import os, sys; p = os.environ['COUNTER']; n = int(open(p).read()) if os.path.exists(p) else 0;"
            " open(p, 'w').write(str(n + 1)); sys.exit(0 if n >= 2 else 3)")
    backend.create_job(unique_name)
    backend.add_tasks(unique_name, [TaskSpec(id="flaky", argv=py(code), max_retries=5,
                                             environment={"COUNTER": str(counter)})])
    state = poll_until_done(backend, unique_name, 20)["flaky"]
    assert (state.result, state.exit_code, state.retry_count) == (TaskResult.SUCCESS, 0, 2)
    assert counter.read_text() == "3"


def test_retries_run_out(backend: LocalBatchBackend, unique_name: str) -> None:
    backend.create_job(unique_name)
    backend.add_tasks(unique_name, [TaskSpec(id="bad", argv=py("raise SystemExit(4)"), max_retries=1)])
    state = poll_until_done(backend, unique_name, 20)["bad"]
    assert (state.result, state.exit_code, state.retry_count) == (TaskResult.FAILURE, 4, 1)
    assert state.failure == "exit code 4"


def test_timeout_kills_the_task_and_its_children(backend: LocalBatchBackend, shared_exchange: Path,
                                                 unique_name: str) -> None:
    beat = shared_exchange / "child.beat"
    code = f"import subprocess, sys, time; child = subprocess.Popen({list(heartbeat(beat))!r}); time.sleep(60)"
    backend.create_job(unique_name)
    backend.add_tasks(unique_name, [TaskSpec(id="slow", argv=py(code), max_wall_clock_seconds=1,
                                             max_retries=2)])
    state = poll_until_done(backend, unique_name, 20)["slow"]
    assert (state.result, state.failure, state.retry_count) == (TaskResult.FAILURE, "timeout", 0)
    assert state.exit_code == 137  # SIGKILL
    wait_for(lambda: not beating(beat), 5, "the task's child to die")


def test_terminate_kills_a_running_task_and_its_children(backend: LocalBatchBackend, shared_exchange: Path,
                                                         unique_name: str) -> None:
    beat = shared_exchange / "child.beat"
    code = f"import subprocess, time; child = subprocess.Popen({list(heartbeat(beat))!r}); time.sleep(60)"
    backend.create_job(unique_name)
    backend.add_tasks(unique_name, [TaskSpec(id="long", argv=py(code), max_retries=3)])
    wait_for(lambda: beating(beat), 20, "the task to start its child")
    backend.terminate_job(unique_name)
    state = poll_until_done(backend, unique_name, 20)["long"]
    assert (state.result, state.failure, state.retry_count) == (TaskResult.FAILURE, "terminated", 0)
    wait_for(lambda: not beating(beat), 5, "the task's child to die")
    assert backend.get_task(unique_name, "long").status is TaskStatus.COMPLETED
