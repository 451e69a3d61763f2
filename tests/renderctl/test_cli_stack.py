"""renderctl against the whole local stack: real uploads through upload URLs, real Blender renders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from shared.job_document import upload_job_id
from stack.local import StackInfo, api_request
from stack.services import ROOT
from tests.render.helpers import read_png
from tests.renderctl.conftest import renderctl

pytestmark = pytest.mark.slow


def env_for(stack: StackInfo, home: Path) -> dict[str, str]:
    return {"HOME": str(home), "RENDER_API_URL": stack.api_url, "RENDER_API_KEY": stack.function_key}


def scenes(stack: StackInfo):
    return BlobServiceClient.from_connection_string(stack.storage_connection_string).get_container_client("scenes")


def upload_blobs(stack: StackInfo) -> list:
    return list(scenes(stack).list_blobs(name_starts_with="_uploads/"))


def mean_rgb(png: bytes, tmp_path: Path) -> tuple[float, float, float]:
    path = tmp_path / "frame.png"
    path.write_bytes(png)
    image = read_png(path)
    pixels = [image.pixels[i:i + 3] for i in range(0, len(image.pixels), image.channels)]
    return (sum(p[0] for p in pixels) / len(pixels), sum(p[1] for p in pixels) / len(pixels),
            sum(p[2] for p in pixels) / len(pixels))


def test_a_folder_with_textures_in_subfolders_renders_with_its_textures(stack, textured_folder, tmp_path):
    env = env_for(stack, tmp_path)
    before = {b.name for b in upload_blobs(stack)}
    run = renderctl("submit", str(textured_folder), "--as-bundle", "--wait", "--idempotency-key", "shot020-v1",
                    env=env, cwd=tmp_path)
    assert run.code == 0, run.output
    assert run.stdout.strip() == "shot020-v1"
    assert "shot020-v1 completed: 2/2 frames" in run.stderr

    doc = api_request(stack, "GET", "/jobs/shot020-v1")[1]
    assert doc["status"] == "completed" and doc["progress"]["framesDone"] == 2
    renders = BlobServiceClient.from_connection_string(stack.storage_connection_string).get_container_client("renders")
    frame = renders.get_blob_client("shot020-v1/frames/shot_0001.png").download_blob().readall()
    red, green, blue = mean_rgb(frame, tmp_path)
    assert green > 150 and red < 40 and blue < 40, (red, green, blue)  # magenta if the texture was not found

    # One submit, one job: the uploaded blob did not start a second job through the scenes trigger.
    new = [b for b in upload_blobs(stack) if b.name not in before]
    assert len(new) == 1 and new[0].name.endswith("/shot020.zip")
    time.sleep(3)  # the blob watcher lists every 0.5 s: give a stray job time to appear
    blob_job = upload_job_id(scenes(stack).get_blob_client(new[0].name).url, new[0].etag)
    assert api_request(stack, "GET", f"/jobs/{blob_job}")[0] == 404
    assert doc["source"]["kind"] == "http" and doc["source"]["blobName"] == new[0].name

    # The same key again: the same job, and nothing uploaded.
    again = renderctl("submit", str(textured_folder), "--as-bundle", "--idempotency-key", "shot020-v1", env=env,
                      cwd=tmp_path)
    assert again.code == 0, again.output
    assert again.stdout.strip() == "shot020-v1"
    assert len(upload_blobs(stack)) == len(before) + 1
    # …but other options with the same key are a conflict, not a second job.
    other = renderctl("submit", str(textured_folder), "--as-bundle", "--idempotency-key", "shot020-v1", "--frames", "1",
                      env=env, cwd=tmp_path)
    assert other.code == 1 and "idempotency_conflict" in other.stderr

    listing = renderctl("jobs", env=env, cwd=tmp_path)
    assert listing.code == 0
    row = next(line for line in listing.stdout.splitlines() if "shot020-v1" in line)
    assert "shot020.zip" in row and "completed" in row and "2/2" in row

    shown = renderctl("show", "shot020-v1", env=env, cwd=tmp_path)
    assert shown.code == 0 and "chunk-0001" in shown.stdout and "chunk-0002" in shown.stdout
    as_json = renderctl("show", "shot020-v1", "--json", env=env, cwd=tmp_path)
    assert json.loads(as_json.stdout) == api_request(stack, "GET", "/jobs/shot020-v1")[1]

    history = renderctl("history", "shot020-v1", env=env, cwd=tmp_path)
    assert history.code == 0
    steps = [line.split()[2] for line in history.stdout.splitlines() if " activity " in line]
    assert steps[0] == "register_job" and steps[-1] == "finalize_job"
    assert all(stack.function_key not in r.output for r in (run, again, other, listing, shown, history))


def test_a_job_that_fails_exits_2_with_its_error(stack, textured_folder, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(textured_folder, folder)
    (folder / "render.json").write_text(json.dumps({"scene": "NoSuchScene"}))
    run = renderctl("submit", str(folder), "--wait", env=env_for(stack, tmp_path), cwd=tmp_path)
    assert run.code == 2, run.output
    assert "failed" in run.stderr and "scene_not_found" in run.stderr


def test_waiting_times_out_with_1_and_a_cancelled_job_exits_3(stack, textured_folder, tmp_path):
    env = env_for(stack, tmp_path)
    run = renderctl("submit", str(textured_folder), "--frames", "1-400", "--chunk-size", "5", env=env, cwd=tmp_path)
    assert run.code == 0, run.output
    job_id = run.stdout.strip()
    timed_out = renderctl("wait", job_id, "--timeout", "0", env=env, cwd=tmp_path)
    assert timed_out.code == 1, timed_out.output
    assert api_request(stack, "GET", f"/jobs/{job_id}")[1]["status"] not in ("cancelled", "failed")  # goes on

    # A key given with --key does not stay in the process list; Ctrl-C stops the waiting, not the job.
    keyless = {k: v for k, v in env.items() if k != "RENDER_API_KEY"}
    waiting = subprocess.Popen([sys.executable, "-m", "renderctl", "--key", stack.function_key, "wait", job_id],
                               cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **keyless})
    time.sleep(3)
    cmdline = Path(f"/proc/{waiting.pid}/cmdline").read_bytes()
    assert b"wait" in cmdline and stack.function_key.encode() not in cmdline, cmdline
    waiting.send_signal(signal.SIGINT)
    _, stderr = waiting.communicate(timeout=30)
    assert waiting.returncode == 130 and f"{job_id} goes on" in stderr, stderr
    assert api_request(stack, "GET", f"/jobs/{job_id}")[1]["status"] not in ("cancelled", "failed")

    cancelled = renderctl("cancel", job_id, env=env, cwd=tmp_path)
    assert cancelled.code == 0 and "cancelled" in cancelled.stdout, cancelled.output
    waited = renderctl("wait", job_id, "--json", env=env, cwd=tmp_path)
    assert waited.code == 3, waited.output
    assert json.loads(waited.stdout)["status"] == "cancelled"
    again = renderctl("cancel", job_id, env=env, cwd=tmp_path)
    assert again.code == 1 and "409 job_finished" in again.stderr


def test_a_wrong_key_and_an_unreachable_api_give_clear_messages(stack, tmp_path):
    wrong = renderctl("jobs", env={**env_for(stack, tmp_path), "RENDER_API_KEY": "not-the-key"}, cwd=tmp_path)
    assert wrong.code == 1
    assert "401 unauthorized" in wrong.stderr and "Traceback" not in wrong.output
    assert "not-the-key" not in wrong.output
    gone = renderctl("--api", "http://127.0.0.1:9/api", "jobs", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert gone.code == 5
    assert "cannot reach the API at http://127.0.0.1:9/api" in gone.stderr and "Traceback" not in gone.output
    missing = renderctl("show", "job-does-not-exist", env=env_for(stack, tmp_path), cwd=tmp_path)
    assert missing.code == 1 and "404 not_found" in missing.stderr


def test_the_local_stack_is_found_without_any_configuration(stack, tmp_path):
    run = renderctl("jobs", "--json", env={"HOME": str(tmp_path), "RENDER_STACK_DIR": stack.data_dir}, cwd=tmp_path)
    assert run.code == 0, run.output
    assert "jobs" in json.loads(run.stdout)


def test_the_control_and_watching_commands_reach_the_api_and_name_an_unknown_job(stack, tmp_path):
    env = env_for(stack, tmp_path)
    for args in (["retry", "job-x"], ["pause", "job-x"], ["resume", "job-x"], ["priority", "job-x", "5"],
                 ["logs", "job-x", "chunk-0001"], ["download", "job-x", str(tmp_path / "out")]):
        run = renderctl(*args, env=env, cwd=tmp_path)
        assert run.code == 1, (args, run.output)
        assert "404 not_found" in run.stderr and "the API cannot do this yet" not in run.stderr, args
        assert "Traceback" not in run.output, args


def test_a_rejected_folder_uploads_nothing(stack, textured_folder, tmp_path):
    folder = tmp_path / "hostile"
    shutil.copytree(textured_folder, folder)
    (folder / "textures" / "secret.png").symlink_to("/etc/passwd")
    before = len(upload_blobs(stack))
    run = renderctl("submit", str(folder), env=env_for(stack, tmp_path), cwd=tmp_path)
    assert run.code == 1 and "bundle_rejected" in run.stderr and "textures/secret.png: a symbolic link" in run.stderr
    assert len(upload_blobs(stack)) == before


def test_a_bare_blend_and_a_zip_are_submitted_with_the_options_winning(stack, textured_folder, tmp_path):
    env = env_for(stack, tmp_path)
    run = renderctl("submit", str(textured_folder / "shot.blend"), "--frames", "2", "--no-video", "--samples", "2",
                    "--priority", "10", "--resolution", "16x10", "--wait", "--json", env=env, cwd=tmp_path)
    assert run.code == 0, run.output
    job = json.loads(run.stdout)
    doc = api_request(stack, "GET", f"/jobs/{job['id']}")[1]
    assert doc["status"] == "completed"
    assert doc["spec"]["video"] is None and doc["spec"]["samples"] == 2 and doc["spec"]["priority"] == 10
    assert doc["spec"]["resolution"] == {"width": 16, "height": 10} and doc["progress"]["framesTotal"] == 1
    assert doc["source"]["blobName"].endswith("/shot.blend")

    bundle = tmp_path / "shot030.zip"
    shutil.make_archive(str(bundle.with_suffix("")), "zip", textured_folder)
    zipped = renderctl("submit", str(bundle), "--fps", "12", "--wait", env=env, cwd=tmp_path)
    assert zipped.code == 0, zipped.output
    doc = api_request(stack, "GET", f"/jobs/{zipped.stdout.strip()}")[1]
    assert doc["status"] == "completed" and doc["spec"]["fps"] == 12 and doc["outputs"]["videoFrames"] == 2
