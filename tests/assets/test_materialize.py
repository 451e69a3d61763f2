"""materialize.py as a node runs it: a job's tree from its manifest, the node cache shared by jobs,
and assets whose bytes are not their hash refused before anything renders."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from shared.assets import asset_blob
from shared.pipeline import batch_tasks
from tests.assets.conftest import Store, sha

SCRIPT = batch_tasks.NODE_DIR / "materialize.py"
TEXTURE = os.urandom(300_000)
BLEND_A, BLEND_B = b"BLENDER scene a", b"BLENDER scene b"
# The command materialize.py hands over to: it lists what it sees, with each file's hash.
LISTER = ("import hashlib, json, os, pathlib, sys; root = pathlib.Path(os.environ['RENDER_BUNDLE_DIR']);"
          "json.dump({str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() "
          "for p in root.rglob('*') if p.is_file()}, open(sys.argv[1], 'w'))")


def read_url(store: Store, azurite: Any) -> str:
    """The assets container's URL with a read-only SAS, as a node with its identity would read it."""
    account_key = store.signer._key
    token = generate_container_sas("devstoreaccount1", store.container, account_key=account_key,
                                   permission=ContainerSasPermissions(read=True),
                                   expiry=datetime.now(UTC) + timedelta(minutes=10))
    base = store.blobs.url(store.container, "x").rsplit("/", 1)[0]
    return f"{base}?{token}"


def manifest_file(task_dir: Path, files: dict[str, bytes]) -> Path:
    path = task_dir / "assets.json"
    path.write_text(json.dumps({"files": {p: {"hash": sha(d), "size": len(d), "mode": 420}
                                          for p, d in files.items()}}))
    return path


def run(task_dir: Path, *, blob_base: str | None, cache: Path | None) -> tuple[subprocess.CompletedProcess[str], Any]:
    argv = [sys.executable, str(SCRIPT), "--task-id", "chunk-0001", "--marker", "marker.json",
            "--manifest", "assets.json", "--dest", "bundle"]
    if blob_base:
        argv += ["--blob-base", blob_base]
    if cache:
        argv += ["--cache", str(cache)]
    argv += ["--", sys.executable, "-c", LISTER, "seen.json"]
    done = subprocess.run(argv, cwd=task_dir, capture_output=True, text=True, timeout=120)
    summary = next((json.loads(line.split("] ", 1)[1]) for line in done.stderr.splitlines()
                    if line.startswith("[materialize] {")), None)
    return done, summary


def test_two_jobs_sharing_a_texture_download_it_once_per_node(store: Store, azurite, tmp_path):
    for data in (TEXTURE, BLEND_A, BLEND_B):
        store.upload(data)
    cache = tmp_path / "node-shared" / "assets" / "sha256"
    base = read_url(store, azurite)
    results = []
    for name, blend in (("job-a", BLEND_A), ("job-b", BLEND_B)):
        task = tmp_path / name
        task.mkdir()
        manifest_file(task, {"shots/shot.blend": blend, "shots/tex/wood.png": TEXTURE})
        done, summary = run(task, blob_base=base, cache=cache)
        assert done.returncode == 0, done.stderr
        seen = json.loads((task / "seen.json").read_text())
        assert seen == {"shots/shot.blend": sha(blend), "shots/tex/wood.png": sha(TEXTURE)}
        texture = task / "bundle" / "shots" / "tex" / "wood.png"
        assert not texture.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        results.append(summary)
    assert results[0]["downloaded"] == 2 and results[0]["reused"] == 0
    assert results[1]["downloaded"] == 1 and results[1]["reused"] == 1  # the texture came from the node cache
    assert results[1]["downloadedBytes"] == len(BLEND_B)
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == sorted(
        [sha(TEXTURE), sha(BLEND_A), sha(BLEND_B)])


def test_an_asset_whose_stored_bytes_are_not_its_hash_fails_the_task_before_it_runs(store: Store, azurite, tmp_path):
    store.upload(BLEND_A)
    # Someone with the account key rewrote the asset behind the store's back (same size, other bytes).
    store.blobs.upload(store.container, asset_blob(sha(BLEND_A)), b"X" * len(BLEND_A), overwrite=True)
    task = tmp_path / "task"
    task.mkdir()
    manifest_file(task, {"shot.blend": BLEND_A})
    cache = tmp_path / "cache"
    done, _ = run(task, blob_base=read_url(store, azurite), cache=cache)
    assert done.returncode == 65, done.stderr
    marker = json.loads((task / "marker.json").read_text())
    assert marker["status"] == "failed" and "not the asset it names" in marker["error"]
    assert not (task / "seen.json").exists()
    assert [p for p in cache.iterdir() if not p.name.endswith(".lock")] == []  # nothing half-cached


def test_a_missing_asset_fails_the_task_with_a_clear_marker(store: Store, azurite, tmp_path):
    task = tmp_path / "task"
    task.mkdir()
    manifest_file(task, {"shot.blend": b"never uploaded"})
    done, _ = run(task, blob_base=read_url(store, azurite), cache=tmp_path / "cache")
    assert done.returncode == 65
    assert "not in the asset store" in json.loads((task / "marker.json").read_text())["error"]


def test_delivered_files_are_verified_where_they_lie(tmp_path):
    """localbatch delivers the files as resource files: checked, frozen, nothing downloaded."""
    task = tmp_path / "task"
    (task / "bundle" / "tex").mkdir(parents=True)
    manifest_file(task, {"shot.blend": BLEND_A, "tex/wood.png": TEXTURE})
    (task / "bundle" / "shot.blend").write_bytes(BLEND_A)
    (task / "bundle" / "tex" / "wood.png").write_bytes(TEXTURE)
    done, summary = run(task, blob_base=None, cache=None)
    assert done.returncode == 0, done.stderr
    assert summary["verified"] == 2 and summary["downloaded"] == 0
    assert not (task / "bundle" / "shot.blend").stat().st_mode & stat.S_IWUSR

    tampered = tmp_path / "tampered"
    (tampered / "bundle").mkdir(parents=True)
    manifest_file(tampered, {"shot.blend": BLEND_A})
    (tampered / "bundle" / "shot.blend").write_bytes(BLEND_B)
    done, _ = run(tampered, blob_base=None, cache=None)
    assert done.returncode == 65 and not (tampered / "seen.json").exists()


def test_a_manifest_path_that_escapes_is_refused_on_the_node_too(tmp_path):
    task = tmp_path / "task"
    task.mkdir()
    (task / "assets.json").write_text(json.dumps({"files": {"../outside": {"hash": sha(b"x"), "size": 1}}}))
    done, _ = run(task, blob_base=None, cache=None)
    assert done.returncode == 65 and not (tmp_path / "outside").exists()
