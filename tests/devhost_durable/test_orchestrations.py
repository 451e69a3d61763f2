"""Orchestration semantics of the local Durable runtime, driven over its HTTP API."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from tests.devhost_durable.hosting import hosted

TIMER_CREATED, TIMER_FIRED, TASK_SCHEDULED, TASK_FAILED = 10, 11, 4, 6


def _events(status: dict[str, Any], event_type: int) -> list[dict[str, Any]]:
    return [e for e in status["historyEvents"] if e["EventType"] == event_type]


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_sequence_runs_activities_in_order_with_sync_and_async_activities(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            iid = await h.start("hello_sequence", ["A", "B"])
            status = await h.wait(iid)
            assert status["runtimeStatus"] == "Completed"
            assert status["output"] == ["Hello A!", "Hello B!", "Hello async!"]
            assert status["input"] == ["A", "B"]

    run(scenario())


def test_fan_out_fan_in_with_task_all(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path, max_concurrent_activities=4) as h:
            iid = await h.start("fan_out", {"count": 12})
            status = await h.wait(iid, showHistory="true")
            assert status["output"] == sum(2 * i for i in range(12))
            scheduled = _events(status, TASK_SCHEDULED)
            assert sorted(e["EventId"] for e in scheduled) == list(range(12))

    run(scenario())


def test_activity_concurrency_limit_is_honoured(functions, run, tmp_path):
    from tests.devhost_durable.apps import core_app

    async def scenario() -> None:
        async with hosted(functions, tmp_path, max_concurrent_activities=2) as h:
            iid = await h.start("fan_out", {"count": 5, "delay": 0.25})
            status = await h.wait(iid)
            assert status["output"] == 20
        assert core_app.CONCURRENCY["max"] == 2

    run(scenario())


def test_task_any_race_between_event_and_timer(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            timed_out = await h.start("approval_race", {"timeout": 0.2, "linger": 0})
            approved = await h.start("approval_race", {"timeout": 1.2, "linger": 1.4})
            await h.wait(approved, lambda s: s["runtimeStatus"] == "Running")
            assert await h.raise_event(approved, "approve", {"by": "ops"}) == 202
            done = await h.wait(approved, showHistory="true")
            assert done["output"] == {"approved": {"by": "ops"}}
            # The cancelled timer (id 0) never fires, though its time passed while running.
            assert [e["TimerId"] for e in _events(done, TIMER_FIRED)] == [1]
            late = await h.wait(timed_out, showHistory="true")
            assert late["output"] == {"approved": None, "timed_out": True}
            assert len(_events(late, TIMER_FIRED)) == 1

    run(scenario())


def test_retry_with_backoff_until_success(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            spec = {"key": "ok", "fail_times": 3, "first_ms": 50, "attempts": 5, "backoff": 2.0,
                    "max_ms": 150}
            iid = await h.start("retry_until", spec)
            status = await h.wait(iid, showHistory="true", showHistoryOutput="true")
            assert status["output"] == {"result": "ok after 4"}
            assert len(_events(status, TASK_FAILED)) == 3
            timers = _events(status, TIMER_CREATED)
            delays = [round(_ts(t["FireAt"]) - _ts(t["Timestamp"]), 2) for t in timers]
            assert delays == [0.05, 0.1, 0.15]  # 50 ms doubling, capped at 150 ms
            scheduled = _events(status, TASK_SCHEDULED)
            assert [e["EventId"] for e in scheduled] == [0, 2, 4, 6]

    run(scenario())


def test_retry_until_exhaustion_surfaces_the_last_failure(functions, run, tmp_path):
    from tests.devhost_durable.apps import core_app

    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            spec = {"key": "never", "fail_times": 99, "first_ms": 20, "attempts": 3}
            iid = await h.start("retry_until", spec)
            status = await h.wait(iid, showHistory="true")
            assert status["runtimeStatus"] == "Completed"
            assert "flaky failure 3" in status["output"]["error"]
            assert core_app.ATTEMPTS["never"] == 3
            # As DTFx does: a retry timer after every failed attempt, the last one included.
            assert len(_events(status, TIMER_CREATED)) == 3

    run(scenario())


def test_retry_timeout_stops_further_attempts(functions, run, tmp_path):
    from tests.devhost_durable.apps import core_app

    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            spec = {"key": "slow", "fail_times": 99, "first_ms": 300, "attempts": 5, "backoff": 1.0,
                    "timeout_ms": 150}
            status = await h.wait(await h.start("retry_until", spec))
            assert "Retry timeout expired" in status["output"]["error"]
            # A second attempt starts 300 ms in, past the 150 ms budget: nothing runs after it.
            assert 1 <= core_app.ATTEMPTS["slow"] <= 2

    run(scenario())


def test_external_events_raised_early_are_buffered_and_delivered_in_order(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            iid = await h.start("collect_events", 3)
            # The orchestrator sits on a 0.3 s timer: these two arrive before it waits.
            assert await h.raise_event(iid, "step", "first") == 202
            assert await h.raise_event(iid, "step", {"n": 2}) == 202
            await asyncio.sleep(0.6)
            status = (await h.status(iid))[1]
            assert status["runtimeStatus"] == "Running"
            assert await h.raise_event(iid, "step", 3) == 202
            status = await h.wait(iid)
            assert status["output"] == ["first", {"n": 2}, 3]
            assert await h.raise_event(iid, "step", 4) == 410
            assert await h.raise_event("no-such-instance", "step", 4) == 404

    run(scenario())


def test_sub_orchestrations_with_ids_retry_and_failure(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            iid = await h.start("parent", "sub", instance_id="parent-1")
            status = await h.wait(iid)
            assert status["runtimeStatus"] == "Completed", status
            first, second, third = status["output"]["results"]
            assert first == {"value": "Hello 1!", "parent": "parent-1"}
            assert second == {"value": "Hello 2!", "parent": "parent-1"}
            assert third == "ok after 2"
            assert "child gave up" in status["output"]["failure"]
            named = (await h.status("parent-1-named"))[1]
            assert named["runtimeStatus"] == "Completed" and named["name"] == "child"
            # The retried child kept its explicit id: the failed first attempt was replaced.
            retried = await h.wait("parent-1-flaky", showHistory="true", showHistoryOutput="true")
            assert retried["runtimeStatus"] == "Completed" and retried["output"] == "ok after 2"
            history = (await h.status("parent-1", showHistory="true"))[1]["historyEvents"]
            assert [e["EventType"] for e in history].count(9) == 2  # flaky attempt + failing_child

    run(scenario())


def test_continue_as_new_keeps_events_raised_during_the_transition(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            iid = await h.start("counter", {"total": 0, "generation": 0, "until": 4})
            await h.wait(iid, lambda s: s["runtimeStatus"] == "Running")
            for value in (1, 2, 3, 4):
                assert await h.raise_event(iid, "add", value) == 202
            status = await h.wait(iid, showHistory="true", showHistoryOutput="true")
            assert status["output"] == {"total": 10, "generation": 4, "until": 4}
            # Fresh history per generation: only the last generation's events remain.
            started = [e for e in status["historyEvents"] if e["EventType"] == 0]
            assert len(started) == 1
            assert json.loads(started[0]["Input"])["generation"] == 3

    run(scenario())


def test_custom_status_is_reported_while_running_and_after(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            iid = await h.start("with_status")
            waiting = await h.wait(iid, lambda s: s["customStatus"] is not None)
            assert waiting["customStatus"] == {"stage": "waiting"}
            assert waiting["runtimeStatus"] == "Running"
            await h.raise_event(iid, "go", 7)
            done = await h.wait(iid)
            assert done["customStatus"] == {"stage": "done", "value": 7}
            assert done["output"] == 7

    run(scenario())


def test_orchestrator_failure_carries_the_error_messages(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            iid = await h.start("doomed")
            status = await h.wait(iid, showHistory="true")
            assert status["runtimeStatus"] == "Failed"
            assert "orchestrator gave up after" in status["output"]
            assert "activity exploded: boom" in status["output"]
            failed = _events(status, TASK_FAILED)[0]
            assert failed["Reason"] == "Activity function 'explode' failed: activity exploded: boom"
            assert "RuntimeError" in failed["Details"]
            code, _ = await h.status(iid, returnInternalServerErrorOnFailure="true")
            assert code == 500

    run(scenario())


def test_terminate_stops_a_waiting_instance(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            iid = await h.start("wait_forever")
            await h.wait(iid, lambda s: s["runtimeStatus"] == "Running")
            url = f"{h.hook}/instances/{iid}/terminate"
            async with h.http.post(url, params={"reason": "ops said stop"}) as resp:
                assert resp.status == 202
            status = await h.wait(iid)
            assert status["runtimeStatus"] == "Terminated"
            assert status["output"] == "ops said stop"
            async with h.http.post(url, params={"reason": "again"}) as resp:
                assert resp.status == 410
            assert await h.raise_event(iid, "never", 1) == 410

    run(scenario())


def test_starting_a_running_id_conflicts_and_a_finished_one_is_replaced(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            await h.start("wait_forever", instance_id="job-1")
            async with h.http.post(f"{h.hook}/orchestrators/wait_forever/job-1") as resp:
                assert resp.status == 409
            await h.start("hello_sequence", ["X"], instance_id="job-2")
            await h.wait("job-2")
            await h.start("hello_sequence", ["Y"], instance_id="job-2")
            status = await h.wait("job-2", lambda s: s.get("output") == ["Hello Y!", "Hello async!"])
            assert status["input"] == ["Y"]
            async with h.http.post(f"{h.hook}/orchestrators/no_such_function") as resp:
                assert resp.status == 400
            async with h.http.post(f"{h.hook}/orchestrators/hello_sequence/bad%23id") as resp:
                assert resp.status == 400

    run(scenario())


def test_replaying_a_finished_history_is_deterministic(functions, run, tmp_path):
    from devhost.durable import actions
    from devhost.durable.functions import run_orchestrator

    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            iid = await h.start("parent", "det")
            status = await h.wait(iid, showHistory="true", showHistoryOutput="true")
            history = status["historyEvents"]
            handle = h.runtime.functions.orchestrators["parent"]
            context = json.dumps({"history": history, "instanceId": iid, "isReplaying": True,
                                  "parentInstanceId": None, "input": json.dumps("det"),
                                  "upperSchemaVersion": 1, "upperSchemaVersionNew": 2})
            first = run_orchestrator(handle, context)
            second = run_orchestrator(handle, context)
            assert first == second
            assert first.is_done and first.error is None
            assert json.loads(first.output_json or "null") == status["output"]
            scheduling = [e for e in history if e["EventType"] in (4, 7, 10) and e["EventId"] >= 0]
            # Every action the replay yields was already scheduled; nothing new appears.
            sequenced = [a for a in first.actions if a["actionType"] in actions.SEQUENCED]
            retry_extra = len(scheduling) - len(sequenced)
            assert retry_extra == 2  # one retry timer + one re-attempt of flaky_child
            names = [a.get("functionName") for a in sequenced]
            assert names == ["child", "child", "flaky_child", "failing_child"]

    run(scenario())


def test_unsupported_actions_fail_the_instance_clearly(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            status = await h.wait(await h.start("uses_http"))
            assert status["runtimeStatus"] == "Failed"
            assert "does not support" in status["output"]
            # The runtime carries on with other work.
            assert (await h.wait(await h.start("hello_sequence", ["ok"])))["runtimeStatus"] == "Completed"

    run(scenario())


def test_retries_interleaved_with_other_work_keep_task_ids_in_step(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            ids = [await h.start("mixed", f"m{i}") for i in range(3)]
            for iid in ids:
                status = await h.wait(iid)
                assert status["output"] == ["ok after 3", 2, "ok after 2", "ok after 3", "ok after 2"], status

    run(scenario())


def test_orchestration_episode_concurrency_limit_is_honoured(functions, run, tmp_path):
    from tests.devhost_durable.apps import core_app

    async def scenario() -> None:
        core_app.EPISODES.update(now=0, max=0)
        async with hosted(functions, tmp_path, max_concurrent_orchestrations=2) as h:
            ids = await asyncio.gather(*(h.start("busy") for _ in range(6)))
            for iid in ids:
                assert (await h.wait(iid))["output"] == "done"
        assert core_app.EPISODES["max"] == 2

    run(scenario())
