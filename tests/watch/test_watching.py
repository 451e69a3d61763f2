"""Watching from the poll step, over fakes: frame times, progress and ETA, attempts' nodes,
stuck chunks, node health, cost and budgets land in the job document."""

from __future__ import annotations

from typing import Any

import pytest

from shared.pipeline import layout, node_health, steps
from shared.pipeline.estimates import parse_time
from shared.pipeline.jobs_api import health
from tests.watch.fakes import (
    AZURE,
    LOCAL,
    heartbeat,
    make_services,
    marker,
    put_json,
    rendering_job,
    run_tasks,
    with_chunks,
)

JOB = "job-watch"


def poll(svc: Any, job_id: str = JOB) -> dict[str, Any]:
    steps.poll_tasks(svc, {"jobId": job_id, "phase": "render"})
    return job(svc, job_id)


def job(svc: Any, job_id: str = JOB) -> dict[str, Any]:
    return with_chunks(svc, svc.jobs.get(job_id))


def chunk(doc: dict[str, Any], chunk_id: str) -> dict[str, Any]:
    return next(c for c in doc["chunks"] if c["id"] == chunk_id)


def test_running_chunks_show_their_frames_and_the_job_an_eta():
    svc, clock = make_services()
    rendering_job(svc)  # 4 chunks of 5 frames
    svc.backend.nodes.update({"chunk-0001": "node-a", "chunk-0002": "node-b"})
    run_tasks(svc, JOB, {"chunk-0001": 1000, "chunk-0002": 1000})
    clock.advance(25)
    heartbeat(svc, JOB, "chunk-0001", {1: 10.0, 2: 10.0})
    heartbeat(svc, JOB, "chunk-0002", {6: 9.0, 7: 11.0})
    doc = poll(svc)
    assert chunk(doc, "chunk-0001")["frameSeconds"] == {"1": 10.0, "2": 10.0}
    assert chunk(doc, "chunk-0001")["status"] == "running"
    assert chunk(doc, "chunk-0002")["attemptLog"] == [{"taskId": "chunk-0002", "node": "node-b"}]
    progress = doc["progress"]
    assert progress["framesDone"] == 4 and progress["framesTotal"] == 20
    assert progress["framesRunning"] == 2
    assert progress["secondsPerFrame"] == 10.0
    assert progress["elapsedSeconds"] == 25.0
    # 2 slots: 3 frames left in each running chunk (5 s into the third), then 2 queued chunks of 5
    eta = parse_time(progress["eta"])
    now = parse_time(svc.now())
    assert eta is not None and now is not None
    assert (eta - now).total_seconds() == pytest.approx(25 + 50, abs=1)
    assert doc["cost"]["nodeSeconds"] == pytest.approx(50.0)   # two tasks, 25 s each, one slot per node


def test_a_finished_chunk_keeps_the_frame_times_of_its_marker_and_its_blender():
    svc, clock = make_services()
    rendering_job(svc, frames="1-5", chunk_size=5)
    svc.backend.nodes["chunk-0001"] = "node-a"
    run_tasks(svc, JOB, {"chunk-0001": 50})
    clock.advance(60)
    marker(svc, JOB, "chunk-0001", {1: 9.0, 2: 10.0, 3: 10.0, 4: 11.0, 5: 10.0})
    heartbeat(svc, JOB, "chunk-0001", {1: 1.0})  # stale: the marker is the last word
    doc = poll(svc)
    c = chunk(doc, "chunk-0001")
    assert c["status"] == "succeeded"
    assert c["frameSeconds"] == {"1": 9.0, "2": 10.0, "3": 10.0, "4": 11.0, "5": 10.0}
    assert c["attemptLog"] == [{"taskId": "chunk-0001", "node": "node-a", "result": "succeeded", "exitCode": 0,
                                "seconds": 50.0, "blender": {"version": "5.0.1", "buildHash": "a3db93c5b259"},
                                "ffmpeg": {"version": "7.0.2-static"}}]
    assert doc["progress"]["framesDone"] == 5 and doc["progress"]["framesRunning"] == 0
    assert doc["progress"]["eta"] == svc.now()[:19] + "Z"   # nothing left: now


