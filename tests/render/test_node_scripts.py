"""apply_settings.py and inspect_scene.py inside Blender, and a whole render task as a node runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from shared import commands
from shared.pipeline.batch_tasks import NODE_SCRIPTS
from tests.render.conftest import FPS, FRAMES, HEIGHT, SAMPLES, WIDTH, Demo
from tests.render.helpers import NODE, TIMEOUT, blender_bin, env_with_path, read_png, run_blender

pytestmark = pytest.mark.slow

DUMP = ("import bpy, json; s = bpy.context.scene; r = s.render; print('DUMP ' + json.dumps("
        "[r.resolution_x, r.resolution_y, r.resolution_percentage, r.fps, r.fps_base, s.cycles.samples, "
        "s.frame_start, s.frame_end, r.engine]))")


def dump(stdout: str) -> list[object]:
    line = next(line for line in stdout.splitlines() if line.startswith("DUMP "))
    return json.loads(line[5:])


def test_inspect_scene_reports_what_make_scene_wrote(demo: Demo, tmp_path: Path) -> None:
    result = run_blender(*commands.inspect_argv(str(demo.blend), out="info/inspect.json",
                                                script=str(NODE / "inspect_scene.py"))[1:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads((tmp_path / "info" / "inspect.json").read_text())
    assert info["active_scene"] == "Shot" and info["blender_version"].startswith("5.")
    (scene,) = info["scenes"]
    assert scene["name"] == "Shot"
    assert (scene["frame_start"], scene["frame_end"], scene["frame_step"]) == (1, FRAMES, 1)
    assert (scene["fps"], scene["fps_base"]) == (FPS, 1.0)
    assert (scene["resolution_x"], scene["resolution_y"], scene["resolution_percentage"]) == (WIDTH, HEIGHT, 100)
    assert scene["engine"] == "CYCLES" and scene["samples"] == SAMPLES
    assert scene["has_camera"] is True and scene["camera"] == "Camera"
    assert scene["output_format"] == "PNG"


def test_apply_settings_changes_only_what_it_is_given(demo: Demo, tmp_path: Path) -> None:
    result = run_blender("-b", demo.blend, "--python", NODE / "apply_settings.py", "--python-expr", DUMP,
                         "--", "--resolution", "50x20", "--fps", "23.976", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    res_x, res_y, percentage, fps, fps_base, samples, start, end, engine = dump(result.stdout)
    assert (res_x, res_y, percentage) == (50, 20, 100)
    assert fps == 24 and fps_base == pytest.approx(1.001)
    assert (samples, start, end, engine) == (SAMPLES, 1, FRAMES, "CYCLES")  # kept from the .blend


def test_apply_settings_with_a_bad_option_stops_before_rendering(demo: Demo, tmp_path: Path) -> None:
    result = run_blender("-b", demo.blend, "-o", "out/f_####", "--python", NODE / "apply_settings.py",
                         "-f", "1", "--", "--fps", "fast", cwd=tmp_path)
    assert result.returncode == 2
    assert "bad fps" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_render_task_runs_as_on_a_node(demo: Demo, tmp_path: Path) -> None:
    """task_runner → blender (on PATH) → apply_settings, with a bundle and an awkward frame name."""
    work = tmp_path / "task"
    (work / "tools").mkdir(parents=True)
    for script in NODE_SCRIPTS:  # what the pipeline ships: apply_settings imports inspect_scene
        (work / "tools" / script).write_bytes((NODE / script).read_bytes())
    (work / "scene.zip").write_bytes(demo.bundle.read_bytes())
    name = "it's a \"shot\"; echo {x} $HOME"
    inner = commands.render_argv("bundle/demo.blend", "frames", name, [2, 3], scene="Shot", resolution=(48, 28),
                                 fps=24, samples=2, threads=1, settings_script="tools/apply_settings.py")
    expected = commands.expected_frame_files("frames", name, [2, 3])
    argv = commands.task_runner_argv(inner, task_id="chunk-0002", marker="marker.json",
                                     runner="tools/task_runner.py", bundle="scene.zip", extract_to="bundle",
                                     max_entries=10, max_unpacked_bytes=50_000_000, expected_files=expected,
                                     frames="2-3")
    env = env_with_path(blender_bin(tmp_path / "bin"))
    result = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    marker = json.loads((work / "marker.json").read_text())
    assert marker["status"] == "succeeded" and marker["frames"] == [2, 3]
    assert marker["expected"]["missing"] == [] and marker["expected"]["present"] == expected
    for path in expected:
        image = read_png(work / path)
        assert (image.width, image.height) == (48, 28)
