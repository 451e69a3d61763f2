"""renderctl steering and watching real jobs on the local stack: pause, resume, priority, cancel and
retry, a task's log followed while it renders, the ETA while a job renders, a resumed download,
and --json printing what the API answered."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from stack.local import StackInfo, api_request, wait_for
from stack.services import ROOT
from tests.renderctl.conftest import Run, renderctl

pytestmark = pytest.mark.slow

TERMINAL = ("completed", "failed", "cancelled")
ETA_LINE = re.compile(r"rendering (\d+)/24 frames ETA (\d\d:\d\d:\d\d)Z \((in \d+m\d\ds|overdue)\)")


def env_for(stack: StackInfo, home: Path) -> dict[str, str]:
    return {"HOME": str(home), "RENDER_API_URL": stack.api_url, "RENDER_API_KEY": stack.function_key}


def job(stack: StackInfo, job_id: str) -> dict[str, Any]:
    status, body = api_request(stack, "GET", f"/jobs/{job_id}")
    assert status == 200, body
    return body


def submit(stack: StackInfo, folder: Path, tmp_path: Path, *args: str) -> str:
    run = renderctl("submit", str(folder), *args, env=env_for(stack, tmp_path), cwd=tmp_path)
    assert run.code == 0, run.output
    return run.stdout.strip()


def chunks_done(stack: StackInfo, job_id: str, count: int, timeout: float = 240) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = job(stack, job_id)
        assert body["status"] not in TERMINAL, body.get("error")
        return body if body["progress"].get("chunksDone", 0) >= count else None
    result: dict[str, Any] = wait_for(done, timeout, interval=0.3, what=f"{count} chunk(s) of {job_id}")
    return result


class Follower:
    """`renderctl logs --follow` in its own process, each line it prints stamped as it arrives."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.lines: list[tuple[float, str]] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "renderctl", "logs", *args, "--follow"], cwd=cwd, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "160", **env})
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def finish(self, timeout: float) -> tuple[int, float, str]:
        """(exit code, when it exited, stderr)."""
        code = self.process.wait(timeout=timeout)
        ended = time.monotonic()
        self.reader.join(timeout=10)
        assert self.process.stderr is not None
        return code, ended, self.process.stderr.read()


def assert_json_is_the_apis(run: Run, path: str, stack: StackInfo) -> None:
    assert run.code == 0, run.output
    assert json.loads(run.stdout) == api_request(stack, "GET", path)[1], path