def test_a_stuck_task_is_a_failed_attempt_with_reason_stuck_and_is_requeued_with_its_log_kept():
    svc, clock = make_services(fail_ids=("chunk-0001",))
    rendering_job(svc, frames="1-5", chunk_size=5)
    run_tasks(svc, JOB, {"chunk-0001": 700})
    clock.advance(700)
    marker(svc, JOB, "chunk-0001", {1: 30.0}, ok=False, reason="stuck")
    svc.blobs.upload("renders", layout.log_blob(JOB, "chunk-0001", "stderr"), b"stuck: no frame for 600 s\n")
    doc = poll(svc)
    c = chunk(doc, "chunk-0001")
    assert c["status"] == "failed"
    assert c["failure"]["reason"] == "stuck"
    assert c["attemptLog"][0]["result"] == "failed" and c["attemptLog"][0]["reason"] == "stuck"
    result = steps.collect_render_results(svc, {"jobId": JOB})
    assert result == {"retry": True, "requeued": ["chunk-0001"], "requeuedCount": 1}
    again = chunk(job(svc), "chunk-0001")
    assert again["status"] == "pending" and again["failure"]["reason"] == "stuck"
    assert svc.blobs.download("renders", layout.log_blob(JOB, "chunk-0001", "stderr")).startswith(b"stuck")


def test_a_task_failing_for_another_reason_is_not_called_stuck():
    svc, clock = make_services(fail_ids=("chunk-0001",))
    rendering_job(svc, frames="1-5", chunk_size=5)
    run_tasks(svc, JOB, {"chunk-0001": 5})
    clock.advance(10)
    marker(svc, JOB, "chunk-0001", {}, ok=False, reason=None)
    c = chunk(poll(svc), "chunk-0001")
    assert c["failure"]["reason"] != "stuck" and c["attemptLog"][0]["reason"] == "exit code 1"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"{" * 100_000, b"x" * 300_000,
                                  b'{"frameSeconds": {"1": "fast", "2": -5, "3": 1e300, "99": 4}}'])
def test_a_malformed_heartbeat_is_ignored_and_the_poll_goes_on(body):
    svc, clock = make_services()
    rendering_job(svc, frames="1-5", chunk_size=5)
    run_tasks(svc, JOB, {"chunk-0001": 100})
    clock.advance(10)
    svc.blobs.upload("renders", layout.heartbeat_blob(JOB, "chunk-0001"), body, overwrite=True)
    doc = poll(svc)
    assert chunk(doc, "chunk-0001")["status"] == "running"
    assert chunk(doc, "chunk-0001").get("frameSeconds", {}) == {}
    assert doc["progress"]["framesRunning"] == 1 and doc["progress"]["eta"] is None


def _fail_on_node(svc: Any, clock: Any, job_id: str, task_id: str, node: str) -> None:
    svc.backend.nodes[task_id] = node
    run_tasks(svc, job_id, {task_id: 5})
    clock.advance(10)
    poll(svc, job_id)


