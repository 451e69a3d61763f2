"""task_runner.py on a Batch node: a bundle is unpacked once per node and version, read-only, and
shared by the node's tasks."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from shared import commands
from shared.pipeline.batch_tasks import NODE_SCRIPTS
from tests.render.conftest import Demo
from tests.render.helpers import NODE, TIMEOUT, blender_bin, env_with_path, read_png

RUNNER = NODE / "task_runner.py"
LIST_BUNDLE = "import os; print('FILES', sorted(os.listdir('bundle')))"


def node_env(shared: Path) -> dict[str, str]:
    return {**os.environ, "AZ_BATCH_NODE_SHARED_DIR": str(shared)}


def run_runner(work: Path, shared: Path, *options: str, code: str = LIST_BUNDLE) -> subprocess.CompletedProcess[str]:
    work.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, str(RUNNER), "--task-id", "chunk-0001", "--marker", "marker.json",
                           "--bundle", str(work.parent / "scene.zip"), "--extract-to", "bundle", *options, "--",
                           sys.executable, "-c", code], cwd=work, env=node_env(shared), capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def small_bundle(tmp_path: Path) -> str:
    with zipfile.ZipFile(tmp_path / "scene.zip", "w") as zf:
        zf.writestr("shot.blend", b"blend")
        zf.writestr("tex/wood.png", b"img")
    return hashlib.sha256((tmp_path / "scene.zip").read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


def test_the_bundle_is_unpacked_once_read_only_and_linked_into_each_task(tmp_path: Path, small_bundle: str) -> None:
    shared = tmp_path / "shared"
    first, second = run_runner(tmp_path / "t1", shared), run_runner(tmp_path / "t2", shared)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "FILES ['shot.blend', 'tex']" in first.stdout and "FILES ['shot.blend', 'tex']" in second.stdout
    assert "] unpacked" in first.stderr and "reusing the node copy" in second.stderr
    copy = shared / "bundles" / small_bundle
    assert sorted(p.name for p in (shared / "bundles").iterdir()) == [f".{small_bundle}.lock", small_bundle]
    for task in ("t1", "t2"):
        link = tmp_path / task / "bundle"
        assert link.is_symlink() and link.resolve() == copy
    for path in [copy, *copy.rglob("*")]:
        assert path.stat().st_mode & 0o222 == 0, path  # nobody's write bit
    assert (copy / "tex" / "wood.png").read_bytes() == b"img"


def test_a_half_finished_unpack_is_redone(tmp_path: Path, small_bundle: str) -> None:
    bundles = tmp_path / "shared" / "bundles"
    crashed = bundles / f".{small_bundle}.partial-crashed"
    (crashed / "tex").mkdir(parents=True)
    (crashed / "tex" / "half.png").write_bytes(b"ha")
    os.chmod(crashed / "tex", 0o555)
    result = run_runner(tmp_path / "t1", tmp_path / "shared")
    assert result.returncode == 0, result.stderr
    assert "removing an unfinished unpack" in result.stderr
    assert not crashed.exists()
    assert tree(bundles / small_bundle) == {"shot.blend": 5, "tex": tree(bundles / small_bundle)["tex"],
                                            "tex/wood.png": 3}


def test_a_node_without_room_for_the_bundle_fails_clearly(tmp_path: Path, small_bundle: str) -> None:
    result = run_runner(tmp_path / "t1", tmp_path / "shared", "--keep-free", str(10**18),
                        code="open('ran', 'w').close()")
    assert result.returncode == 75
    marker = json.loads((tmp_path / "t1" / "marker.json").read_text())
    assert marker["status"] == "failed" and marker["error"].startswith("not enough disk space on this node")
    assert not (tmp_path / "t1" / "ran").exists()
    assert [p.name for p in (tmp_path / "shared" / "bundles").iterdir()] == [f".{small_bundle}.lock"]


def test_each_task_checks_the_limits_even_when_the_bundle_is_already_unpacked(tmp_path: Path,
                                                                             small_bundle: str) -> None:
    assert run_runner(tmp_path / "t1", tmp_path / "shared").returncode == 0
    strict = run_runner(tmp_path / "t2", tmp_path / "shared", "--max-entries", "1", code="open('ran', 'w').close()")
    assert strict.returncode == 65
    assert "more than the limit 1" in json.loads((tmp_path / "t2" / "marker.json").read_text())["error"]
    assert not (tmp_path / "t2" / "ran").exists()


@pytest.mark.slow
def test_two_concurrent_render_tasks_share_one_unpack(demo: Demo, tmp_path: Path) -> None:
    shared, env = tmp_path / "shared", env_with_path(blender_bin(tmp_path / "bin"))
    env["AZ_BATCH_NODE_SHARED_DIR"] = str(shared)
    procs = {}
    for frame in (1, 2):
        work = tmp_path / f"task{frame}"
        (work / "tools").mkdir(parents=True)
        for script in NODE_SCRIPTS:
            (work / "tools" / script).write_bytes((NODE / script).read_bytes())
        (work / "scene.zip").write_bytes(demo.bundle.read_bytes())
        # the demo sets its own output beside the .blend (`//render/`); -o replaces it, and nothing may
        # be written into the shared copy
        inner = commands.render_argv("bundle/demo.blend", "frames", "demo", [frame], scene="Shot",
                                     resolution=(32, 18), samples=1, threads=1,
                                     settings_script="tools/apply_settings.py")
        argv = commands.task_runner_argv(inner, task_id=f"chunk-{frame:04d}", marker="marker.json",
                                         runner="tools/task_runner.py", bundle="scene.zip", extract_to="bundle",
                                         expected_files=[f"frames/demo_{frame:04d}.png"], frames=str(frame))
        procs[frame] = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
    results = {frame: proc.communicate(timeout=TIMEOUT) for frame, proc in procs.items()}
    for frame, proc in procs.items():
        assert proc.returncode == 0, results[frame][1]
        assert read_png(tmp_path / f"task{frame}" / "frames" / f"demo_{frame:04d}.png").width == 32
    unpacks = [frame for frame, (_, err) in results.items() if "] unpacked" in err]
    reuses = [frame for frame, (_, err) in results.items() if "reusing the node copy" in err]
    assert len(unpacks) == 1 and len(reuses) == 1
    key = hashlib.sha256(demo.bundle.read_bytes()).hexdigest()
    copies = [p.name for p in (shared / "bundles").iterdir() if not p.name.startswith(".")]
    assert copies == [key]
    with zipfile.ZipFile(demo.bundle) as zf:
        entries = {i.filename.rstrip("/") for i in zf.infolist()}
    # Blender wrote nothing beside the .blend in the read-only shared copy
    assert set(tree(shared / "bundles" / key)) == entries
    assert not any(stat.S_IMODE(p.stat().st_mode) & 0o222 for p in (shared / "bundles" / key).rglob("*"))