def test_pause_wait_priority_resume_with_a_followed_log_and_the_eta(stack, textured_folder, tmp_path):
    env = env_for(stack, tmp_path)
    job_id = submit(stack, textured_folder, tmp_path, "--frames", "1-24", "--chunk-size", "4", "--no-video")
    follower = Follower(env, tmp_path, job_id, "chunk-0001")  # before the task exists: it waits for it

    chunks_done(stack, job_id, 1)
    paused = renderctl("pause", job_id, env=env, cwd=tmp_path)
    assert paused.code == 0 and paused.stdout.strip() == f"{job_id} paused (run 1)", paused.output
    assert job(stack, job_id)["status"] == "paused"

    # The follower printed the task's lines while it rendered, and ended with the task, not the job.
    code, ended, stderr = follower.finish(timeout=60)
    assert code == 0, stderr
    assert job(stack, job_id)["status"] == "paused"
    followed = [line for _, line in follower.lines]
    whole = renderctl("logs", job_id, "chunk-0001", env=env, cwd=tmp_path)
    assert whole.code == 0 and followed == whole.stdout.splitlines(), (followed, whole.stdout)
    assert any("Saved: 'frames/shot_0004.png'" in line for line in followed)
    assert renderctl("logs", job_id, env=env, cwd=tmp_path).stdout == whole.stdout  # no TASK: the first chunk
    first_seen = follower.lines[0][0]
    assert ended - first_seen >= 1.0, "every line came at once: the log was not followed"
    assert "Traceback" not in stderr

    waited = renderctl("wait", job_id, env=env, cwd=tmp_path)
    assert waited.code == 4, waited.output
    assert f"{job_id} paused: " in waited.stderr

    # Priority, while the job has not finished; a bad N is refused before any request.
    changed = renderctl("priority", job_id, "-7", env=env, cwd=tmp_path)
    assert changed.code == 0 and changed.stdout.strip() == f"{job_id} priority -7", changed.output
    shown = json.loads(renderctl("show", job_id, "--json", env=env, cwd=tmp_path).stdout)
    assert shown["spec"]["priority"] == -7 and shown["status"] == "paused"
    for bad, message in (("1001", "1001 is not in the range -1000<=x<=1000"),
                         ("high", "'high' is not a valid integer")):
        refused = renderctl("priority", job_id, bad, env=env, cwd=tmp_path)
        assert refused.code == 2 and message in refused.stderr, refused.output
        assert "Traceback" not in refused.output
    assert job(stack, job_id)["spec"]["priority"] == -7

    resumed = renderctl("resume", job_id, env=env, cwd=tmp_path)
    assert resumed.code == 0 and resumed.stdout.strip() == f"{job_id} rendering (run 1)", resumed.output
    done = renderctl("wait", job_id, env=env, cwd=tmp_path)
    assert done.code == 0, done.output
    assert f"{job_id} completed: 24/24 frames" in done.stderr
    etas = [ETA_LINE.search(line) for line in done.stderr.splitlines()]
    shown_etas = [m for m in etas if m]
    assert shown_etas, done.stderr  # frames were left after the resume and the API had timed some
    clock = datetime.strptime(shown_etas[0].group(2), "%H:%M:%S").time()
    now = datetime.now(UTC)
    seconds_off = abs((now.hour * 3600 + now.minute * 60 + now.second)
                      - (clock.hour * 3600 + clock.minute * 60 + clock.second))
    assert min(seconds_off, 86_400 - seconds_off) < 600, (clock, now)

    finished = renderctl("priority", job_id, "3", env=env, cwd=tmp_path)
    assert finished.code == 1 and "409 invalid_status" in finished.stderr, finished.output

    # The log of the task's stderr; and --json on every read command is the API's answer as it came.
    errors = renderctl("logs", job_id, "chunk-0001", "--stderr", env=env, cwd=tmp_path)
    api_err = api_request(stack, "GET", f"/jobs/{job_id}/tasks/chunk-0001/log?stream=stderr&tail=5000")[1]
    assert errors.code == 0 and errors.stdout == api_err["text"], errors.output
    assert "[task_runner] running blender for task chunk-0001" in errors.stdout
    assert_json_is_the_apis(renderctl("show", job_id, "--json", env=env, cwd=tmp_path), f"/jobs/{job_id}", stack)
    assert_json_is_the_apis(renderctl("wait", job_id, "--json", env=env, cwd=tmp_path), f"/jobs/{job_id}", stack)
    assert_json_is_the_apis(renderctl("history", job_id, "--json", env=env, cwd=tmp_path),
                            f"/jobs/{job_id}/history", stack)
    assert_json_is_the_apis(renderctl("logs", job_id, "chunk-0002", "--json", env=env, cwd=tmp_path),
                            f"/jobs/{job_id}/tasks/chunk-0002/log?stream=stdout&tail=5000", stack)
    assert_json_is_the_apis(renderctl("jobs", "--status", "completed", "--limit", "3", "--json", env=env,
                                      cwd=tmp_path), "/jobs?top=3&status=completed", stack)


def test_a_cancelled_job_retried_renders_the_rest_in_a_second_run(stack, textured_folder, tmp_path):
    env = env_for(stack, tmp_path)
    job_id = submit(stack, textured_folder, tmp_path, "--frames", "1-8", "--chunk-size", "2", "--no-video")
    chunks_done(stack, job_id, 1)
    early = renderctl("retry", job_id, env=env, cwd=tmp_path)
    assert early.code == 1 and "409 invalid_status" in early.stderr, early.output

    cancelled = renderctl("cancel", job_id, env=env, cwd=tmp_path)
    assert cancelled.code == 0 and cancelled.stdout.strip() == f"{job_id} cancelled (run 1)", cancelled.output
    retried = renderctl("retry", job_id, env=env, cwd=tmp_path)
    assert retried.code == 0 and retried.stdout.strip() == f"{job_id} rendering (run 2)", retried.output
    done = renderctl("wait", job_id, env=env, cwd=tmp_path)
    assert done.code == 0 and f"{job_id} completed: 8/8 frames" in done.stderr, done.output

    shown = renderctl("show", job_id, env=env, cwd=tmp_path)
    assert shown.code == 0, shown.output
    runs = [line.split()[:3] for line in shown.stdout.splitlines() if line.startswith("run ")]
    assert runs == [["run", "1:", "cancelled"], ["run", "2:", "completed"]], shown.stdout
    assert [(r["run"], r["status"]) for r in job(stack, job_id)["runs"]] == [(1, "cancelled"), (2, "completed")]
    again = renderctl("retry", job_id, env=env, cwd=tmp_path)
    assert again.code == 1 and "409 invalid_status" in again.stderr, again.output


