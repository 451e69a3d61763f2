"""localbatch/blender_cli.py behaves as `blender` does for the arguments the pipeline uses."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from shared import commands
from tests.render.conftest import FRAMES, HEIGHT, WIDTH, Demo
from tests.render.helpers import NODE, read_png, run_blender

pytestmark = pytest.mark.slow


def test_renders_the_frames_as_non_blank_pngs_of_the_scene_size(rendered: Path) -> None:
    files = sorted(p.name for p in rendered.iterdir())
    assert files == [f"frame_{n:04d}.png" for n in range(1, FRAMES + 1)]
    images = [read_png(rendered / f) for f in files]
    for image in images:
        assert (image.width, image.height) == (WIDTH, HEIGHT)
        assert image.distinct_colors() > 50  # a lit scene, not a flat colour
    assert images[0].pixels != images[-1].pixels  # the animation moves


def test_output_paths_follow_blenders_rules(demo: Demo, tmp_path: Path) -> None:
    blend_dir = tmp_path / "blend dir"
    blend_dir.mkdir()
    blend = shutil.copy(demo.blend, blend_dir / "shot.blend")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = run_blender(
        "-b", blend, "-x", "1",
        "-o", "//next to blend/a_##", "-f", "1",     # // is relative to the .blend; ## pads to 2
        "-o", "rel/b_", "-f", "2",                   # relative to the cwd; no # → 4 digits appended
        "-o", "sub/c_###_end", "-x", "0", "-f", "3",  # # in the middle; -x 0 → no extension
        cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert (blend_dir / "next to blend" / "a_01.png").stat().st_size > 0
    assert (cwd / "rel" / "b_0002.png").stat().st_size > 0
    assert (cwd / "sub" / "c_003_end").stat().st_size > 0
    assert "Saved: 'rel/b_0002.png'" in result.stdout
    assert "Fra:2 " in result.stdout


def test_formats_write_the_extensions_commands_expects(demo: Demo, tmp_path: Path) -> None:
    formats = ("JPEG", "OPEN_EXR", "TIFF", "PNG")
    args: list[str] = []
    for fmt in formats:
        args += ["-o", commands.output_pattern("out", fmt.lower()), "-F", fmt, "-f", "2"]
    result = run_blender("-b", demo.blend, "-x", "1", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    expected = sorted(commands.frame_file_name(f.lower(), 2, ext=commands.frame_extension(f)) for f in formats)
    assert written == expected


def test_a_bare_relative_output_fails_to_save_as_in_blender_5(demo: Demo, tmp_path: Path) -> None:
    result = run_blender("-b", demo.blend, "-o", "bare_####", "-f", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot save" in result.stderr


def test_no_camera_reports_an_error_but_exits_zero_as_blender_does(demo: Demo, tmp_path: Path) -> None:
    """Why task_runner checks the frames: Blender can exit 0 without writing one."""
    result = run_blender("-b", demo.blend, "--python-expr", "import bpy; bpy.context.scene.camera = None",
                         "-o", "out/f_####", "-f", "1", cwd=tmp_path)
    assert result.returncode == 0
    assert "no camera" in result.stderr
    assert not (tmp_path / "out" / "f_0001.png").exists()


def test_start_end_jump_and_animation_relative_frames(demo: Demo, tmp_path: Path) -> None:
    result = run_blender("-b", demo.blend, "-s", "2", "-e", "4", "-j", "2", "-o", "a/f_", "-a",
                         "-o", "b/f_", "-f", "+1,-1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["f_0002.png", "f_0004.png"]
    # `-f +1` is start+1, `-f -1` the end frame (Blender's relative frames)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["f_0003.png", "f_0004.png"]


def test_scripts_run_in_argument_order_and_see_args_after_double_dash(demo: Demo, tmp_path: Path) -> None:
    probe = "import bpy, sys; print('PROBE', bpy.context.scene.render.filepath, sys.argv[sys.argv.index('--') + 1:])"
    result = run_blender("-b", demo.blend, "--python-expr", probe, "-o", "//changed_", "--python-expr", probe,
                         "--", "--flag", "value with space", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE")]
    assert len(lines) == 2
    assert "//changed_" not in lines[0] and "//changed_" in lines[1]
    assert lines[1].endswith("['--flag', 'value with space']")
    assert not list(tmp_path.iterdir())  # nothing after -- was taken for a file or a render


def test_settings_script_before_f_changes_the_rendered_frame(demo: Demo, tmp_path: Path) -> None:
    result = run_blender("-b", demo.blend, "-o", "out/f_####", "--python", NODE / "apply_settings.py",
                         "-f", "2", "--", "--resolution", "40x24", "--fps", "30", "--samples", "2",
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    image = read_png(tmp_path / "out" / "f_0002.png")
    assert (image.width, image.height) == (40, 24)
    assert "apply_settings: scene 'Shot': resolution 40x24 (100%), fps 30/1, samples 2" in result.stdout


def test_script_exception_continues_unless_python_exit_code(tmp_path: Path) -> None:
    raise_expr = "raise ValueError('boom from script')"
    carried_on = run_blender("-b", "--python-expr", raise_expr, "--python-expr", "print('AFTER')", cwd=tmp_path)
    assert carried_on.returncode == 0
    assert "ValueError: boom from script" in carried_on.stderr and "AFTER" in carried_on.stdout

    stopped = run_blender("-b", "--python-exit-code", "3", "--python-expr", raise_expr,
                          "--python-expr", "print('AFTER')", cwd=tmp_path)
    assert stopped.returncode == 3
    assert "script failed" in stopped.stderr and "AFTER" not in stopped.stdout

    exited = run_blender("-b", "--python-expr", "import sys; sys.exit(7)", cwd=tmp_path)
    assert exited.returncode == 7


@pytest.mark.parametrize(("args", "message"), [
    (["-b", "--no-such-option"], "unknown argument"),
    (["-b", "missing.blend", "-f", "1"], "Cannot read file"),
    (["-b", "corrupt.blend", "-f", "1"], "Cannot read file"),
    (["-b", "--python-console"], "does not support"),
])
def test_bad_arguments_and_unreadable_blends_exit_non_zero(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "corrupt.blend").write_bytes(b"BLENDER-v500 this is not really a blend file" * 10)
    result = run_blender(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert not list(tmp_path.glob("*.png"))


def test_unknown_engine_exits_and_scene_switch_selects_the_scene(demo: Demo, tmp_path: Path) -> None:
    result = run_blender("-b", demo.blend, "-E", "NOT_AN_ENGINE", "-f", "1", cwd=tmp_path)
    assert result.returncode == 1 and "engine not found" in result.stderr
    switched = run_blender("-b", demo.blend, "-S", "Shot", "-E", "BLENDER_EEVEE_NEXT", "--python-expr",
                           "import bpy; print('ACTIVE', bpy.context.scene.name, bpy.context.scene.render.engine)",
                           cwd=tmp_path)
    assert switched.returncode == 0, switched.stderr
    assert "ACTIVE Shot BLENDER_EEVEE" in switched.stdout


HOSTILE_BLEND = """
import bpy, sys
blend, loot = sys.argv[sys.argv.index("--") + 1:]
bpy.ops.wm.open_mainfile(filepath=blend.replace(".evil", ""))
text = bpy.data.texts.new("on_load.py")
text.write(f"open({loot + '.text'!r}, 'w').write('text block ran')\\n")
text.use_module = True  # "Register": Blender runs it when the .blend loads, if auto-run is allowed
target = bpy.context.scene.camera
curve = target.driver_add("location", 0)
curve.driver.type = "SCRIPTED"
curve.driver.expression = f"(open({loot + '.driver'!r}, 'w').write('driver ran') and 0) or 0.0"
bpy.ops.wm.save_as_mainfile(filepath=blend)
"""


@pytest.fixture(scope="module")
def hostile_blend(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo scene plus a text block registered to run on load and a Python driver; both
    write files next to `loot` (outside any task directory) when they run."""
    directory = tmp_path_factory.mktemp("hostile")
    blend, loot = directory / "demo.evil.blend", tmp_path_factory.mktemp("outside") / "pwned"
    shutil.copy(demo.blend, directory / "demo.blend")
    result = run_blender("-b", "--python-expr", HOSTILE_BLEND, "--", blend, loot, cwd=directory)
    assert result.returncode == 0 and blend.exists(), result.stderr
    return blend, loot


