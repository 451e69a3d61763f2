"""localbatch's `blender` honours `-t` as Blender does: a fixed thread count for the render
(render.threads_mode FIXED), `-t 0` Blender's own choice (AUTO). Read back from inside the
render by a render_pre handler, with real bpy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.render.conftest import Demo
from tests.render.helpers import run_blender

RECORDER = """
import json, sys, bpy
out = sys.argv[sys.argv.index("--") + 1]
def record(scene, *_):
    with open(out, "a") as f:
        f.write(json.dumps({"mode": scene.render.threads_mode, "threads": scene.render.threads}) + "\\n")
bpy.app.handlers.render_pre.append(record)
"""


def _threads_seen(demo: Demo, tmp_path: Path, *threads: str) -> list[dict[str, object]]:
    script, seen = tmp_path / "record.py", tmp_path / "seen.jsonl"
    script.write_text(RECORDER)
    result = run_blender("-b", demo.blend, *threads, "-o", "out/f_####", "-F", "PNG", "--python", script,
                         "-f", "1", "--", str(seen), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in seen.read_text().splitlines()]


@pytest.mark.parametrize(("flag", "mode", "threads"), [(("-t", "1"), "FIXED", 1), (("--threads", "2"), "FIXED", 2)])
def test_a_thread_count_renders_with_exactly_that_many_threads(demo, tmp_path, flag, mode, threads):
    seen = _threads_seen(demo, tmp_path, *flag)
    assert seen and all(s == {"mode": mode, "threads": threads} for s in seen)


def test_zero_threads_leaves_the_count_to_blender(demo, tmp_path):
    seen = _threads_seen(demo, tmp_path, "-t", "0")
    assert seen and all(s["mode"] == "AUTO" for s in seen)