def blob_bytes(stack: StackInfo, job_id: str) -> dict[str, bytes]:
    renders = BlobServiceClient.from_connection_string(stack.storage_connection_string).get_container_client("renders")
    wanted = {}
    for blob in renders.list_blobs(name_starts_with=f"{job_id}/"):
        relative = blob.name[len(job_id) + 1:]
        if relative.startswith("frames/") or relative == "shot.mp4":
            wanted[relative] = renders.get_blob_client(blob.name).download_blob().readall()
    return wanted


def test_a_second_download_fetches_only_the_missing_and_the_cut_short_files(stack, textured_folder, tmp_path):
    env = env_for(stack, tmp_path)
    job_id = submit(stack, textured_folder, tmp_path, "--frames", "1-4", "--chunk-size", "4", "--wait")
    blobs = blob_bytes(stack, job_id)
    assert sorted(blobs) == ["frames/shot_0001.png", "frames/shot_0002.png", "frames/shot_0003.png",
                             "frames/shot_0004.png", "shot.mp4"]
    out = tmp_path / "out"
    first = renderctl("download", job_id, str(out), env=env, cwd=tmp_path)
    assert first.code == 0 and f"5 downloaded, 0 already there, into {out}" in first.stderr, first.output

    def local() -> dict[str, bytes]:
        return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert local() == blobs
    (out / "frames" / "shot_0002.png").unlink()
    (out / "frames" / "shot_0003.png").write_bytes(blobs["frames/shot_0003.png"][:100])  # an interrupted run
    untouched = ("frames/shot_0001.png", "frames/shot_0004.png", "shot.mp4")
    mtimes = {name: (out / name).stat().st_mtime_ns for name in untouched}
    time.sleep(0.05)

    second = renderctl("download", job_id, str(out), "--json", env=env, cwd=tmp_path)
    assert second.code == 0 and "2 downloaded, 3 already there" in second.stderr, second.output
    assert json.loads(second.stdout) == {
        "jobId": job_id, "folder": str(out.resolve()), "downloaded": ["frames/shot_0002.png", "frames/shot_0003.png"],
        "skipped": list(untouched),
        "downloadedBytes": len(blobs["frames/shot_0002.png"]) + len(blobs["frames/shot_0003.png"])}
    assert local() == blobs
    assert {name: (out / name).stat().st_mtime_ns for name in untouched} == mtimes

    video_only = renderctl("download", job_id, str(tmp_path / "video"), "--video", env=env, cwd=tmp_path)
    assert video_only.code == 0, video_only.output
    assert [p.name for p in (tmp_path / "video").rglob("*") if p.is_file()] == ["shot.mp4"]
    with_logs = renderctl("download", job_id, str(tmp_path / "logs"), "--logs", env=env, cwd=tmp_path)
    assert with_logs.code == 0, with_logs.output
    assert (tmp_path / "logs" / "logs" / "chunk-0001" / "stdout.txt").read_text().startswith(
        renderctl("logs", job_id, "chunk-0001", env=env, cwd=tmp_path).stdout.splitlines()[0])


def test_a_job_submitted_paused_in_preview_order_waits_paused_and_no_id_reaches_another_route(
        stack, textured_folder, tmp_path):
    env = env_for(stack, tmp_path)
    job_id = submit(stack, textured_folder, tmp_path, "--frames", "1-3", "--paused", "--frame-order", "preview")
    waited = renderctl("wait", job_id, "--json", env=env, cwd=tmp_path)
    assert waited.code == 4, waited.output
    doc = json.loads(waited.stdout)
    assert doc["status"] == "paused" and doc["request"]["frameOrder"] == "preview"
    assert doc["progress"]["framesDone"] == 0
    again = renderctl("pause", job_id, env=env, cwd=tmp_path)
    assert again.code == 1 and "409 invalid_status" in again.stderr, again.output
    # A hostile id (from a list a script reads) does not turn a resume into another route's call.
    for hostile in (f"{job_id}/cancel#", f"{job_id}/cancel?", f"../jobs/{job_id}/cancel#"):
        smuggled = renderctl("resume", hostile, env=env, cwd=tmp_path)
        assert smuggled.code == 1 and "Traceback" not in smuggled.output, smuggled.output
        assert job(stack, job_id)["status"] == "paused"
    for hostile in ("../health", "job-x/history"):
        shown = renderctl("show", hostile, env=env, cwd=tmp_path)
        assert shown.code == 1 and "Traceback" not in shown.output, shown.output
    cancelled = renderctl("cancel", job_id, env=env, cwd=tmp_path)
    assert cancelled.code == 0 and "cancelled" in cancelled.stdout, cancelled.output
