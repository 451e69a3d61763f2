"""The watch routes as the host calls them, over fakes, attacked with bad input: frames outside the
job, negative or huge tails, another job's tasks, path tricks in ids."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

from shared.errors import ValidationError
from shared.job_spec import manifest_from_json
from shared.pipeline import layout
from tests.app_functions import app_functions
from tests.watch.fakes import make_services, marker, rendering_job, run_tasks

JOB = "job-watch"
JPEG = b"\xff\xd8\xff\xe0" + b"preview" * 10


@pytest.fixture
def watched(monkeypatch):
    import triggers.watch_api as watch_api

    svc, clock = make_services()
    rendering_job(svc)
    monkeypatch.setattr(watch_api, "services", lambda: svc)
    return svc, clock


def call(name: str, route: dict[str, str], params: dict[str, str] | None = None) -> func.HttpResponse:
    function = {f.get_function_name(): f for f in app_functions()}[name].get_user_function()
    path = "/".join(route.values())
    request = func.HttpRequest("GET", f"http://localhost/api/jobs/{path}", body=b"", route_params=route,
                               params=params or {})
    return function(request)


def body(answer: func.HttpResponse) -> Any:
    return json.loads(answer.get_body())


def preview(params: dict[str, str] | None = None, job: str = JOB) -> func.HttpResponse:
    return call("get_job_preview", {"jobId": job}, params)


def log(task: str, params: dict[str, str] | None = None, job: str = JOB) -> func.HttpResponse:
    return call("get_task_log", {"jobId": job, "taskId": task}, params)


# ---------------------------------------------------------------- preview


def test_no_preview_before_the_first_frame(watched):
    answer = preview()
    assert answer.status_code == 404 and body(answer)["error"]["code"] == "no_preview"


def test_the_latest_preview_and_a_given_frames(watched):
    svc, _ = watched
    svc.blobs.upload("renders", layout.preview_blob(JOB, 3), JPEG + b"3")
    svc.blobs.upload("renders", layout.preview_blob(JOB, 12), JPEG + b"12")
    svc.blobs.upload("renders", layout.preview_blob(JOB, 7), JPEG + b"7")   # written last
    latest = preview()
    assert latest.status_code == 200 and latest.mimetype == "image/jpeg"
    assert latest.get_body() == JPEG + b"7"
    assert preview({"frame": "12"}).get_body() == JPEG + b"12"
    assert preview({"frame": "5"}).status_code == 404   # in range, not rendered yet


@pytest.mark.parametrize("frame", ["0", "21", "1048574", "99999999", "-1", "abc", "1e3", "3.0", " 3", "3\n",
                                  "../3", ""])
def test_a_frame_outside_the_job_or_not_a_number_is_400(watched, frame):
    svc, _ = watched
    svc.blobs.upload("renders", layout.preview_blob(JOB, 3), JPEG)
    answer = preview({"frame": frame})
    assert answer.status_code == 400 and body(answer)["error"]["field"] == "frame"


def test_a_preview_of_another_job_is_not_reachable(watched):
    svc, _ = watched
    rendering_job(svc, "job-other")
    svc.blobs.upload("renders", layout.preview_blob("job-other", 3), JPEG)
    assert preview({"frame": "3"}).status_code == 404
    assert preview({"frame": "3"}, job="job-other").status_code == 200


@pytest.mark.parametrize("job", ["..", "job-watch/../job-other", "job watch", "a" * 65, "job-x%2F..", "~nodes"])
def test_path_tricks_in_the_job_id_are_400(watched, job):
    assert preview(job=job).status_code == 400
    assert log("chunk-0001", job=job).status_code == 400
    assert call("get_job_outputs", {"jobId": job}).status_code == 400
    assert call("get_job_provenance", {"jobId": job}).status_code == 400


def test_an_unknown_job_is_404_everywhere(watched):
    for answer in (preview(job="job-nope"), log("chunk-0001", job="job-nope"),
                   call("get_job_outputs", {"jobId": "job-nope"}), call("get_job_provenance", {"jobId": "job-nope"})):
        assert answer.status_code == 404


# ---------------------------------------------------------------- log tails


def test_a_running_tasks_log_is_read_from_its_node(watched):
    svc, clock = watched
    run_tasks(svc, JOB, {"chunk-0001": 1000})
    clock.advance(5)
    lines = b"".join(b"Fra:%d Mem:1M | Sample %d/64\n" % (i // 64, i % 64) for i in range(1000))
    svc.backend.files[(JOB, "chunk-0001", "stdout.txt")] = lines
    answer = body(log("chunk-0001", {"tail": "3"}))
    assert answer["source"] == "node" and answer["stream"] == "stdout"
    assert answer["text"] == "".join(f"Fra:15 Mem:1M | Sample {n}/64\n" for n in (37, 38, 39))
    assert svc.backend.reads[-1][:3] == (JOB, "chunk-0001", "stdout.txt")
    assert svc.backend.reads[-1][3] == 3 * 1024  # reads a bounded tail, not the file


def test_a_finished_tasks_log_comes_from_its_uploaded_blob(watched):
    svc, clock = watched
    run_tasks(svc, JOB, {"chunk-0001": 5})
    clock.advance(10)
    svc.blobs.upload("renders", layout.log_blob(JOB, "chunk-0001", "stderr"),
                     "".join(f"line {i}\n" for i in range(500)).encode())
    answer = body(log("chunk-0001", {"stream": "stderr"}))
    assert answer["source"] == "log"
    text = answer["text"].splitlines()
    assert len(text) == 200 and text[0] == "line 300" and text[-1] == "line 499"
    assert body(log("chunk-0001", {"stream": "stderr", "tail": "5000"}))["text"].count("\n") == 500


def test_a_task_with_no_log_yet_is_404(watched):
    answer = log("chunk-0002")
    assert answer.status_code == 404 and body(answer)["error"]["code"] == "no_log"


@pytest.mark.parametrize("tail", ["0", "-5", "5001", "99999999999", "1.5", "ten", " 5", "", "1e3"])
def test_a_negative_zero_or_huge_tail_is_400(watched, tail):
    answer = log("chunk-0001", {"tail": tail})
    assert answer.status_code == 400 and body(answer)["error"]["field"] == "tail"


@pytest.mark.parametrize("stream", ["stdin", "../stdout", "stdout.txt", "STDOUT", ""])
def test_a_stream_other_than_stdout_or_stderr_is_400(watched, stream):
    answer = log("chunk-0001", {"stream": stream})
    assert answer.status_code == 400 and body(answer)["error"]["field"] == "stream"


@pytest.mark.parametrize("task", ["chunk-0099", "chunk-0001-r1", "chunk-0001-r5", "other-task"])
def test_a_task_the_job_does_not_have_is_404(watched, task):
    svc, _ = watched
    # another job's retry exists, with a log; this job's chunk-0001 ran once only
    rendering_job(svc, "job-other")
    svc.blobs.upload("renders", layout.log_blob("job-other", "chunk-0001-r1", "stdout"), b"other job's log\n")
    answer = log(task)
    assert answer.status_code == 404 and body(answer)["error"]["code"] == "task_not_found"


@pytest.mark.parametrize("task", ["..", "../job-other/chunk-0001", "chunk-0001/../../x", "chunk 1", "a" * 65,
                                  "chunk-0001\n"])
def test_path_tricks_in_the_task_id_are_400(watched, task):
    answer = log(task)
    assert answer.status_code == 400 and body(answer)["error"]["field"] == "taskId"


# ---------------------------------------------------------------- outputs and provenance


def test_outputs_list_the_video_frames_logs_and_previews_with_read_only_urls(watched):
    svc, _ = watched
    for name in ("frames/shot_0001.png", "frames/shot_0002.png", "video.mp4", "logs/chunk-0001/stdout.txt",
                 "previews/1.jpg", "tools/task_runner.py", "input/shot.blend", "chunks/chunk-0001.json",
                 "heartbeats/chunk-0001.json", "inspect.json", "frames/empty.png"):
        svc.blobs.upload("renders", f"{JOB}/{name}", b"" if "empty" in name else b"data")
    svc.blobs.upload("renders", "job-watch-2/frames/shot_0001.png", b"data")  # a job whose id starts alike
    answer = body(call("get_job_outputs", {"jobId": JOB}))
    files = {f["name"]: f for f in answer["files"]}
    assert set(files) == {"frames/shot_0001.png", "frames/shot_0002.png", "video.mp4",
                          "logs/chunk-0001/stdout.txt", "previews/1.jpg"}
    assert {f["kind"] for f in files.values()} == {"frame", "video", "log", "preview"}
    for f in files.values():
        assert f"/renders/{JOB}/{f['name']}?" in f["url"] and "sp=r&" in f["url"] and "sr=b" in f["url"]
    assert answer["expiresOn"] and answer["truncated"] is False


def test_provenance_names_the_bundle_the_settings_and_each_tasks_blender(watched):
    svc, clock = watched
    svc.backend.nodes["chunk-0001"] = "node-a"
    run_tasks(svc, JOB, {"chunk-0001": 5})
    clock.advance(10)
    marker(svc, JOB, "chunk-0001", {1: 1.0})
    from shared.pipeline import steps

    steps.poll_tasks(svc, {"jobId": JOB, "phase": "render"})
    answer = body(call("get_job_provenance", {"jobId": JOB}))
    assert answer["bundle"]["eTag"] == "0x1" and answer["bundle"]["blob"] == f"{JOB}/input/shot.blend"
    assert len(answer["manifestSha256"]) == 64 and answer["settings"]["frames"] == "1-20"
    assert answer["tasks"] == [{"taskId": "chunk-0001", "chunk": "chunk-0001", "node": "node-a",
                                "result": "succeeded", "blender": {"version": "5.0.1", "buildHash": "a3db93c5b259"},
                                "ffmpeg": {"version": "7.0.2-static"}}]


# ---------------------------------------------------------------- the manifest keys


def test_stuck_after_and_max_cost_are_manifest_keys_with_bounds():
    assert manifest_from_json({"stuckAfterSeconds": 900, "maxCost": 12.5}) == {"stuckAfterSeconds": 900,
                                                                                "maxCost": 12.5}
    for bad in ({"stuckAfterSeconds": 10}, {"stuckAfterSeconds": "900"}, {"stuckAfterSeconds": True},
                {"stuckAfterSeconds": 10**9}, {"maxCost": 0}, {"maxCost": -1}, {"maxCost": 1e-9},
                {"maxCost": "5"}, {"maxCost": float("inf")}, {"maxCost": float("nan")}):
        with pytest.raises(ValidationError) as refused:
            manifest_from_json(bad)
        assert refused.value.field == next(iter(bad))
