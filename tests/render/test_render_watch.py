"""A real render through task_runner.py (Blender as bpy, real FFmpeg): each frame's seconds are
Blender's own, and each frame gets a JPEG preview at most 480 px wide, OpenEXR frames too."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from statistics import mean

import pytest

from shared import commands
from shared.node import frame_progress
from tests.render.conftest import HEIGHT, WIDTH, Demo
from tests.render.helpers import NODE, TIMEOUT, blender_bin, env_with_path, ffmpeg_exe, read_jpeg

pytestmark = pytest.mark.slow

# everything a render node needs in its tools folder (NODE_SCRIPTS and, to watch tasks, WATCH_SCRIPTS)
NODE_FILES = sorted(p.name for p in NODE.glob("*.py") if p.name != "__init__.py")


def render_task(demo: Demo, work: Path, *, fmt: str, resolution: tuple[int, int] | None,
                frames: list[int]) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    (work / "tools").mkdir(parents=True)
    for name in NODE_FILES:
        (work / "tools" / name).write_bytes((NODE / name).read_bytes())
    (work / "scene.zip").write_bytes(demo.bundle.read_bytes())
    inner = commands.render_argv("bundle/demo.blend", "frames", "demo", frames, scene="Shot", fmt=fmt,
                                 resolution=resolution, samples=1, threads=1,
                                 settings_script="tools/apply_settings.py")
    ext = commands.frame_extension(fmt)
    argv = commands.task_runner_argv(inner, task_id="chunk-0001", marker="marker.json", runner="tools/task_runner.py",
                                     bundle="scene.zip", extract_to="bundle", frames=frames,
                                     expected_files=commands.expected_frame_files("frames", "demo", frames, ext=ext),
                                     stuck_after=240, heartbeat_every=1)
    env = {**env_with_path(blender_bin(work / "bin")), "RENDER_FFMPEG": ffmpeg_exe()}
    result = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    return result, json.loads((work / "marker.json").read_text())


def test_an_exr_render_records_blenders_frame_times_and_makes_480px_previews(demo: Demo, tmp_path: Path) -> None:
    result, marker = render_task(demo, tmp_path, fmt="OPEN_EXR", resolution=(1000, 500), frames=[2, 3])
    assert marker["framesDone"] == [2, 3]
    times = [frame_progress.parse_timecode(t) for t in re.findall(r"^ Time: ([\d:.]+)", result.stdout, re.M)]
    assert len(times) == 2 and marker["frameSeconds"] == {"2": round(times[0], 3), "3": round(times[1], 3)}
    assert 0 < sum(times) <= float(str(marker["seconds"]))
    blender = marker["blender"]
    assert isinstance(blender, dict) and re.fullmatch(r"\d+\.\d+\.\d+", blender["version"])
    ffmpeg = marker["ffmpeg"]
    assert isinstance(ffmpeg, dict) and ffmpeg["version"]
    assert sorted(p.name for p in (tmp_path / "previews").iterdir()) == ["2.jpg", "3.jpg"]
    previews = [read_jpeg(tmp_path / "previews" / f"{f}.jpg") for f in (2, 3)]
    for preview in previews:
        assert (preview.width, preview.height) == (480, 240)  # aspect kept
        assert len(set(preview.rgb[i:i + 3] for i in range(0, len(preview.rgb), 3))) > 50  # the scene, not black
    assert previews[0].rgb != previews[1].rgb
    # linear EXR values went through the sRGB transfer: brighter than the same frame's values taken as is
    plain = tmp_path / "plain.jpg"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "frames" / "demo_0002.exr"), "-vf",
                    "scale=480:-1", str(plain)], check=True, timeout=TIMEOUT)
    assert mean(previews[0].rgb) > mean(read_jpeg(plain).rgb) + 20
    heartbeat = json.loads((tmp_path / "heartbeat.json").read_text())
    assert heartbeat["status"] == "succeeded" and heartbeat["frameSeconds"] == marker["frameSeconds"]


def test_a_small_frame_is_never_upscaled(demo: Demo, tmp_path: Path) -> None:
    _, marker = render_task(demo, tmp_path, fmt="PNG", resolution=None, frames=[1])
    preview = read_jpeg(tmp_path / "previews" / "1.jpg")
    assert (preview.width, preview.height) == (WIDTH, HEIGHT)
    assert marker["framesDone"] == [1] and isinstance(marker["frameSeconds"], dict)


def test_every_node_script_is_one_the_pipeline_ships_or_a_watch_script() -> None:
    from shared.node import WATCH_SCRIPTS
    from shared.pipeline.batch_tasks import NODE_SCRIPTS

    assert set(NODE_FILES) == set(NODE_SCRIPTS) | set(WATCH_SCRIPTS)
