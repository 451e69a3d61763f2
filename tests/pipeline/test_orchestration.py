"""render_job and await_tasks through the SDK's real replay code, with activities as fakes."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import azure.durable_functions as df
import pytest

from orchestrators.render_job import WAKES_PER_GENERATION, bp
from shared import names
from tests.pipeline.replay import Replay


@pytest.fixture(scope="module")
def functions() -> list[Any]:
    app = df.DFApp()
    app.register_functions(bp)
    return app.get_functions()


class Activities:
    """Records calls; each step's answer can be replaced per test."""

    def __init__(self, polls_until_done: int = 1) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.polls_until_done = polls_until_done
        self.polls: Counter[str] = Counter()
        self.answers: dict[str, Any] = {
            names.REGISTER_JOB: {"status": "queued", "created": True},
            names.VALIDATE_BUNDLE: {"ok": True},
            names.START_BATCH_JOB: {"inspect": True},
            names.PLAN_JOB: {"ok": True, "video": True, "chunks": 5},
            names.ADD_RENDER_TASKS: {"added": 5},
            names.COLLECT_RENDER_RESULTS: {"retry": False},
            names.ADD_STITCH_TASK: {"added": 1},
            names.VERIFY_OUTPUTS: {"ok": True, "outputs": {"videoUrl": "http://x/v.mp4"}},
            names.FINALIZE_JOB: {"status": "completed"},
            names.FAIL_JOB: {"status": "failed"},
            names.START_RUN: {"planned": True, "video": True},
            names.START_RENDERING: {"status": "rendering"},
            names.REQUEUE_CHUNKS: {"requeued": []},
        }

    def table(self) -> dict[str, Any]:
        def make(name: str) -> Any:
            def call(payload: Any) -> Any:
                self.calls.append((name, payload))
                if name == names.POLL_TASKS:
                    key = payload["phase"]
                    self.polls[key] += 1
                    return {"done": self.polls[key] % self.polls_until_done == 0, "counts": {}}
                answer = self.answers[name]
                return answer(payload) if callable(answer) else answer
            return call
        return {name: make(name) for name in [*self.answers, names.POLL_TASKS]}

    def names_called(self) -> list[str]:
        return [n for n, _ in self.calls if n != names.POLL_TASKS]


def run_job(functions: list[Any], acts: Activities, job_id: str = "job-1") -> tuple[Replay, Any]:
    replay = Replay(functions, acts.table())
    run = replay.run(names.RENDER_JOB, {"jobId": job_id, "pollSeconds": 5}, job_id)
    return replay, run


def test_a_job_goes_through_every_step_in_order(functions):
    acts = Activities()
    replay, run = run_job(functions, acts)
    assert run.status == "Completed"
    assert run.output["status"] == "completed"
    assert acts.names_called() == [
        names.REGISTER_JOB, names.VALIDATE_BUNDLE, names.START_BATCH_JOB, names.PLAN_JOB,
        names.ADD_RENDER_TASKS, names.COLLECT_RENDER_RESULTS, names.ADD_STITCH_TASK,
        names.VERIFY_OUTPUTS, names.FINALIZE_JOB]
    assert set(replay.runs) == {"job-1", "job-1:inspect", "job-1:render:0", "job-1:stitch"}
    assert run.custom_status == {"phase": "completed"}


def test_no_inspection_and_no_video_skip_those_waits(functions):
    acts = Activities()
    acts.answers[names.START_BATCH_JOB] = {"inspect": False}
    acts.answers[names.PLAN_JOB] = {"ok": True, "video": False}
    replay, run = run_job(functions, acts)
    assert run.status == "Completed"
    assert names.ADD_STITCH_TASK not in acts.names_called()
    assert set(replay.runs) == {"job-1", "job-1:render:0"}


def test_a_bad_bundle_fails_the_job_with_its_error(functions):
    acts = Activities()
    error = {"code": "bundle_unsafe_path", "message": "entry ../x escapes the bundle"}
    acts.answers[names.VALIDATE_BUNDLE] = {"ok": False, "error": error}
    _, run = run_job(functions, acts)
    assert run.output == {"jobId": "job-1", "status": "failed", "error": error}
    assert acts.names_called() == [names.REGISTER_JOB, names.VALIDATE_BUNDLE, names.FAIL_JOB]
    assert acts.calls[-1][1] == {"jobId": "job-1", "run": 1, "error": error}


