"""Named jobs on the local stack: `renderctl submit --name`, render.json's name, and a name
that looks like markup printed as written by `jobs` and `show`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stack.local import StackInfo, api_request
from tests.renderctl.conftest import renderctl

pytestmark = pytest.mark.slow


def env_for(stack: StackInfo, home: Path) -> dict[str, str]:
    return {"HOME": str(home), "RENDER_API_URL": stack.api_url, "RENDER_API_KEY": stack.function_key}


def listed_row(stack: StackInfo, env: dict[str, str], cwd: Path, job_id: str) -> str:
    listing = renderctl("jobs", env=env, cwd=cwd)
    assert listing.code == 0, listing.output
    return next(line for line in listing.stdout.splitlines() if line.split()[:1] == [job_id])


def test_a_named_submission_shows_its_name_in_the_listing_and_the_job(stack, textured_folder, tmp_path):
    env = env_for(stack, tmp_path)
    name = "sh020 [red]v3[/] <b>"  # markup to rich and to HTML: shown as written
    run = renderctl("submit", str(textured_folder), "--paused", "--name", name, "--idempotency-key", "named-1",
                    env=env, cwd=tmp_path)
    assert run.code == 0, run.output
    status, doc = api_request(stack, "GET", "/jobs/named-1")
    assert status == 200 and doc["name"] == name and doc["request"]["name"] == name
    _, page = api_request(stack, "GET", "/jobs?top=200")
    assert next(j for j in page["jobs"] if j["id"] == "named-1")["name"] == name

    assert name in listed_row(stack, env, tmp_path, "named-1")
    shown = renderctl("show", "named-1", env=env, cwd=tmp_path)
    assert shown.code == 0 and f"({name})" in shown.stdout.splitlines()[0], shown.output

    # The same key with another name is another request: a conflict, not a renamed job.
    other = renderctl("submit", str(textured_folder), "--paused", "--name", "shot020 v4", "--idempotency-key",
                      "named-1", env=env, cwd=tmp_path)
    assert other.code == 1 and "idempotency_conflict" in other.stderr
    assert api_request(stack, "GET", "/jobs/named-1")[1]["name"] == name
    assert renderctl("cancel", "named-1", env=env, cwd=tmp_path).code == 0


def test_render_json_names_a_folder_job_unless_submit_names_it(stack, textured_folder, tmp_path):
    env = env_for(stack, tmp_path)
    folder = tmp_path / "shot030"
    shutil.copytree(textured_folder, folder)
    render = json.loads((folder / "render.json").read_text()) if (folder / "render.json").exists() else {}
    (folder / "render.json").write_text(json.dumps({**render, "name": "shot030 from render.json"}))
    by_file = renderctl("submit", str(folder), "--paused", "--idempotency-key", "named-2", env=env, cwd=tmp_path)
    assert by_file.code == 0, by_file.output
    assert api_request(stack, "GET", "/jobs/named-2")[1]["name"] == "shot030 from render.json"
    by_option = renderctl("submit", str(folder), "--paused", "--name", "shot030 final", "--idempotency-key",
                          "named-3", env=env, cwd=tmp_path)
    assert by_option.code == 0, by_option.output
    assert api_request(stack, "GET", "/jobs/named-3")[1]["name"] == "shot030 final"
    assert "shot030 final" in listed_row(stack, env, tmp_path, "named-3")
    found = renderctl("jobs", "--name", "shot030 ", "--json", env=env, cwd=tmp_path)
    assert found.code == 0, found.output
    assert sorted(j["id"] for j in json.loads(found.stdout)["jobs"]) == ["named-2", "named-3"]
    table = renderctl("jobs", "--name", "shot030 fi", env=env, cwd=tmp_path)
    assert [line.split()[0] for line in table.stdout.splitlines()[1:] if line.strip()] == ["named-3"]
    for job in ("named-2", "named-3"):
        assert renderctl("cancel", job, env=env, cwd=tmp_path).code == 0


def test_a_bad_name_is_refused_before_anything_is_uploaded_and_by_the_api(stack, textured_folder, tmp_path):
    env = env_for(stack, tmp_path)
    run = renderctl("submit", str(textured_folder), "--name", "x" * 201, env=env, cwd=tmp_path)
    assert run.code != 0 and "name" in run.stderr and "Traceback" not in run.output
    for bad in ("shot\u001b[2J010", "a\nb", "x" * 201, 12, ["shot"]):
        status, body = api_request(stack, "POST", "/jobs", {"bundle": "any/shot.zip", "name": bad})
        assert status == 400, (bad, body)
        assert body["error"]["field"] == "name"
