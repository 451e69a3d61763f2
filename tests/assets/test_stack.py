"""Folders by content on the whole local stack, with real Blender: a texture in a subfolder, a second
submit that uploads only what changed, and an artist's overwrite mid-render that changes no frame."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from renderctl import assets
from renderctl.client import Api
from renderctl.config import Target
from renderctl.transfer import upload_file
from stack.local import LocalStack, StackInfo, api_request
from tests.renderctl.conftest import SCENE_SCRIPT, renderctl
from tests.renderctl.test_cli_stack import mean_rgb

pytestmark = pytest.mark.slow
UPLOADED = re.compile(r"uploaded (\d+) assets \((\d+) bytes\); skipped (\d+) the store has \((\d+) bytes\)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    with LocalStack(tmp_path_factory.mktemp("stack"), settings_overrides={"POLL_INTERVAL_SECONDS": "2"}) as info:
        yield info


def make_folder(root: Path) -> Path:
    folder = root / "shot030"
    folder.mkdir()
    subprocess.run([sys.executable, str(SCENE_SCRIPT), str(folder)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    (folder / "cache").mkdir()
    (folder / "cache" / "sim.bin").write_bytes(os.urandom(1_000_000))
    return folder


def env_for(stack: StackInfo, home: Path) -> dict[str, str]:
    return {"HOME": str(home), "RENDER_API_URL": stack.api_url, "RENDER_API_KEY": stack.function_key}


def frame_rgb(stack: StackInfo, job_id: str, frame: int, tmp_path: Path) -> tuple[float, float, float]:
    renders = BlobServiceClient.from_connection_string(stack.storage_connection_string).get_container_client("renders")
    return mean_rgb(renders.get_blob_client(f"{job_id}/frames/shot_{frame:04d}.png").download_blob().readall(),
                    tmp_path)


def uploaded(stderr: str) -> tuple[int, int, int, int]:
    match = UPLOADED.search(stderr)
    assert match, stderr
    return tuple(int(g) for g in match.groups())  # type: ignore[return-value]


def test_a_folder_by_content_renders_and_a_second_submit_uploads_only_the_change(stack, tmp_path):
    folder = make_folder(tmp_path)
    env = env_for(stack, tmp_path)
    first = renderctl("submit", str(folder), "--wait", "--no-video", env=env, cwd=tmp_path)
    assert first.code == 0, first.output
    job_id = first.stdout.strip()
    assets, sent, _, _ = uploaded(first.stderr)
    assert assets == 4 and sent > 1_000_000   # blend, texture, render.json, cache
    doc = api_request(stack, "GET", f"/jobs/{job_id}")[1]
    assert doc["status"] == "completed", doc.get("error")
    assert doc["source"]["blobName"].startswith("manifests/sha256/")
    red, green, blue = frame_rgb(stack, job_id, 1, tmp_path)
    assert green > 150 and red < 40 and blue < 40, (red, green, blue)  # magenta if the texture was missing

    (folder / "cache" / "sim.bin").write_bytes(os.urandom(1_000_000))
    second = renderctl("submit", str(folder), "--frames", "1", "--no-video", env=env, cwd=tmp_path)
    assert second.code == 0, second.output
    assets, sent, skipped, skipped_bytes = uploaded(second.stderr)
    assert (assets, sent, skipped) == (1, 1_000_000, 3) and skipped_bytes > 0
    assert "hashed 1 files (1000000 bytes), 3 unchanged from the cache" in second.stderr


def test_overwriting_the_artists_files_during_rendering_changes_no_frame(stack, tmp_path):
    folder = make_folder(tmp_path)
    env = env_for(stack, tmp_path)
    run = renderctl("submit", str(folder), "--frames", "1-4", "--chunk-size", "1", "--no-video", env=env,
                    cwd=tmp_path)
    assert run.code == 0, run.output
    job_id = run.stdout.strip()
    # The artist saves over the texture and deletes the scene while the job is queued or rendering.
    (folder / "textures" / "wood" / "green.png").write_bytes(b"not a png any more")
    (folder / "shot.blend").unlink()
    waited = renderctl("wait", job_id, "--timeout", "600", env=env, cwd=tmp_path)
    assert waited.code == 0, waited.output
    for frame in (1, 4):
        red, green, blue = frame_rgb(stack, job_id, frame, tmp_path)
        assert green > 150 and red < 40 and blue < 40, (frame, red, green, blue)


def test_a_manifest_naming_assets_the_store_lacks_is_a_400_listing_them(stack):
    missing = {"hash": "c" * 64, "size": 10}
    status, body = api_request(stack, "POST", "/jobs", {"manifest": {"files": {"a.blend": missing}}})
    assert status == 400 and body["error"]["code"] == "assets_missing"
    assert body["error"]["details"]["missing"] == [missing]


def test_a_submit_stopped_halfway_uploads_only_what_is_still_missing(stack, tmp_path):
    folder = make_folder(tmp_path)
    for i in range(4):
        (folder / "cache" / f"extra{i}.bin").write_bytes(os.urandom(200_000))
    api = Api(Target(api_url=stack.api_url, key=stack.function_key))
    upload = assets.prepare_manifest(folder, cache=assets.HashCache(tmp_path / "first-run.sqlite"))
    refs = [{"hash": f["hash"], "size": f["size"]} for f in upload.manifest["files"].values()]
    missing = assets.missing_assets(api, refs)
    assert len(missing) >= 6  # the random files at least (an earlier test may have stored the texture)
    for item in missing[:3]:  # the first run got this far before it was stopped
        upload_file(upload.hashes.paths[item["hash"]], item["uploadUrl"], lambda _: None)
        api.call("POST", "assets/commit", body={k: item[k] for k in ("hash", "size", "blobName")})
    upload_file(upload.hashes.paths[missing[3]["hash"]], missing[3]["uploadUrl"], lambda _: None)  # never committed

    run = renderctl("submit", str(folder), "--no-video", env=env_for(stack, tmp_path), cwd=tmp_path)
    assert run.code == 0, run.output
    sent, sent_bytes, skipped, _ = uploaded(run.stderr)
    assert (sent, skipped) == (len(missing) - 3, len(refs) - len(missing) + 3)
    assert sent_bytes == sum(m["size"] for m in missing[3:])
