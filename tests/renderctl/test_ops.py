"""The pure parts of renderctl's output: history pairing, failed tasks, the wait result line."""

from __future__ import annotations

from renderctl.ops import failed_task, job_row
from renderctl.timeline import duration, steps
from renderctl.waiting import eta_text, result_line


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