def test_failed_chunks_are_requeued_in_a_new_round_then_the_job_completes(functions):
    acts = Activities()
    rounds = iter([{"retry": True, "requeued": ["chunk-0002"]}, {"retry": False}])
    acts.answers[names.COLLECT_RENDER_RESULTS] = lambda payload: next(rounds)
    replay, run = run_job(functions, acts)
    assert run.status == "Completed"
    adds = [p for n, p in acts.calls if n == names.ADD_RENDER_TASKS]
    assert adds == [{"jobId": "job-1", "run": 1, "attempt": 0}, {"jobId": "job-1", "run": 1, "attempt": 1}]
    assert {"job-1:render:0", "job-1:render:1"} <= set(replay.runs)


def test_frames_that_keep_failing_fail_the_job_naming_them(functions):
    acts = Activities()
    error = {"code": "frames_failed", "message": "frames 11-20 failed to render after 3 attempts"}
    acts.answers[names.COLLECT_RENDER_RESULTS] = {"retry": False, "error": error}
    _, run = run_job(functions, acts)
    assert run.output["status"] == "failed"
    assert run.output["error"]["message"].startswith("frames 11-20")
    assert names.ADD_STITCH_TASK not in acts.names_called()


def test_a_transient_activity_failure_is_retried(functions):
    acts = Activities()
    attempts = {"n": 0}

    def flaky(payload: Any) -> Any:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise RuntimeError("Cosmos DB unreachable")
        return {"ok": True}

    acts.answers[names.VALIDATE_BUNDLE] = flaky
    _, run = run_job(functions, acts)
    assert run.status == "Completed"
    assert attempts["n"] == 3


def test_the_wait_polls_on_a_timer_until_the_tasks_are_done(functions):
    acts = Activities(polls_until_done=4)
    replay = Replay(functions, acts.table())
    run = replay.run(names.AWAIT_TASKS, {"jobId": "job-1", "phase": names.RENDER, "pollSeconds": 30},
                     "job-1:render:0")
    assert run.status == "Completed"
    assert acts.polls[names.RENDER] == 4
    fired = [e for e in run.history if e["EventType"] == 11]
    assert len(fired) == 3


def test_a_marker_event_wakes_the_wait_before_its_timer(functions):
    acts = Activities(polls_until_done=2)
    replay = Replay(functions, acts.table())
    replay.raise_event("job-1:render:0", names.TASKS_CHANGED, {"taskId": "chunk-0001"})
    run = replay.run(names.AWAIT_TASKS, {"jobId": "job-1", "phase": names.RENDER, "pollSeconds": 30},
                     "job-1:render:0")
    assert run.status == "Completed"
    kinds = [e["EventType"] for e in run.history]
    assert 15 in kinds       # the event was delivered
    assert 11 not in kinds   # and no timer had to fire


def test_a_long_wait_restarts_itself_so_its_history_stays_bounded(functions):
    wakes = 3 * WAKES_PER_GENERATION
    acts = Activities(polls_until_done=wakes + 1)
    replay = Replay(functions, acts.table())
    run = replay.run(names.AWAIT_TASKS, {"jobId": "job-1", "phase": names.RENDER, "pollSeconds": 30},
                     "job-1:render:0")
    assert run.status == "Completed"
    assert run.generations >= 3
    assert run.max_history < 12 * WAKES_PER_GENERATION


def test_replaying_a_finished_history_yields_no_new_actions(functions):
    acts = Activities()
    _, run = run_job(functions, acts)
    handle = next(f for f in functions if f.get_function_name() == names.RENDER_JOB).get_user_function()
    ctx = {"history": run.history[:-1], "input": json.dumps({"jobId": "job-1", "pollSeconds": 5}),
           "instanceId": "job-1", "isReplaying": True, "parentInstanceId": None, "upperSchemaVersion": 2}
    calls_before = len(acts.calls)
    replayed = json.loads(handle(json.dumps(ctx)))
    assert replayed["isDone"] is True
    assert replayed["output"] == run.output
    assert len(acts.calls) == calls_before