def test_three_failed_attempts_in_a_row_take_a_batch_node_out_of_scheduling():
    node = "tvmps_" + "ab" * 32 + "_d"
    svc, clock = make_services(AZURE, fail_ids=("chunk-0001", "chunk-0001-r1", "chunk-0002"))
    for job in ("job-one", "job-two"):
        rendering_job(svc, job, frames="1-10", chunk_size=5)
    _fail_on_node(svc, clock, "job-one", "chunk-0001", node)
    _fail_on_node(svc, clock, "job-two", "chunk-0002", node)  # any job counts
    assert svc.backend.disabled == []
    steps.collect_render_results(svc, {"jobId": "job-one"})
    steps.add_render_tasks(svc, {"jobId": "job-one"})  # chunk-0001-r1 (a sleep in the fake: replaced)
    svc.backend.jobs["job-one"].tasks.pop("chunk-0001-r1")
    _fail_on_node(svc, clock, "job-one", "chunk-0001-r1", node)
    assert [n for n, _ in svc.backend.disabled] == [node]
    assert "3 attempts in a row failed" in svc.backend.disabled[0][1]
    assert "RenderPipeline.Node.Disabled" in svc.events.types()
    _, body = health(svc)
    assert [n["nodeId"] for n in body["nodes"]["disabled"]] == [node]
    assert body["nodes"]["disabled"][0]["schedulingDisabled"] is True
    # a fourth failure does not disable (or announce) it again
    _fail_on_node(svc, clock, "job-two", "chunk-0001", node)
    assert len(svc.backend.disabled) == 1
    assert svc.events.types().count("RenderPipeline.Node.Disabled") == 1


def test_a_success_between_failures_resets_the_nodes_count():
    svc, clock = make_services(AZURE, fail_ids=("chunk-0001", "chunk-0002", "chunk-0004"))
    rendering_job(svc, frames="1-20", chunk_size=5)
    for task in ("chunk-0001", "chunk-0002", "chunk-0003", "chunk-0004"):
        _fail_on_node(svc, clock, JOB, task, "node-x")
    record = svc.blobs.download("renders", layout.node_blob("node-x"))
    assert b'"failuresInARow": 1' in record
    assert svc.backend.disabled == []


def test_locally_an_unhealthy_node_is_reported_but_nothing_is_disabled():
    svc, clock = make_services(LOCAL, fail_ids=("chunk-0001", "chunk-0002", "chunk-0003"))
    rendering_job(svc, frames="1-15", chunk_size=5)
    for task in ("chunk-0001", "chunk-0002", "chunk-0003"):
        _fail_on_node(svc, clock, JOB, task, "render-host")
    assert svc.backend.disabled == []
    _, body = health(svc)
    assert body["nodes"]["disabled"][0]["nodeId"] == "render-host"
    assert body["nodes"]["disabled"][0]["schedulingDisabled"] is False


def test_a_node_id_that_is_a_path_is_never_used_as_a_blob_name():
    svc, clock = make_services(AZURE, fail_ids=("chunk-0001",))
    rendering_job(svc, frames="1-5", chunk_size=5)
    _fail_on_node(svc, clock, JOB, "chunk-0001", "../job-watch/frames/x")
    names = [b.name for b in svc.blobs.list("renders")]
    assert not any("~nodes" in n or "frames/x" in n for n in names)
    assert "node" not in chunk(job(svc), "chunk-0001")["attemptLog"][0]
    assert node_health.valid_node_id("tvmps_" + "0" * 64 + "_p")


def test_the_cost_weighs_tasks_by_slots_and_prices_spot_nodes_apart():
    env = {**AZURE, "TASK_SLOTS_PER_NODE": "2", "NODE_PRICE_PER_HOUR_DEDICATED": "2",
           "NODE_PRICE_PER_HOUR_SPOT": "0.5"}
    svc, clock = make_services(env)
    rendering_job(svc, frames="1-10", chunk_size=5)
    svc.backend.nodes.update({"chunk-0001": "tvmps_a_d", "chunk-0002": "tvmps_b_p"})
    run_tasks(svc, JOB, {"chunk-0001": 7200, "chunk-0002": 7200})
    clock.advance(3600)
    cost = poll(svc)["cost"]
    assert cost["dedicatedNodeSeconds"] == 1800.0 and cost["spotNodeSeconds"] == 1800.0
    assert cost["estimate"] == pytest.approx(0.5 * 2 + 0.5 * 0.5)
    assert cost["maxCost"] is None and "budgetReachedAt" not in cost


