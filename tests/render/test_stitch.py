"""Real FFmpeg stitches of real Blender frames, checked by decoding the video."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shared import commands
from tests.render.conftest import FRAMES, HEIGHT, WIDTH, Demo
from tests.render.helpers import NODE, TIMEOUT, ffmpeg_exe, probe_video, run_blender

pytestmark = pytest.mark.slow


def stitch(argv: list[str], cwd: Path) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr


def test_stitch_rendered_frames_at_the_given_rate(rendered: Path, tmp_path: Path) -> None:
    argv = commands.stitch_argv(frame_dir=str(rendered), name="frame", ext="png", frames=list(range(1, FRAMES + 1)),
                                fps=12, output="clip.mp4", ffmpeg=ffmpeg_exe())
    stitch(argv, tmp_path)
    video = probe_video(tmp_path / "clip.mp4")
    assert (video.frames, video.fps) == (FRAMES, 12.0)
    assert (video.width, video.height) == (WIDTH, HEIGHT)
    assert (video.codec, video.pix_fmt) == ("h264", "yuv420p")


def test_stitch_a_shot_starting_at_1001_with_odd_size(demo: Demo, tmp_path: Path) -> None:
    """Frames 1001-1003 rendered with -s/-e/-a at 65x37: -start_number finds them, the video is 64x36."""
    result = run_blender("-b", demo.blend, "--python", NODE / "apply_settings.py", "-s", "1001", "-e", "1003",
                         "-o", "shot dir/sh0t_####", "-a", "--", "--resolution", "65x37", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "shot dir").iterdir()) == [
        "sh0t_1001.png", "sh0t_1002.png", "sh0t_1003.png"]
    argv = commands.stitch_argv(commands.sequence_pattern("shot dir", "sh0t"), 1001, 3, "24000/1001",
                                "shot 1001.mp4", ffmpeg=ffmpeg_exe())
    stitch(argv, tmp_path)
    video = probe_video(tmp_path / "shot 1001.mp4")
    assert video.frames == 3
    assert video.fps == pytest.approx(23.98, abs=0.01)
    assert (video.width, video.height) == (64, 36)


def test_stitch_frames_with_gaps(rendered: Path, tmp_path: Path) -> None:
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for frame in (1, 3, 4):
        shutil.copy(rendered / f"frame_{frame:04d}.png", frames_dir)
    argv = commands.stitch_argv(frame_dir="frames", name="frame", ext="png", frames=[1, 3, 4], fps=24,
                                output="gaps.mp4", ffmpeg=ffmpeg_exe())
    stitch(argv, tmp_path)
    assert probe_video(tmp_path / "gaps.mp4").frames == 3
