"""A tiny demo scene made once per session with samples/make_scene.py, and its frames rendered once."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.render.helpers import MAKE_SCENE, TIMEOUT, run_blender

WIDTH, HEIGHT, FRAMES, SAMPLES, FPS = 64, 36, 4, 4, 24


@dataclass(frozen=True)
class Demo:
    blend: Path
    bundle: Path


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    directory = tmp_path_factory.mktemp("demo")
    blend, bundle = directory / "demo.blend", directory / "demo.zip"
    result = subprocess.run(
        [sys.executable, str(MAKE_SCENE), str(blend), "--frames", str(FRAMES), "--width", str(WIDTH),
         "--height", str(HEIGHT), "--samples", str(SAMPLES), "--fps", str(FPS), "--scene", "Shot",
         "--bundle", str(bundle), "--chunk-size", "2"],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    return Demo(blend=blend, bundle=bundle)


@pytest.fixture(scope="session")
def rendered(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 1..4 of the demo as `blender -b demo.blend -o out/frame_#### -F PNG -x 1 -f 1..4`."""
    cwd = tmp_path_factory.mktemp("rendered")
    result = run_blender("-b", demo.blend, "-o", "out/frame_####", "-F", "PNG", "-x", "1", "-f", "1..4", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd / "out"
