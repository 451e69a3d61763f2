"""What a render task is given to be watched: a heartbeat URL, FFmpeg, --stuck-after, previews out."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from shared.job_chunks import update_chunks
from shared.job_spec import JobSpec
from shared.pipeline import batch_tasks
from shared.planning import chunks_from_json
from shared.tasks import UploadCondition
from tests.watch.fakes import make_services, rendering_job


def _task(manifest=None, progress=None, env=None):
    svc, _ = make_services(env)
    doc = rendering_job(svc, manifest=manifest)
    if progress:
        doc["progress"].update(progress)
    chunk = chunks_from_json(doc["chunks"])[0]
    return svc, batch_tasks.render_task(svc, doc, JobSpec.from_json(doc["spec"]), chunk, "chunk-0001-r1")


def _flag(argv, flag):
    runner_args = argv[:argv.index("--")]
    return runner_args[runner_args.index(flag) + 1]


def test_a_render_task_gets_a_write_url_for_its_own_heartbeat_blob_only():
    _, task = _task()
    url = task.environment["RENDER_HEARTBEAT_URL"]
    parts = urlsplit(url)
    assert parts.path.endswith("/renders/job-watch/heartbeats/chunk-0001-r1.json")
    query = parse_qs(parts.query)
    assert query["sp"] == ["cw"] and query["sr"] == ["b"]   # create + write one blob: no read, no list
    assert not any(url in arg or "sig=" in arg for arg in task.argv)  # a secret: never in the command line
    assert task.environment["RENDER_FFMPEG"] == "ffmpeg"


def test_the_heartbeat_url_outlives_the_task_timeout():
    from datetime import UTC, datetime

    svc, task = _task()
    expiry = parse_qs(urlsplit(task.environment["RENDER_HEARTBEAT_URL"]).query)["se"][0]
    left = datetime.fromisoformat(expiry.replace("Z", "+00:00")) - datetime.now(UTC)
    assert left.total_seconds() > svc.settings.task_timeout_seconds


def test_previews_go_up_before_the_logs_and_the_marker_even_after_a_failure():
    _, task = _task()
    patterns = [o.pattern for o in task.output_files]
    assert patterns.index("previews/*.jpg") < patterns.index("marker.json") == len(patterns) - 1
    previews = next(o for o in task.output_files if o.pattern == "previews/*.jpg")
    assert previews.prefix == "job-watch/previews/" and previews.condition == UploadCondition.COMPLETION


def test_stuck_after_is_the_floor_then_five_median_frames_then_the_jobs_own():
    _, task = _task()
    assert _flag(task.argv, "--stuck-after") == "600"
    _, task = _task(progress={"secondsPerFrame": 300.0})
    assert _flag(task.argv, "--stuck-after") == "1500"
    _, task = _task(manifest={"frames": "1-20", "stuckAfterSeconds": 120}, progress={"secondsPerFrame": 300.0})
    assert _flag(task.argv, "--stuck-after") == "120"
    _, task = _task(env={"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
                         "COSMOS_ENDPOINT": "https://c.invalid/", "LOCALBATCH_URL": "http://lb.invalid",
                         "DEFAULT_STUCK_AFTER_SECONDS": "900"})
    assert _flag(task.argv, "--stuck-after") == "900"


def test_the_runner_flag_goes_before_the_commands_own_double_dash():
    _, task = _task()
    first = task.argv.index("--")
    assert "--stuck-after" in task.argv[:first]
    assert task.argv[first + 1] == "blender"


def test_the_heartbeat_url_is_never_logged_nor_stored_in_the_job(caplog):
    import json
    import logging

    from shared.pipeline import steps

    svc, _ = make_services()
    rendering_job(svc)
    update_chunks(svc.chunks, "job-watch", lambda c: c.update(status="pending", attempts=0))
    with caplog.at_level(logging.DEBUG):
        assert steps.add_render_tasks(svc, {"jobId": "job-watch"}) == {"added": 4}
    urls = [spec.environment["RENDER_HEARTBEAT_URL"] for _, spec in svc.backend.added]
    assert len(set(urls)) == 4   # one blob each
    signatures = [u.split("sig=")[1] for u in urls]
    stored = json.dumps(svc.jobs.get("job-watch"))
    assert not any(s in caplog.text or s in stored for s in signatures)
