"""A job paused for 30 days, through the SDK's replay with timers: at most one activity call per
5 minutes of pause, every generation of the paused wait's history bounded, and a resume (or a
cancel) at the end of the 30 days still ends the job as it should.

Sampled generations. Replaying all 216 generations of the paused wait one by one takes minutes
here (each of its 40 wakes replays the generation's history through the SDK), so the test
replays the generations that can differ and skips the stretches between them by moving the
replay's clock. That is equivalent because a generation of `await_tasks` is a function of its
input, the answers of its activities and the times of its timers, and while the job stays
paused none of these changes: every continue_as_new passes the same input (asserted), every
poll answers the same (asserted), and the orchestrator reads the clock only to set its next
timer relative to it. So generation n + 1 replays generation n's history shifted by one
generation's span (40 wakes × PAUSED_POLL_SECONDS); skipping k generations is advancing the
clock by k spans, the time they would have taken. Replayed: the first generation (it polls at
once), the second (the first of the steady ones), one in the middle of the 30 days, and the
last, in which the pause ends.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from orchestrators.render_job import PAUSED_POLL_SECONDS, WAKES_PER_GENERATION, bp
from shared import names
from shared.pipeline import control, jobs_api
from tests.pipeline.control_harness import ReplayClient, gather, run_job, table, upload
from tests.pipeline.replay import InstanceRun, Replay
from tests.pipeline.test_pipeline_steps import bundle_zip, make_services

SMALL = {"frames": "1-30", "chunkSize": 10, "resolution": "64x36", "video": None}
PAUSE = timedelta(days=30)
SPAN = timedelta(seconds=WAKES_PER_GENERATION * PAUSED_POLL_SECONDS)  # one steady generation's time
GENERATIONS = int(PAUSE / SPAN) + 1   # the pause ends at the start of this generation
REPLAYED = (1, 2, GENERATIONS // 2, GENERATIONS)
MAX_HISTORY = 12 * WAKES_PER_GENERATION  # the bound of one generation's history (ARCHITECTURE.md)


@pytest.fixture(scope="module")
def functions() -> list[Any]:
    app = df.DFApp()
    app.register_functions(bp)
    return app.get_functions()


class LongPause:
    """A job submitted paused, replayed over a 30-day pause with the sampled generations, and
    what happened: every activity call with the replay's clock, the inputs each generation of
    the paused wait continued with, the generations skipped."""

    def __init__(self, functions: list[Any], end: str) -> None:
        self.svc = make_services()
        self.job_id, request = upload(self.svc, bundle_zip({**SMALL, "paused": True}))
        self.client = ReplayClient()
        self.wait_id = names.wait_instance_id(self.job_id, names.PAUSED, 0)
        self.calls: list[tuple[float, str, str]] = []  # (seconds into the pause, activity, answer)
        self.continued: list[Any] = []
        self.skipped = 0
        self.start: Any = None
        self.ended_at: float | None = None
        self.added_while_paused: list[str] = []
        self.end = end
        activities = table(self.svc)
        self.replay = Replay(functions, {name: self._recorded(name, step) for name, step in activities.items()})
        self.replay.on_quiet = self._at_quiet
        self.replay.on_continue = self._at_continue
        self.client.replay = self.replay
        self.run = run_job(functions, self.svc, request, self.client)

    def seconds(self) -> float:
        return (self.replay.clock - self.start).total_seconds() if self.start is not None else 0.0

    def _recorded(self, name: str, step: Any) -> Any:
        def call(payload: Any) -> Any:
            answer = step(payload)
            if self.start is not None:
                self.calls.append((self.seconds(), name, json.dumps(answer, sort_keys=True)))
            return answer
        return call

    def _at_continue(self, run: InstanceRun, data: Any) -> None:
        if run.instance_id != self.wait_id:
            return
        self.continued.append(data)
        generation = run.generations + self.skipped  # the one about to start
        following = [g for g in REPLAYED if g >= generation]
        if following and following[0] > generation:
            jump = following[0] - generation
            self.skipped += jump
            self.replay.clock += jump * SPAN

    def _at_quiet(self) -> None:
        if self.start is None and self.wait_id in self.replay.runs:
            self.start = self.replay.clock  # the paused wait has begun: the pause is on
        if self.start is None or self.ended_at is not None or self.seconds() < PAUSE.total_seconds():
            return
        self.ended_at = self.seconds()
        self.added_while_paused = [t.id for _, t in self.svc.backend.added]
        if self.end == "resume":
            gather(control.resume_job(self.svc, self.client, self.job_id, None))
        else:
            gather(jobs_api.cancel_job(self.svc, self.client, self.job_id))  # type: ignore[arg-type]


@pytest.mark.parametrize("end", ["resume", "cancel"])
def test_a_30_day_pause_costs_one_call_per_five_minutes_with_bounded_history(functions, end):
    pause = LongPause(functions, end)
    assert pause.run.status == "Completed", pause.run.error
    assert pause.ended_at is not None and pause.ended_at >= PAUSE.total_seconds()
    wait = pause.replay.runs[pause.wait_id]

    # The sample covers the whole 30 days: replayed and skipped generations add up to them.
    assert wait.generations + pause.skipped == GENERATIONS
    assert wait.generations == len(REPLAYED)
    # Sampling is sound: while paused, every generation continues with the same input ...
    assert len(pause.continued) == len(REPLAYED) - 1  # the last one returns
    assert all(data == pause.continued[0] for data in pause.continued)
    assert pause.continued[0]["paused"] is True and pause.continued[0]["wakes"] == 0
    during = [(t, name, answer) for t, name, answer in pause.calls if t < pause.ended_at]
    # ... and every activity it calls answers the same.
    assert {(name, answer) for _, name, answer in during} == {(names.POLL_TASKS, during[-1][2])}
    assert json.loads(during[-1][2])["paused"] is True

    # At most one activity call per 5 minutes of pause: the calls of the skipped generations
    # (one per wake) counted in, and no two of the replayed ones closer than 5 minutes. (The
    # pause is timed from the paused wait's first quiet moment, after its first poll.)
    total = len(during) + pause.skipped * WAKES_PER_GENERATION
    assert total <= pause.ended_at / PAUSED_POLL_SECONDS
    times = [t for t, _, _ in during]
    assert min(b - a for a, b in itertools.pairwise(times)) >= PAUSED_POLL_SECONDS
    # Every generation's history is bounded, and render_job's does not grow with the pause.
    assert wait.max_history < MAX_HISTORY
    assert pause.replay.runs[pause.job_id].max_history < MAX_HISTORY

    # Held while paused: nothing but the inspection ran before the pause ended.
    assert pause.added_while_paused == [names.INSPECT_TASK_ID]

    doc = pause.svc.jobs.get(pause.job_id)
    after = [name for t, name, _ in pause.calls if t >= pause.ended_at]
    if end == "resume":
        assert doc["status"] == "completed"
        statuses = [s["status"] for s in doc["history"]["statuses"]]
        assert statuses[:5] == ["queued", "validating", "rendering", "paused", "rendering"]
        # Resume woke the wait at once rather than at its next 5-minute poll.
        assert (pause.wait_id, names.TASKS_CHANGED, {"resumed": True}) in pause.client.raised
        assert pause.seconds() - pause.ended_at < PAUSED_POLL_SECONDS
        assert names.ADD_RENDER_TASKS in after and doc["progress"]["framesDone"] == 30
        assert "RenderPipeline.Job.Resumed" in pause.svc.events.types()
    else:
        assert doc["status"] == "cancelled" and pause.run.output["status"] == "cancelled"
        # The cancel stopped the orchestration and its paused wait, and the Batch job ...
        assert {pause.job_id, pause.wait_id} <= set(pause.client.terminated)
        assert pause.svc.backend.jobs[pause.job_id].terminated
        # ... and had the stop been lost, the wait's next poll ends the job without a render.
        assert [t.id for _, t in pause.svc.backend.added] == [names.INSPECT_TASK_ID]
        assert pause.svc.events.types()[-1] == "RenderPipeline.Job.Cancelled"
