"""What a job reads and announces, whichever way it came in: lifecycle events, the bundle
version its tasks read, the scene it renders, and the errors clients see. The orchestration
runs through the SDK's replay over the real steps, with fakes and a simulated render node."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import pytest

from orchestrators.render_job import MAX_STITCH_ATTEMPTS, step_failure
from shared import names
from shared.bootstrap import Services
from shared.errors import TransientError
from shared.job_chunks import read_chunks
from shared.job_document import JobSource, SourceKind, upload_job_id
from shared.pipeline import submission
from tests.app_functions import app_functions
from tests.pipeline.replay import Replay
from tests.pipeline.sim import frame_bytes
from tests.pipeline.test_pipeline_steps import ACTIVITIES, bundle_zip, functions, make_services, run_upload
from tests.qa.fakes import FakeDurableClient

__all__ = ["functions"]  # the module-scoped fixture, shared with test_pipeline_steps


def _table(svc: Services, **overrides: Any) -> dict[str, Any]:
    table = {n: (lambda payload, step=step: step(svc, payload)) for n, step in ACTIVITIES.items()}
    table.update(overrides)
    return table


def _trigger(name: str, svc: Services, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An HTTP function of the app as the host calls it, over these services."""
    import triggers.api as api

    monkeypatch.setattr(api, "services", lambda: svc)
    return {f.get_function_name(): f for f in app_functions()}[name].get_user_function()


def run_http(functions: list[Any], svc: Services, body: dict[str, Any], key: str | None = None,
             **overrides: Any) -> tuple[str, Any]:
    client = FakeDurableClient()
    submitted = asyncio.run(submission.submit_http_job(svc, client, body, key, None))
    job_id = submitted.job["id"]
    run = Replay(functions, _table(svc, **overrides)).run(names.RENDER_JOB, client.started[job_id], job_id)
    return job_id, run


SMALL = {"frames": "1-4", "fps": 24, "resolution": "64x36", "chunkSize": 2}


def test_an_http_job_publishes_queued_once_then_started_and_completed(functions):
    svc = make_services()
    svc.blobs.upload("scenes", "studio/shot.zip", bundle_zip())
    job_id, run = run_http(functions, svc, {"bundle": "studio/shot.zip", **SMALL})
    assert run.status == "Completed", run.error
    assert svc.events.types() == ["RenderPipeline.Job.Queued", "RenderPipeline.Job.Started",
                                  "RenderPipeline.Job.Completed"]
    assert {e.subject for e in svc.events.events} == {f"/jobs/{job_id}"}