def test_a_later_run_skips_validation_and_planning_and_waits_under_ids_of_its_own(functions):
    acts = Activities()
    acts.answers[names.START_RUN] = {"planned": True, "video": False}
    replay = Replay(functions, acts.table())
    run = replay.run(names.RENDER_JOB, {"jobId": "job-1", "pollSeconds": 5, "run": 3}, "job-1")
    assert run.status == "Completed" and run.output["status"] == "completed"
    assert acts.names_called() == [names.START_RUN, names.ADD_RENDER_TASKS, names.COLLECT_RENDER_RESULTS,
                                   names.VERIFY_OUTPUTS, names.FINALIZE_JOB]
    assert all(p.get("run") == 3 for n, p in acts.calls)
    assert set(replay.runs) == {"job-1", "job-1:run3:render:0"}


def test_a_run_that_finds_its_job_ended_records_nothing(functions):
    acts = Activities()
    acts.answers[names.START_RUN] = {"ended": "cancelled"}
    replay = Replay(functions, acts.table())
    run = replay.run(names.RENDER_JOB, {"jobId": "job-1", "pollSeconds": 5, "run": 2}, "job-1")
    assert run.output == {"jobId": "job-1", "status": "cancelled", "run": 2}
    assert acts.names_called() == [names.START_RUN]


def test_a_scheduled_job_waits_on_one_timer_until_its_time(functions):
    acts = Activities()
    acts.answers[names.PLAN_JOB] = {"ok": True, "video": False, "notBefore": "2026-01-20T06:00:00Z"}
    acts.answers[names.START_RENDERING] = {"status": "rendering"}
    _replay, run = run_job(functions, acts)
    assert run.status == "Completed"
    timers = [e for e in run.history if e["EventType"] == 10]
    assert len(timers) == 1 and timers[0]["FireAt"].startswith("2026-01-20T06:00:00")
    called = acts.names_called()
    assert called.index(names.START_RENDERING) == called.index(names.PLAN_JOB) + 1
    assert called.index(names.ADD_RENDER_TASKS) > called.index(names.START_RENDERING)


def test_missing_frames_are_healed_a_bounded_number_of_times(functions):
    from orchestrators.render_job import MAX_HEALS

    acts = Activities()
    acts.answers[names.PLAN_JOB] = {"ok": True, "video": False}
    error = {"code": "frames_missing", "message": "2 rendered frames are missing or empty"}
    acts.answers[names.VERIFY_OUTPUTS] = {"ok": False, "missingChunks": ["chunk-0002"], "error": error}
    acts.answers[names.REQUEUE_CHUNKS] = {"requeued": ["chunk-0002"]}
    _replay, run = run_job(functions, acts)
    assert run.output["status"] == "failed" and run.output["error"] == error
    assert acts.names_called().count(names.REQUEUE_CHUNKS) == MAX_HEALS
    rounds = [p["attempt"] for n, p in acts.calls if n == names.ADD_RENDER_TASKS]
    assert rounds == list(range(MAX_HEALS + 1))  # each heal is a render round of its own


def test_a_failed_stitch_runs_again_a_bounded_number_of_times_without_rendering_again(functions):
    from orchestrators.render_job import MAX_STITCH_ATTEMPTS

    acts = Activities()
    error = {"code": "stitch_failed", "message": "FFmpeg failed (exit code 1)"}
    acts.answers[names.VERIFY_OUTPUTS] = {"ok": False, "stitchRetry": True, "error": error}
    replay, run = run_job(functions, acts)
    assert run.output["status"] == "failed" and run.output["error"] == error
    stitches = [p["attempt"] for n, p in acts.calls if n == names.ADD_STITCH_TASK]
    assert stitches == list(range(MAX_STITCH_ATTEMPTS))
    assert acts.names_called().count(names.ADD_RENDER_TASKS) == 1
    assert {"job-1:stitch", "job-1:stitch:1", "job-1:stitch:2"} <= set(replay.runs)


def test_a_paused_job_adds_its_tasks_only_after_the_paused_wait_ends(functions):
    acts = Activities()
    adds = iter([{"added": 0, "paused": True}, {"added": 5}])
    acts.answers[names.ADD_RENDER_TASKS] = lambda payload: next(adds)
    replay, run = run_job(functions, acts)
    assert run.status == "Completed"
    assert acts.names_called().count(names.ADD_RENDER_TASKS) == 2
    assert "job-1:paused:0" in replay.runs
