"""task_runner.py watching a render: per-frame seconds and finish times, the output teed unchanged,
the local heartbeat, stuck renders stopped, previews that fail without failing the frame."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.node import frame_progress
from tests.render.helpers import NODE, ffmpeg_exe

RUNNER = NODE / "task_runner.py"
FAKE = Path(__file__).with_name("fake_blender.py")


def runner_argv(*options: str, fake: list[str] | None = None, command: list[str] | None = None) -> list[str]:
    inner = command if command is not None else [sys.executable, str(FAKE), *(fake or [])]
    return [sys.executable, str(RUNNER), "--task-id", "chunk-0001", "--marker", "marker.json", "--kind", "render",
            *options, "--", *inner]


def run(cwd: Path, *options: str, fake: list[str] | None = None, command: list[str] | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(runner_argv(*options, fake=fake, command=command), cwd=cwd, capture_output=True,
                          timeout=120, env=env)


def marker(cwd: Path) -> dict[str, object]:
    return json.loads((cwd / "marker.json").read_text())


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_frame_seconds_come_from_blenders_time_lines(tmp_path: Path) -> None:
    result = run(tmp_path, "--frames", "1001-1003", "--previews", "",
                 fake=["frames=1001,1002,1003", "times=00:01.71,01:02.50,01:00:03.25"])
    assert result.returncode == 0, result.stderr
    m = marker(tmp_path)
    assert m["status"] == "succeeded" and m["reason"] is None
    assert m["framesDone"] == [1001, 1002, 1003]
    assert m["frameSeconds"] == {"1001": 1.71, "1002": 62.5, "1003": 3603.25}
    assert isinstance(m["frameFinishedAt"], dict)
    finished = [dt.datetime.fromisoformat(m["frameFinishedAt"][str(f)]) for f in (1001, 1002, 1003)]
    started = dt.datetime.fromisoformat(str(m["startedAt"]))
    assert started <= finished[0] <= finished[1] <= finished[2] <= dt.datetime.fromisoformat(str(m["finishedAt"]))
    assert m["blender"] == {"version": "5.0.1", "buildHash": "a3db93c5b259"}
    # every marker key of before is still there
    assert {"taskId", "kind", "frames", "exitCode", "childExitCode", "seconds", "program", "expected",
            "error"} <= set(m)


def test_without_time_lines_a_frame_takes_the_time_between_saves(tmp_path: Path) -> None:
    result = run(tmp_path, "--frames", "1-3", "--previews", "", fake=["frames=1,2,3", "sleep=0.6", "saved_on=stderr"])
    assert result.returncode == 0, result.stderr
    seconds = marker(tmp_path)["frameSeconds"]
    assert isinstance(seconds, dict) and sorted(seconds) == ["1", "2", "3"]
    for value in seconds.values():
        assert 0.55 <= value < 5  # each frame slept 0.6 s between its Fra: line and its Saved: line


def test_the_commands_output_reaches_the_task_output_byte_for_byte(tmp_path: Path) -> None:
    out = b"Fra:1 Mem:1M | Sample 1/1\r\nSaved: 'x_0001.png'\n\xff\xfe not utf-8\nno newline at the end"
    err = b"\x00binary\x01 on stderr\n" * 2000
    code = (f"import sys; sys.stdout.buffer.write({out!r}); sys.stdout.flush(); "
            f"sys.stderr.buffer.write({err!r})")
    result = run(tmp_path, "--previews", "", command=[sys.executable, "-c", code])
    assert result.returncode == 0
    assert result.stdout == out
    runner_lines = b"".join(line for line in result.stderr.splitlines(keepends=True) if line.startswith(b"[task_"))
    assert result.stderr.replace(runner_lines, b"") == err


def test_the_heartbeat_file_is_rewritten_while_the_task_runs(tmp_path: Path) -> None:
    proc = subprocess.Popen(runner_argv("--frames", "1-2", "--previews", "", "--heartbeat-every", "1",
                                        fake=["frames=1,2", "wait_for=go"]),
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        beat = wait_for_heartbeat(tmp_path / "heartbeat.json", lambda b: b["framesDone"] == [1])
        assert beat["status"] == "running" and beat["taskId"] == "chunk-0001" and beat["currentFrame"] == 1
        assert set(beat["frameSeconds"]) == {"1"}
        first = beat["updatedAt"]
        again = wait_for_heartbeat(tmp_path / "heartbeat.json", lambda b: b["updatedAt"] != first)
        assert again["startedAt"] == beat["startedAt"]  # rewritten every second while nothing changes
        (tmp_path / "go").touch()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()
    final = json.loads((tmp_path / "heartbeat.json").read_text())
    assert final["status"] == "succeeded" and final["framesDone"] == [1, 2]


def wait_for_heartbeat(path: Path, condition: object, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            beat = json.loads(path.read_text())
            if callable(condition) and condition(beat):
                return dict(beat)
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"no heartbeat like that in {timeout}s: {path.read_text() if path.exists() else None}")


def test_a_render_stuck_after_its_first_frame_is_stopped_with_its_group(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run(tmp_path, "--frames", "1-3", "--previews", "", "--stuck-after", "2",
                 fake=["frames=1,2,3", "hang_after=1", "grandchild=1"])
    assert result.returncode == 86, result.stderr
    assert time.monotonic() - started < 30
    m = marker(tmp_path)
    assert m["status"] == "failed" and m["reason"] == "stuck" and m["error"] == "stuck: no frame for 2 s"
    assert m["framesDone"] == [1] and m["exitCode"] == 86
    pids = [int(p) for p in (tmp_path / "pids.txt").read_text().split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in pids)  # the hanging render and what it started are gone


def test_a_render_that_keeps_finishing_frames_is_not_stuck(tmp_path: Path) -> None:
    result = run(tmp_path, "--frames", "1-4", "--previews", "", "--stuck-after", "1.5",
                 fake=["frames=1,2,3,4", "sleep=0.8"])
    assert result.returncode == 0, result.stderr
    assert marker(tmp_path)["framesDone"] == [1, 2, 3, 4]


def test_a_corrupt_frame_gets_no_preview_but_the_frame_succeeds(tmp_path: Path) -> None:
    result = run(tmp_path, "--frames", "1-2", "--ffmpeg", ffmpeg_exe(), fake=["frames=1,2"])
    assert result.returncode == 0, result.stderr
    assert marker(tmp_path)["status"] == "succeeded"
    assert b"no preview for frame 1 (frames/shot_0001.png)" in result.stderr
    assert not any((tmp_path / "previews").iterdir())  # nor a half-written one


def test_without_ffmpeg_frames_succeed_without_previews(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": "/nonexistent", "RENDER_FFMPEG": str(tmp_path / "no-ffmpeg")}
    result = run(tmp_path, "--frames", "1-2", fake=["frames=1,2"], env=env)
    assert result.returncode == 0, result.stderr
    assert b"no FFmpeg" in result.stderr
    assert marker(tmp_path)["framesDone"] == [1, 2] and marker(tmp_path)["ffmpeg"] is None


def test_a_tools_folder_without_the_watch_scripts_still_runs_the_task(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    shutil.copy(RUNNER, tools / "task_runner.py")
    argv = [sys.executable, str(tools / "task_runner.py"), "--task-id", "c", "--marker", "marker.json",
            "--stuck-after", "5", "--", sys.executable, str(FAKE), "frames=1"]
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert b"a node script is missing" in result.stderr and b"Saved: 'frames/shot_0001.png'" in result.stdout
    assert marker(tmp_path)["status"] == "succeeded" and marker(tmp_path)["frameSeconds"] == {}


@pytest.mark.parametrize("flag", [["--stuck-after", "0"], ["--heartbeat-every", "-1"], ["--stuck-after", "x"]])
def test_bad_watch_flags_fail_as_runner_errors(tmp_path: Path, flag: list[str]) -> None:
    assert run(tmp_path, *flag, fake=["frames=1"]).returncode == 70


def test_progress_lines_of_real_blender_versions() -> None:
    progress = frame_progress.FrameProgress([7, 8])
    for line in ["Blender 5.0.1 (hash a3db93c5b259 built 2025-12-16 14:26:17)",
                 "Fra:7 Mem:38.1M (Peak 40M) | Time:00:01.52 | Remaining:00:02.10 | Sample 12/64",
                 "Saved: '/mnt/task/frames/shot_0007.exr'",  # Blender 4.x: no log prefix
                 " Time: 00:01.71 (Saving: 00:00.02)",
                 "Fra:8 Mem:38.1M | Time:00:00.90 | Sample 1/64",
                 "00:05.100  render           | Saved: 'frames/shot_0008.exr'",
                 " Time: 00:00.93 (Saving: 00:00.01)"]:
        progress.feed(line)
    snapshot = progress.snapshot()
    assert snapshot["framesDone"] == [7, 8] and snapshot["frameSeconds"] == {"7": 1.71, "8": 0.93}
    assert progress.blender() == {"version": "5.0.1", "buildHash": "a3db93c5b259"}
    version_output = frame_progress.FrameProgress()
    for line in ["Blender 4.2.3 LTS", "\tbuild date: 2024-10-15", "\tbuild hash: 2B9BD5E4D2A0"]:
        version_output.feed(line)
    assert version_output.blender() == {"version": "4.2.3", "buildHash": "2b9bd5e4d2a0"}


def test_a_stitch_task_records_the_ffmpeg_it_ran(tmp_path: Path) -> None:
    ffmpeg = ffmpeg_exe()
    stitch = [ffmpeg, "-hide_banner", "-nostdin", "-f", "lavfi", "-i", "color=c=red:s=32x32:d=0.2", "out.mp4"]
    result = subprocess.run([sys.executable, str(RUNNER), "--task-id", "stitch", "--marker", "marker.json",
                             "--kind", "stitch", "--", *stitch], cwd=tmp_path, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    first_line = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    m = marker(tmp_path)
    assert m["ffmpeg"] == {"version": first_line.split()[2], "banner": first_line} and m["blender"] is None


def test_a_killed_runner_takes_its_render_with_it(tmp_path: Path) -> None:
    """localbatch and Batch kill the runner's group; the render, in a group of its own, must end too."""
    proc = subprocess.Popen(runner_argv("--previews", "", fake=["frames=1,2", "hang_after=1"]), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "pids.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        (render,) = [int(p) for p in (tmp_path / "pids.txt").read_text().split()]
        assert alive(render)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive(render) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(render)
    finally:
        proc.kill()
        proc.wait()


def test_sigterm_to_the_runner_stops_the_render_and_fails_the_marker(tmp_path: Path) -> None:
    proc = subprocess.Popen(runner_argv("--previews", "", fake=["frames=1,2", "hang_after=1"]), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (tmp_path / "pids.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    m = marker(tmp_path)
    assert m["status"] == "failed" and m["framesDone"] == [1] and "signal" in str(m["error"])
    assert not alive(int((tmp_path / "pids.txt").read_text()))


def test_a_saved_line_naming_a_file_outside_the_task_gets_no_preview(tmp_path: Path) -> None:
    """Another job's frame on the same node (here a real PNG) must not become this job's preview."""
    outside = tmp_path / "other-job" / "secret_0001.png"
    outside.parent.mkdir()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1",
                    str(outside)], check=True, timeout=60)
    work = tmp_path / "task"
    work.mkdir()
    for named in (str(outside), "../other-job/secret_0001.png"):
        result = run(work, "--frames", "1-2", "--ffmpeg", ffmpeg_exe(), fake=["frames=1,2", f"saved_path={named}"])
        assert result.returncode == 0, result.stderr
        assert b"is outside the task directory" in result.stderr
        assert not (work / "previews" / "1.jpg").exists()


def test_heartbeats_after_frames_are_rate_limited(tmp_path: Path) -> None:
    from shared.node import heartbeat

    beat = heartbeat.Heartbeat("chunk-0001", str(tmp_path / "hb.json"), lambda: {"framesDone": []}, every=30,
                               url=None, log=print, started_at="2026-01-01T00:00:00Z",
                               now=frame_progress.now_iso)
    beat.start()
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:  # a frame finishing every 10 ms
        beat.frame_finished()
        time.sleep(0.01)
    beat.stop("succeeded")
    # the first beat, at most one per MIN_GAP after frames, and the last one
    assert 3 <= beat.writes <= 2 + int(2.5 / heartbeat.MIN_GAP) + 1
    assert json.loads((tmp_path / "hb.json").read_text())["status"] == "succeeded"