def test_a_register_step_retried_after_publishing_still_publishes_queued_once(functions):
    svc = make_services()
    svc.blobs.upload("scenes", "studio/shot.zip", bundle_zip())
    calls = {"n": 0}

    def flaky_register(payload: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        result = ACTIVITIES[names.REGISTER_JOB](svc, payload)
        if calls["n"] == 1:  # the host lost the activity's answer: it runs again
            raise TransientError("lost the answer")
        return result

    _, run = run_http(functions, svc, {"bundle": "studio/shot.zip", **SMALL},
                      **{names.REGISTER_JOB: flaky_register})
    assert run.status == "Completed", run.error
    assert calls["n"] == 2
    assert svc.events.types().count("RenderPipeline.Job.Queued") == 1


def test_an_upload_job_publishes_queued_exactly_once(functions):
    svc = make_services()
    _, run = run_upload(functions, svc, bundle_zip(SMALL))
    assert run.status == "Completed", run.error
    assert svc.events.types().count("RenderPipeline.Job.Queued") == 1


# ---------------------------------------------------------------- the scene is always inspected

def test_an_unknown_scene_fails_the_job_naming_the_scenes_the_blend_has_before_any_render(functions):
    svc = make_services()
    job_id, _ = run_upload(functions, svc, bundle_zip({**SMALL, "scene": "Shot_020"}))
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "scene_not_found"
    assert "'Shot_020'" in doc["error"]["message"] and "Scene" in doc["error"]["message"]
    assert [task.id for _, task in svc.backend.added] == [names.INSPECT_TASK_ID]


def test_an_unreadable_blend_with_frames_fps_and_resolution_given_fails_scene_unreadable_at_once(functions):
    svc = make_services(fail_ids=(names.INSPECT_TASK_ID,))
    job_id, _ = run_upload(functions, svc, bundle_zip(SMALL))
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "scene_unreadable"
    assert [task.id for _, task in svc.backend.added] == [names.INSPECT_TASK_ID]  # no render retries burnt
    assert doc["chunkCount"] == 0


# ---------------------------------------------------------------- errors clients see are plain

WD = b"/mnt/batch/tasks/workitems/job-x/job-1/inspect/wd"
TRACEBACK = (b"Blender 5.0.1\nRead blend: \"" + WD + b"/bundle/shot010.blend\"\n"
             b"Traceback (most recent call last):\n"
             b"  File \"" + WD + b"/tools/inspect_scene.py\", line 41, in <module>\n"
             b"    main()\n"
             b"RuntimeError: Error: Cannot read file \"/mnt/batch/tasks/workitems/job-x/bundle/shot010.blend\"\n")
NODE_PATH = "/mnt/batch/tasks"


def _assert_plain(error: dict[str, Any]) -> None:
    text = json.dumps(error)
    assert "Traceback" not in text and 'File "' not in text
    assert NODE_PATH not in text and "/tmp/" not in text
    assert error["code"] and error["message"]


def test_a_failed_inspection_shows_no_traceback_or_node_path_to_clients(functions, caplog, monkeypatch):
    caplog.set_level(logging.WARNING)
    svc = make_services(fail_ids=(names.INSPECT_TASK_ID,), failed_stderr=TRACEBACK,
                        failure="resource file download to /mnt/batch/tasks/workitems/job-x/wd failed")
    job_id, _ = run_upload(functions, svc, bundle_zip(SMALL))
    doc = svc.jobs.get(job_id)
    assert doc["error"]["code"] == "scene_unreadable"
    _assert_plain(doc["error"])
    assert doc["error"]["details"]["log"].endswith(f"{job_id}/logs/inspect/stderr.txt")
    request = func.HttpRequest("GET", f"http://localhost/api/jobs/{job_id}", body=b"", route_params={"jobId": job_id})
    answer = asyncio.run(_trigger("get_job", svc, monkeypatch).__wrapped__(request, FakeDurableClient()))
    _assert_plain(json.loads(answer.get_body())["error"])
    assert "Traceback (most recent call last)" in caplog.text  # the logs keep it all
    assert "inspect_scene.py" in caplog.text


def test_frames_that_keep_failing_show_no_node_path_in_the_job(functions):
    svc = make_services(fail_ids=("chunk-0001", "chunk-0001-r1", "chunk-0001-r2"), failed_stderr=TRACEBACK,
                        failure="output file upload failed: [Errno 2] No such file: '/mnt/batch/tasks/x/wd/frames'")
    job_id, _ = run_upload(functions, svc, bundle_zip(SMALL))
    doc = svc.jobs.get(job_id)
    assert doc["error"]["code"] == "frames_failed"
    _assert_plain(doc["error"])
    assert NODE_PATH not in json.dumps(read_chunks(svc.chunks, job_id))
    assert "output file upload failed" in doc["error"]["details"]["chunks"][0]["reason"]


def test_a_failed_stitch_shows_no_traceback_to_clients(functions):
    # Every stitch attempt fails (a failed stitch runs again, MAX_STITCH_ATTEMPTS in all).
    stitches = tuple(names.stitch_task_id(n) for n in range(MAX_STITCH_ATTEMPTS))
    svc = make_services(fail_ids=stitches, failed_stderr=TRACEBACK)
    job_id, _ = run_upload(functions, svc, bundle_zip({**SMALL, "video": {"name": "shot.mp4"}}))
    doc = svc.jobs.get(job_id)
    assert doc["error"]["code"] == "stitch_failed"
    _assert_plain(doc["error"])


@dataclass
class _Context:
    is_replaying: bool
    instance_id: str = "job-1"


@pytest.mark.parametrize("replaying", [False, True])
def test_a_step_that_keeps_raising_fails_the_job_naming_the_step_without_its_traceback(caplog, replaying):
    caplog.set_level(logging.WARNING)
    raised = Exception('Traceback (most recent call last):\n  File "/home/site/wwwroot/shared/x.py", line 3\n'
                       "ConnectionError: /var/run/cosmos.sock refused")
    error = step_failure(_Context(replaying), "job-1", [names.VALIDATE_BUNDLE, names.PLAN_JOB],  # type: ignore[arg-type]
                         raised)
    assert error["code"] == "step_failed"
    assert names.PLAN_JOB in error["message"] and names.VALIDATE_BUNDLE not in error["message"]
    _assert_plain(error)
    assert "cosmos.sock" not in json.dumps(error)
    assert ("cosmos.sock" in caplog.text) is not replaying  # logged once, not on every replay


def test_fail_job_keeps_a_plain_error_whatever_the_orchestration_passes():
    svc = make_services()
    source = JobSource(kind=SourceKind.BLOB, container="scenes", blob_name="a/shot.zip",
                       blob_url=svc.blobs.url("scenes", "a/shot.zip"), etag="0x1")
    ACTIVITIES[names.REGISTER_JOB](svc, {"jobId": "job-1", "source": source.to_json(), "request": {}})
    ACTIVITIES[names.FAIL_JOB](svc, {"jobId": "job-1", "error": {
        "code": "step_failed", "message": TRACEBACK.decode(), "details": {"stderr": TRACEBACK.decode()}}})
    doc = svc.jobs.get("job-1")
    assert doc["status"] == "failed" and doc["error"]["code"] == "step_failed"
    _assert_plain(doc["error"])
    assert "Cannot read file" in doc["error"]["message"]  # the one line that matters stays


# ---------------------------------------------------------------- tasks read the validated version

def test_an_overwrite_between_validation_and_rendering_leaves_the_job_on_the_first_version(functions):
    svc = make_services()
    first, second = bundle_zip(SMALL), bundle_zip({**SMALL, "samples": 7})
    name = "artist-a/shot010.zip"

    def validate_then_overwrite(payload: dict[str, Any]) -> dict[str, Any]:
        result = ACTIVITIES[names.VALIDATE_BUNDLE](svc, payload)
        svc.blobs.upload("scenes", name, second, overwrite=True)  # the artist saves again mid-job
        return result

    info = svc.blobs.upload("scenes", name, first)
    url = svc.blobs.url("scenes", name)
    job_id = upload_job_id(url, info.etag)
    source = JobSource(kind=SourceKind.BLOB, container="scenes", blob_name=name, blob_url=url, etag=info.etag)
    run = Replay(functions, _table(svc, **{names.VALIDATE_BUNDLE: validate_then_overwrite})).run(
        names.RENDER_JOB, {"jobId": job_id, "source": source.to_json(), "request": {}, "pollSeconds": 5}, job_id)
    assert run.status == "Completed", run.error
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "completed"
    frames = [b.name for b in svc.blobs.list("renders", f"{job_id}/frames/")]
    assert len(frames) == 4
    assert {svc.blobs.download("renders", f) for f in frames} == {frame_bytes(first)}
    copy = f"{job_id}/input/shot010.zip"
    assert doc["input"]["blob"] == copy and svc.blobs.download("renders", copy) == first
    bundles = {(r.container, r.blob) for _, task in svc.backend.added for r in task.resource_files
               if r.blob and not r.path.startswith("tools/")}
    assert bundles == {("renders", copy)}
    assert svc.blobs.download("scenes", name) == second  # the new upload is untouched (and a job of its own)


def test_the_input_copy_is_written_once_and_a_rerun_of_validation_keeps_it(functions):
    svc = make_services()
    job_id, _ = run_upload(functions, svc, bundle_zip(SMALL))
    copy = svc.blobs.info("renders", f"{job_id}/input/shot010.zip")
    again = ACTIVITIES[names.VALIDATE_BUNDLE](svc, {"jobId": job_id})  # the activity ran twice
    assert again["ok"] is True
    assert svc.blobs.info("renders", f"{job_id}/input/shot010.zip").etag == copy.etag


def test_a_foreign_blob_in_the_input_copys_place_fails_validation_instead_of_rendering_it(functions):
    svc = make_services()
    info = svc.blobs.upload("scenes", "a/shot.zip", bundle_zip(SMALL))
    url = svc.blobs.url("scenes", "a/shot.zip")
    job_id = upload_job_id(url, info.etag)
    svc.blobs.upload("renders", f"{job_id}/input/shot.zip", b"planted")  # written before the job validated
    source = JobSource(kind=SourceKind.BLOB, container="scenes", blob_name="a/shot.zip", blob_url=url,
                       etag=info.etag)
    ACTIVITIES[names.REGISTER_JOB](svc, {"jobId": job_id, "source": source.to_json(), "request": {}})
    result = ACTIVITIES[names.VALIDATE_BUNDLE](svc, {"jobId": job_id})
    assert result["ok"] is False and result["error"]["code"] == "bundle_changed"
    assert svc.blobs.download("renders", f"{job_id}/input/shot.zip") == b"planted"  # nothing overwritten
