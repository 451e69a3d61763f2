"""The pure parts of renderctl's output: history pairing, failed tasks, the wait result line."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from renderctl.client import job_path
from renderctl.ops import failed_task, job_name, job_row
from renderctl.task_logs import default_task, new_lines
from renderctl.timeline import duration, steps
from renderctl.waiting import display, eta_text, result_line


def test_history_events_pair_into_steps_with_durations_and_outcomes():
    history = [
        {"EventType": "ExecutionStarted", "Timestamp": "2026-01-01T00:00:00Z"},
        {"EventType": "TaskScheduled", "EventId": 0, "Name": "register_job", "Timestamp": "2026-01-01T00:00:00Z"},
        {"EventType": "TaskScheduled", "EventId": 1, "Name": "poll_tasks", "Timestamp": "2026-01-01T00:00:01Z"},
        {"EventType": "TaskCompleted", "TaskScheduledId": 0, "Timestamp": "2026-01-01T00:00:02.500Z"},
        {"EventType": "TimerCreated", "EventId": 2, "FireAt": "2026-01-01T00:01:00Z",
         "Timestamp": "2026-01-01T00:00:03Z"},
        {"EventType": "TaskFailed", "TaskScheduledId": 1, "Timestamp": "2026-01-01T00:00:04Z"},
        {"EventType": "TimerFired", "TimerId": 2, "Timestamp": "2026-01-01T00:01:03Z"},
        {"EventType": "SubOrchestrationInstanceCreated", "EventId": 3, "Name": "await_tasks",
         "InstanceId": "job-1:render:0", "Timestamp": "2026-01-01T00:01:04Z"},
    ]
    got = [(s.kind, s.name, s.outcome, s.seconds) for s in steps(history)]
    assert got == [
        ("orchestration", "started", "started", 0.0),
        ("activity", "register_job", "completed", 2.5),
        ("activity", "poll_tasks", "failed", 3.0),
        ("timer", "until 2026-01-01T00:01:00Z", "fired", 60.0),
        ("wait", "await_tasks job-1:render:0", "running", None),
    ]
    assert [duration(s) for s in (2.5, 75, 7300, None)] == ["2.5s", "1m15s", "2h01m", "-"]


def test_a_failed_chunk_names_the_task_of_its_last_attempt():
    log = "http://127.0.0.1:1/devstoreaccount1/renders/job-1/logs/chunk-0002-r2/stderr.txt"
    assert failed_task({"chunk": "chunk-0002", "log": log}) == "chunk-0002-r2"
    assert failed_task({"chunk": "chunk-0002"}) == "chunk-0002"


def test_the_result_line_and_row_say_what_happened():
    job = {"id": "job-1", "status": "failed", "progress": {"framesDone": 3, "framesTotal": 6},
           "error": {"code": "frames_failed", "message": "frames 4-6 failed"},
           "source": {"blobName": "_uploads/abc/shot010.zip", "submitter": "ci"},
           "timestamps": {"createdAt": "2026-01-01T10:00:00.123Z"}}
    assert result_line(job) == "job-1 failed: 3/6 frames; frames_failed: frames 4-6 failed"
    assert job_row(job) == ("job-1", "shot010.zip", "failed", "3/6", "2026-01-01 10:00:00", "ci")
    assert eta_text({"progress": {"etaSeconds": 125}}) == "ETA 2m05s"
    assert eta_text(job) == ""
    by_content = {"source": {"blobName": "manifests/sha256/6ad3.json"}, "bundle": {"blendPath": "shots/a.blend"}}
    assert job_name(by_content) == "shots/a.blend"


def test_the_apis_eta_shows_as_its_time_and_the_time_left_until_then():
    now = datetime(2026, 12, 1, 12, 30, 0, tzinfo=UTC)
    assert eta_text({"progress": {"eta": "2026-12-01T12:31:05Z"}}, now) == "ETA 12:31:05Z (in 1m05s)"
    assert eta_text({"progress": {"eta": "2026-12-02T14:30:00Z"}}, now) == "ETA 2026-12-02 14:30:00Z (in 26h00m00s)"
    assert eta_text({"progress": {"eta": "2026-12-01T12:29:00Z"}}, now) == "ETA 12:29:00Z (overdue)"
    assert eta_text({"progress": {"eta": None}}, now) == ""


def test_a_followed_log_prints_each_line_once_however_the_apis_window_slides():
    assert new_lines([], ["a", "b"]) == ["a", "b"]
    assert new_lines(["a", "b"], ["a", "b", "c"]) == ["c"]
    assert new_lines(["a"], ["a", "a"]) == ["a"]  # a repeated line is still a new line
    shown = [f"line {n}" for n in range(30)]
    slid = [f"line {n}" for n in range(10, 35)]  # the API's last lines: the first ten fell out
    assert new_lines(shown, slid) == [f"line {n}" for n in range(30, 35)]
    assert new_lines(shown, [f"line {n}" for n in range(100, 110)]) == [f"line {n}" for n in range(100, 110)]


def test_without_a_task_the_log_is_the_failed_chunks_last_attempt():
    log = "http://127.0.0.1:1/devstoreaccount1/renders/job-1/logs/chunk-0002-r2/stderr.txt"
    failed = {"error": {"code": "frames_failed", "details": {"chunks": [{"chunk": "chunk-0002", "log": log}]}}}
    assert default_task(failed) == "chunk-0002-r2"
    assert default_task({"chunks": [{"id": "chunk-0001", "status": "succeeded"}]}) == "chunk-0001"
    assert default_task({"error": None}) == "inspect"
    assert default_task({"progress": {"chunksTotal": 12}}) == "chunk-0001"
    assert default_task({"progress": {"chunksTotal": 12_000}}) == "chunk-00001"


def test_the_wait_shows_phase_frames_and_eta_as_a_bar_on_a_terminal_and_as_lines_elsewhere():
    rendering = {"id": "job-1", "status": "rendering",
                 "progress": {"framesDone": 3, "framesTotal": 24, "eta": "2099-01-01T00:00:00Z"}}
    terminal = Console(file=io.StringIO(), force_terminal=True, width=160, record=True)
    with display(terminal) as show:
        show(rendering)
    drawn = terminal.export_text()
    assert "rendering" in drawn and "3/24" in drawn and "ETA 2099-01-01 00:00:00Z (in " in drawn

    log = Console(file=io.StringIO(), force_terminal=False, width=160)
    with display(log) as show:
        for job in (rendering, rendering, {**rendering, "progress": {"framesDone": 6, "framesTotal": 24}}):
            show(job)
    lines = log.file.getvalue().splitlines()
    assert len(lines) == 2 and lines[1] == "job-1 rendering 6/24 frames"
    assert lines[0].startswith("job-1 rendering 3/24 frames ETA 2099-01-01 00:00:00Z (in ")


def test_ids_go_into_the_path_as_one_segment_each():
    assert job_path("job-1", "tasks", "chunk-0001", "log") == "jobs/job-1/tasks/chunk-0001/log"
    assert job_path("job-1/cancel#", "retry") == "jobs/job-1%2Fcancel%23/retry"
    assert job_path("..", "tasks", "../x?y", "log") == "jobs/%2E%2E/tasks/..%2Fx%3Fy/log"
