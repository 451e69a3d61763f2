"""A .blend that reads and writes outside its bundle without any Python: inspect_scene reports it,
apply_settings neutralises it before a real render through the task runner."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared import commands
from shared.pipeline.batch_tasks import NODE_SCRIPTS
from tests.render.helpers import NODE, TIMEOUT, blender_bin, env_with_path, ffmpeg_exe, read_png, run_blender

pytestmark = pytest.mark.slow

HOSTILE_SCENE = Path(__file__).with_name("hostile_scene.py")
RED = b"\xff\x00\x00"


@dataclass(frozen=True)
class Hostile:
    root: Path
    bundle: Path   # scene.zip with hostile.blend
    blend: Path    # the same .blend, unpacked
    outside: Path  # where its File Output node writes
    foreign: Path  # another job's image it shows


def write_red_png(path: Path, size: int = 16) -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\x00" + RED * size for _ in range(size))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def make_hostile(root: Path, image_path: str | None = None, bundled: dict[str, Path] | None = None,
                 more_kinds: bool = False) -> Hostile:
    """The hostile scene; `more_kinds` adds every other kind of path, with a real video for the movie kinds."""
    other_job, outside, unpacked = root / "other-job", root / "outside", root / "unpacked"
    for directory in (other_job, outside, unpacked):
        directory.mkdir(exist_ok=True)
    write_red_png(other_job / "secret.png")
    movie = other_job / "reference.mp4"
    if more_kinds:
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "color=red:s=16x16:d=0.2", "-r", "10", str(movie)], check=True, timeout=TIMEOUT)
    blend = unpacked / "hostile.blend"
    result = subprocess.run(
        [sys.executable, str(HOSTILE_SCENE), str(blend), "--foreign-image", str(other_job / "secret.png"),
         "--outside", str(outside), "--library", str(other_job / "library.blend"),
         "--cache", str(other_job / "cache"), *(["--image-path", image_path] if image_path else []),
         *(["--more-kinds", "--movie", str(movie)] if more_kinds else [])],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    bundle = root / "scene.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.write(blend, "hostile.blend")
        for name, path in (bundled or {}).items():
            zf.write(path, name)
    return Hostile(root, bundle, blend, outside, other_job / "secret.png")


@pytest.fixture
def hostile(tmp_path: Path) -> Hostile:
    return make_hostile(tmp_path)


def red_pixels(path: Path) -> tuple[int, int]:
    """(pixels that are the foreign image's red, up to Blender's dither; all pixels)."""
    image = read_png(path)
    pixels = [image.pixels[i:i + 3] for i in range(0, len(image.pixels), image.channels)]
    return sum(1 for r, g, b in pixels if r > 240 and g < 16 and b < 16), len(pixels)


def test_inspect_reports_every_path_outside_the_bundle_as_unsafe(hostile: Hostile, tmp_path: Path) -> None:
    argv = commands.inspect_argv(str(hostile.blend), out="inspect.json", script=str(NODE / "inspect_scene.py"))
    result = run_blender(*argv[1:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "inspect.json").read_text())
    assert report["scenes"][0]["name"] == "Scene"  # the existing keys are still there
    by_kind = {entry["kind"]: entry for entry in report["externalPaths"]}
    for kind, owner in (("image", 'image "secret.png"'), ("library", 'library "library.blend"'),
                        ("file_output", 'node "Steal" in node group "Compositor"'),
                        ("point_cache", 'modifier "Cloth" of object "Cloth"')):
        entry = by_kind[kind]
        assert entry["owner"] == owner
        assert entry["unsafe"] is True and entry["absolute"] is True and entry["escapes"] is True
    assert by_kind["file_output"]["path"] == f"{hostile.outside}/stolen_"
    assert by_kind["image"]["path"] == str(hostile.foreign)
    assert "other" not in by_kind  # every path Blender itself reports is one the list knows


def test_relative_paths_inside_the_bundle_are_safe_and_escaping_ones_are_not(tmp_path: Path) -> None:
    script = ("import bpy, sys; sys.path.insert(0, sys.argv[-1]); import inspect_scene as s; "
              "print('VERDICTS ' + repr([s.assess(p, None, s.bundle_root()) for p in "
              "('//tex/wood.png', '//tex/../../x.png', '//../other-job/x.png', '/etc/passwd', 'C:\\\\x.png')]))")
    result = subprocess.run([sys.executable, "-c", script, str(NODE)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("VERDICTS "))
    # (absolute, escapes); a Windows drive path is a plain name to Linux, but still absolute, so unsafe
    assert line == "VERDICTS " + repr([(False, False), (False, True), (False, True), (True, True), (True, False)])


def render_task(hostile: Hostile, work: Path, *, sandbox: bool) -> subprocess.CompletedProcess[str]:
    (work / "tools").mkdir(parents=True)
    for script in NODE_SCRIPTS:  # what the pipeline ships: apply_settings imports inspect_scene
        (work / "tools" / script).write_bytes((NODE / script).read_bytes())
    (work / "scene.zip").write_bytes(hostile.bundle.read_bytes())
    inner = commands.render_argv("bundle/hostile.blend", "frames", "hostile", [1], fmt="PNG", sandbox=sandbox,
                                 settings_script="tools/apply_settings.py")
    argv = commands.task_runner_argv(inner, task_id="chunk-0001", marker="marker.json", runner="tools/task_runner.py",
                                     bundle="scene.zip", extract_to="bundle",
                                     expected_files=["frames/hostile_0001.png"], frames="1")
    env = {**env_with_path(blender_bin(hostile.root / "bin")), "AZ_BATCH_NODE_SHARED_DIR": str(hostile.root / "node")}
    return subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def test_a_hostile_scene_renders_without_reading_or_writing_outside(hostile: Hostile) -> None:
    work = hostile.root / "task"
    result = render_task(hostile, work, sandbox=True)
    assert result.returncode == 0, result.stderr
    assert json.loads((work / "marker.json").read_text())["status"] == "succeeded"
    assert list(hostile.outside.iterdir()) == []  # the File Output node wrote nothing outside the task
    red, _ = red_pixels(work / "frames" / "hostile_0001.png")
    assert red == 0  # the other job's image never reached the frame
    for line in ("[image] image \"secret.png\": an absolute path, now points into an empty folder",
                 "[file_output] node \"Steal\" in node group \"Compositor\": an absolute path, writes into",
                 "[library] library \"library.blend\": an absolute path, removed with everything linked",
                 "[point_cache] modifier \"Cloth\" of object \"Cloth\": an absolute path, now points into"):
        assert line in result.stderr
    assert str(hostile.foreign) not in result.stderr  # logs name kinds and owners, not host paths


def test_without_the_sandbox_the_same_scene_does_steal(hostile: Hostile) -> None:
    """The attack is real: the checks above would fail if apply_settings did nothing."""
    work = hostile.root / "unguarded"
    result = render_task(hostile, work, sandbox=False)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in hostile.outside.iterdir()] == ["stolen_Image0001.png"]
    red, total = red_pixels(work / "frames" / "hostile_0001.png")
    assert red == total  # the frame is the other job's image


def test_a_relative_path_escaping_the_shared_bundle_copy_is_neutralised(tmp_path: Path) -> None:
    # Blender opens <task>/bundle/hostile.blend (a link to the node's copy) and collapses `..` as text,
    # so two `..` reach the folder beside the task: the other job's.
    hostile = make_hostile(tmp_path, image_path="//../../other-job/secret.png")
    unguarded = render_task(hostile, tmp_path / "unguarded", sandbox=False)
    assert unguarded.returncode == 0, unguarded.stderr
    red, total = red_pixels(tmp_path / "unguarded" / "frames" / "hostile_0001.png")
    assert red == total  # the escape is real
    guarded = render_task(hostile, tmp_path / "task", sandbox=True)
    assert guarded.returncode == 0, guarded.stderr
    assert '[image] image "secret.png": a path outside the bundle, now points into an empty folder' in guarded.stderr
    assert red_pixels(tmp_path / "task" / "frames" / "hostile_0001.png")[0] == 0


def test_a_relative_path_inside_the_bundle_keeps_working(tmp_path: Path) -> None:
    texture = tmp_path / "own.png"
    write_red_png(texture)
    hostile = make_hostile(tmp_path, image_path="//tex/own.png", bundled={"tex/own.png": texture})
    result = render_task(hostile, tmp_path / "task", sandbox=True)
    assert result.returncode == 0, result.stderr
    assert "[image]" not in result.stderr  # the bundle's own texture is left alone…
    red, total = red_pixels(tmp_path / "task" / "frames" / "hostile_0001.png")
    assert red == total  # …and is what the frame shows


MORE_KINDS = {"volume": 'volume "Smoke"', "text": 'text "notes.txt"',
              "script": 'node "Script" in material "Shader"', "ies": 'node "IES Texture" in material "Shader"',
              "ocean_cache": 'modifier "Ocean" of object "Ocean"', "bake": 'modifier "Bake" of object "Painted"',
              "dynamic_paint_output": 'modifier "Paint" of object "Painted", surface "Surface"',
              "strip_image": 'strip "Plate" in scene "Scene"', "sound": 'sound "music.wav"',
              "font": 'font "Inter Variable Regular"', "cache_file": 'cache file "anim.abc"',
              "movie_clip": 'movie clip "reference.mp4"', "strip_movie": 'strip "Reference" in scene "Scene"'}
# inspect_scene is importable here: apply_settings put its folder on sys.path
DUMP_PATHS = ("import bpy, json, inspect_scene as s; "
              "print('PATHS ' + json.dumps([[r.kind, s.resolve(r.path, r.library)] for r in s.path_refs()])); "
              "print('LINKED ' + json.dumps([o.name for o in bpy.data.objects if o.library]))")


def test_every_other_kind_of_path_is_reported_and_moved_inside_the_task(tmp_path: Path) -> None:
    hostile = make_hostile(tmp_path, more_kinds=True)
    work = tmp_path / "task"
    work.mkdir()
    result = run_blender(*commands.inspect_argv(str(hostile.blend), script=str(NODE / "inspect_scene.py"))[1:],
                         cwd=work)
    assert result.returncode == 0, result.stderr
    reported = {e["kind"]: e for e in json.loads((work / "inspect.json").read_text())["externalPaths"]}
    for kind, owner in MORE_KINDS.items():
        assert reported[kind]["owner"] == owner and reported[kind]["unsafe"] is True, kind
    assert "other" not in reported
    result = run_blender("-b", hostile.blend, "-Y", "-o", "frames/f_####", "--python-exit-code", "1",
                         "--python", NODE / "apply_settings.py", "--python-expr", DUMP_PATHS, cwd=work)
    assert result.returncode == 0, result.stderr
    for kind, owner in MORE_KINDS.items():
        assert f"apply_settings: sandbox: [{kind}] {owner}: an absolute path" in result.stderr, kind
    line = next(line for line in result.stdout.splitlines() if line.startswith("PATHS "))
    after = json.loads(line[6:])
    assert {kind for kind, _ in after} >= set(MORE_KINDS)
    for kind, path in after:
        assert path.startswith(str(work.resolve()) + "/"), (kind, path)  # every path now inside the task
    assert "LINKED []" in result.stdout  # the foreign library's object went with it