def test_a_job_reaching_its_max_cost_is_paused_marked_and_announced_once():
    env = {**LOCAL, "NODE_PRICE_PER_HOUR_DEDICATED": "3.6"}   # 0.001 per second
    svc, clock = make_services(env)
    rendering_job(svc, frames="1-5", chunk_size=5, manifest={"frames": "1-5", "maxCost": 0.05})
    run_tasks(svc, JOB, {"chunk-0001": 1000})
    clock.advance(30)
    assert "budgetReachedAt" not in poll(svc)["cost"]
    clock.advance(30)
    doc = poll(svc)
    assert doc["cost"]["estimate"] == pytest.approx(0.06)
    reached = doc["cost"]["budgetReachedAt"]
    assert svc.jobs.get(JOB)["status"] == "paused"   # as a wrangler's pause: running tasks finish
    assert svc.events.types().count("RenderPipeline.Job.Paused") == 1
    clock.advance(30)
    doc = poll(svc)
    assert doc["cost"]["budgetReachedAt"] == reached
    assert svc.events.types().count("RenderPipeline.Job.BudgetReached") == 1


def test_watching_never_fails_the_poll(monkeypatch):
    svc, clock = make_services()
    rendering_job(svc, frames="1-5", chunk_size=5)
    run_tasks(svc, JOB, {"chunk-0001": 100})
    clock.advance(10)

    def broken(*_: Any) -> None:
        raise RuntimeError("a bug")
    monkeypatch.setattr(svc.backend, "task_node", broken)
    result = steps.poll_tasks(svc, {"jobId": JOB, "phase": "render"})
    assert result["done"] is False
    assert chunk(job(svc), "chunk-0001")["status"] == "running"


def test_a_requeued_chunk_starts_its_new_attempt_in_the_log():
    svc, clock = make_services(fail_ids=("chunk-0001",))
    rendering_job(svc, frames="1-5", chunk_size=5)
    svc.backend.nodes.update({"chunk-0001": "node-a", "chunk-0001-r1": "node-b"})
    run_tasks(svc, JOB, {"chunk-0001": 5})
    clock.advance(10)
    poll(svc)
    steps.collect_render_results(svc, {"jobId": JOB})
    steps.add_render_tasks(svc, {"jobId": JOB})
    svc.backend.jobs[JOB].tasks.pop("chunk-0001-r1")
    run_tasks(svc, JOB, {"chunk-0001-r1": 100})
    clock.advance(10)
    put_json(svc, layout.heartbeat_blob(JOB, "chunk-0001-r1"), {"frameSeconds": {"1": 8.0}})
    c = chunk(poll(svc), "chunk-0001")
    assert [(e["taskId"], e["node"], e.get("result")) for e in c["attemptLog"]] == [
        ("chunk-0001", "node-a", "failed"), ("chunk-0001-r1", "node-b", None)]
    assert c["frameSeconds"] == {"1": 8.0}


def test_the_stitch_tasks_time_is_in_the_cost_too():
    svc, clock = make_services()
    rendering_job(svc, frames="1-5", chunk_size=5)
    run_tasks(svc, JOB, {"chunk-0001": 10})
    clock.advance(10)
    assert poll(svc)["cost"]["nodeSeconds"] == 10.0
    run_tasks(svc, JOB, {"stitch": 100})
    clock.advance(40)
    steps.poll_tasks(svc, {"jobId": JOB, "phase": "stitch"})
    assert svc.jobs.get(JOB)["cost"]["nodeSeconds"] == 50.0


def test_a_task_without_network_is_followed_through_the_heartbeat_file_on_its_node():
    svc, clock = make_services()
    rendering_job(svc, frames="1-5", chunk_size=5)
    run_tasks(svc, JOB, {"chunk-0001": 100})
    clock.advance(20)
    svc.backend.files[(JOB, "chunk-0001", "wd/heartbeat.json")] = b'{"frameSeconds": {"1": 6.0, "2": 7.0}}'
    doc = poll(svc)
    assert chunk(doc, "chunk-0001")["frameSeconds"] == {"1": 6.0, "2": 7.0}
    assert doc["progress"]["framesDone"] == 2