def _attack_traces(loot: Path) -> list[str]:
    return sorted(p.name for p in loot.parent.iterdir())


@pytest.mark.parametrize("flags", [("-Y",), ("--disable-autoexec",), (), ("-y", "-Y")])
def test_scripts_in_a_blend_do_not_run_without_enable_autoexec(hostile_blend: tuple[Path, Path],
                                                                tmp_path: Path, flags: tuple[str, ...]) -> None:
    blend, loot = hostile_blend
    result = run_blender("-b", *flags, blend, "-o", "out/f_####", "-f", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "f_0001.png").stat().st_size > 0  # the frame rendered, drivers evaluated
    assert _attack_traces(loot) == []
    assert "skipping 'on_load.py'" in result.stdout + result.stderr


def test_a_script_cannot_lift_disable_autoexec_before_the_blend_loads(hostile_blend: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    blend, loot = hostile_blend
    lift = "import bpy; bpy.context.preferences.filepaths.use_scripts_auto_execute = True"
    result = run_blender("-b", "-Y", "--python-expr", lift, blend, "-f", "1", "-o", "out/f_####", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _attack_traces(loot) == []


def test_enable_autoexec_runs_them_as_blender_does(hostile_blend: tuple[Path, Path], tmp_path: Path) -> None:
    """The control: the same file with -y does run its scripts, so the tests above can fail."""
    blend, loot = hostile_blend
    result = run_blender("-b", "-y", blend, "-o", "out/f_####", "-f", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _attack_traces(loot) == ["pwned.driver", "pwned.text"]
    for trace in loot.parent.iterdir():
        trace.unlink()


def test_banner_and_version_carry_the_build_hash_the_node_reports(tmp_path: Path) -> None:
    """The banner is real Blender's, so a task's provenance names the build locally too."""
    import bpy  # the module the local blender runs on; its hash is what the banner must carry

    sys.path.insert(0, str(NODE))
    try:
        from frame_progress import FrameProgress  # a node script: stdlib only, imported by path
    finally:
        sys.path.remove(str(NODE))
    expected = bpy.app.build_hash.decode() if isinstance(bpy.app.build_hash, bytes) else str(bpy.app.build_hash)
    for args in (("-b",), ("--version",)):
        done = run_blender(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        progress = FrameProgress()
        for line in done.stdout.splitlines():
            progress.feed(line)
        assert progress.blender() == {"version": bpy.app.version_string, "buildHash": expected.lower()}
