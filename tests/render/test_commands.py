"""The Blender and FFmpeg argv builders (pure)."""

from __future__ import annotations

import pytest

from shared import commands


def test_frame_file_name_pads_like_blender() -> None:
    assert commands.frame_file_name("shot", 7) == "shot_0007.png"
    assert commands.frame_file_name("shot", 1001, padding=4, ext="exr") == "shot_1001.exr"
    assert commands.frame_file_name("shot", 12345) == "shot_12345.png"  # wider than the padding
    assert commands.frame_file_name("shot", 3, padding=6, ext=".jpg") == "shot_000003.jpg"
    assert commands.padded_frame(-3, 4) == "-0003"  # Blender's "%.*d"


@pytest.mark.parametrize("name", ["", "a/b", "..", "x\0y", "a\\b"])
def test_frame_names_that_are_paths_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        commands.frame_file_name(name, 1)


@pytest.mark.parametrize(("frames", "expected"), [
    ([1], "1"),
    ([1, 2], "1,2"),
    ([1, 2, 3], "1..3"),
    ([1, 2, 3, 5, 7, 8, 9, 10], "1..3,5,7..10"),
    ([1001, 1002, 1003, 1004], "1001..1004"),
    ([0, 2, 4], "0,2,4"),
])
def test_blender_frame_list_compresses_runs(frames: list[int], expected: str) -> None:
    assert commands.blender_frame_list(frames) == expected


@pytest.mark.parametrize("frames", [[], [3, 2], [1, 1], [-1], [True], [commands.MAX_FRAME + 1]])
def test_blender_frame_list_refuses_what_blender_would_misread(frames: list[int]) -> None:
    with pytest.raises(ValueError):
        commands.blender_frame_list(frames)


def test_render_argv_orders_arguments_as_blender_reads_them() -> None:
    argv = commands.render_argv("bundle/shot.blend", "frames", "shot", [1, 2, 3, 5], scene="Main",
                                engine="CYCLES", threads=2, resolution=(1920, 1080), fps=23.976, samples=64,
                                settings_script="tools/apply_settings.py")
    assert argv[:3] == ["blender", "-b", "bundle/shot.blend"]
    i = argv.index
    # the scene switch and output before the script; the script before the render; settings after --
    assert i("-S") < i("-o") < i("--python") < i("-f") < i("--")
    assert i("-F") < i("--python")  # -F resets color depth, so it must not follow the script
    assert argv[i("--python-exit-code") + 1] == "1" and i("--python-exit-code") < i("--python")
    assert argv[i("-o") + 1] == "frames/shot_####"
    assert argv[i("-x") + 1] == "1"
    assert argv[i("-f") + 1] == "1..3,5"
    assert argv[i("--") + 1:] == ["--resolution", "1920x1080", "--fps", "24000/1001", "--samples", "64"]


def test_render_argv_without_settings_runs_no_script() -> None:
    argv = commands.render_argv("shot.blend", "out", "shot", [4], sandbox=False)
    assert "--python" not in argv and "--" not in argv
    assert argv[-2:] == ["-f", "4"]
    assert "-y" not in argv  # Python in an uploaded .blend does not run unless asked for
    assert "-y" in commands.render_argv("shot.blend", "out", "shot", [4], autoexec=True)


def test_every_blender_command_disables_auto_run_scripts_unless_asked() -> None:
    render = commands.render_argv("shot.blend", "out", "shot", [4], resolution=(64, 36))
    inspect = commands.inspect_argv("shot.blend")
    trusted = commands.render_argv("shot.blend", "out", "shot", [4], autoexec=True)
    for argv in (render, inspect):
        # an early option, but before the scripts for readers of the argv; never together with -y
        assert "-Y" in argv and "-y" not in argv
        assert argv.index("-Y") < argv.index("--python")
    assert "-Y" not in trusted and "-y" in trusted


def test_render_argv_sandboxes_the_scene_even_without_settings() -> None:
    argv = commands.render_argv("shot.blend", "out", "shot", [4], settings_script="tools/apply_settings.py")
    assert argv[argv.index("--python") + 1] == "tools/apply_settings.py"
    assert argv[argv.index("--python-exit-code") + 1] == "1"  # a path it cannot make safe fails the task
    assert argv.index("--python") < argv.index("-f") and "--" not in argv


def test_metacharacter_names_stay_single_argv_elements() -> None:
    name = "it's a \"shot\"; rm -rf $HOME `x` {blend_name}"
    argv = commands.render_argv("my scene (v2).blend", "out dir", name, [1], scene="Scene; echo")
    assert "my scene (v2).blend" in argv and "Scene; echo" in argv
    # braces are doubled so Blender 5's path templates leave them alone
    assert argv[argv.index("-o") + 1] == "out dir/it's a \"shot\"; rm -rf $HOME `x` {{blend_name}}_####"
    stitch = commands.stitch_argv(frame_dir="out dir", name="50% done", ext="png", frames=[1, 2],
                                  fps=24, output="my video.mp4")
    assert stitch[stitch.index("-i") + 1] == "out dir/50%% done_%04d.png"  # image2 reads % as a format
    assert stitch[-1] == "my video.mp4"


def test_paths_starting_with_a_dash_are_not_read_as_options() -> None:
    argv = commands.render_argv("-x.blend", "-out", "f", [1])
    assert argv[2] == "./-x.blend"
    assert argv[argv.index("-o") + 1] == "./-out/f_####"
    assert commands.stitch_argv("-f_%04d.png", 1, 2, 24, "-v.mp4")[-1] == "./-v.mp4"


@pytest.mark.parametrize("output_dir", ["", ".", "./"])
def test_an_output_without_a_directory_is_refused(output_dir: str) -> None:
    with pytest.raises(ValueError, match="directory"):
        commands.render_argv("shot.blend", output_dir, "shot", [1])
    assert commands.output_pattern("//", "shot") == "//shot_####"  # next to the .blend is fine


def test_inspect_argv_passes_the_output_after_double_dash() -> None:
    argv = commands.inspect_argv("bundle/a b.blend", out="inspect.json", script="tools/inspect_scene.py")
    assert argv[:3] == ["blender", "-b", "bundle/a b.blend"]
    assert argv[argv.index("--python") + 1] == "tools/inspect_scene.py"
    assert argv[argv.index("--") + 1:] == ["--out", "inspect.json"]


def test_stitch_argv_gives_rate_start_number_and_even_size() -> None:
    argv = commands.stitch_argv("frames/shot_%04d.png", 1001, 48, 24, "shot.mp4")
    i = argv.index
    assert argv[i("-framerate") + 1] == "24" and i("-framerate") < i("-i")
    assert argv[i("-start_number") + 1] == "1001" and i("-start_number") < i("-i")
    assert argv[i("-frames:v") + 1] == "48"
    assert argv[i("-vf") + 1] == "scale=trunc(iw/2)*2:trunc(ih/2)*2"
    assert argv[i("-pix_fmt") + 1] == "yuv420p"
    assert argv[i("-movflags") + 1] == "+faststart"
    assert argv[i("-c:v") + 1] == "libx264" and argv[i("-crf") + 1] == "18"
    assert "-y" in argv


def test_stitch_argv_from_frames() -> None:
    argv = commands.stitch_argv(frame_dir="frames", name="shot", ext="png", frames=list(range(1001, 1049)),
                                fps=23.976, output="v.mp4", codec="libx265", crf=20)
    assert argv[argv.index("-start_number") + 1] == "1001"
    assert argv[argv.index("-frames:v") + 1] == "48"
    assert argv[argv.index("-framerate") + 1] == "24000/1001"
    gaps = commands.stitch_argv(frame_dir="frames", name="sh*t", ext="png", frames=[1, 5, 9], fps=12,
                                output="v.mp4")
    assert gaps[gaps.index("-pattern_type") + 1] == "glob"
    assert gaps[gaps.index("-i") + 1] == "frames/sh\\*t_*.png"
    with pytest.raises(ValueError):  # glob order is name order: 9999 sorts after 10000
        commands.stitch_argv(frame_dir="f", name="s", frames=[9999, 10001], fps=24, output="v.mp4")


@pytest.mark.parametrize(("fps", "expected"), [(24, "24"), (25.0, "25"), (12.5, "12.5"), (29.97, "30000/1001"),
                                               ("24000/1001", "24000/1001"), ("59.94", "60000/1001")])
def test_frame_rate(fps: float | str, expected: str) -> None:
    assert commands.frame_rate(fps) == expected


@pytest.mark.parametrize("fps", [0, -1, "abc", float("nan"), 5000, True])
def test_bad_frame_rates_are_refused(fps: object) -> None:
    with pytest.raises(ValueError):
        commands.frame_rate(fps)  # type: ignore[arg-type]


def test_task_runner_argv_wraps_the_command() -> None:
    inner = commands.render_argv("bundle/shot.blend", "frames", "shot", [1, 2])
    argv = commands.task_runner_argv(inner, task_id="chunk-0001", marker="marker.json",
                                     runner="tools/task_runner.py", bundle="scene.zip", extract_to="bundle",
                                     max_entries=100, max_unpacked_bytes=10**9,
                                     expected_files=["frames/shot_0001.png", "frames/shot_0002.png"],
                                     frames="1-2")
    assert argv[:2] == ["python3", "tools/task_runner.py"]
    assert argv[argv.index("--kind") + 1] == "render"
    assert argv[argv.index("--max-bytes") + 1] == str(10**9)
    assert argv.count("--expect") == 2
    assert argv[argv.index("--") + 1:] == inner
    assert "--stuck-after" not in argv and "--heartbeat" not in argv  # the runner's defaults


def test_task_runner_argv_passes_the_watch_options_the_runner_parses() -> None:
    from shared.node import task_runner

    inner = ["blender", "-b", "x.blend", "-f", "1"]
    argv = commands.task_runner_argv(inner, task_id="chunk-0001", marker="marker.json", stuck_after=600,
                                     heartbeat="-hb.json", heartbeat_every=2.5, previews="", ffmpeg="/opt/ff/ffmpeg")
    args, command = task_runner.parse_args(argv[2:])
    assert (args.stuck_after, args.heartbeat, args.heartbeat_every) == (600.0, "./-hb.json", 2.5)
    assert (args.previews, args.ffmpeg, command) == ("", "/opt/ff/ffmpeg", inner)


@pytest.mark.parametrize("options", [{"stuck_after": 0}, {"stuck_after": -5}, {"heartbeat_every": True},
                                     {"stuck_after": float("inf")}, {"ffmpeg": ""}, {"heartbeat": "a\0b"}])
def test_task_runner_argv_refuses_bad_watch_options(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        commands.task_runner_argv(["blender"], task_id="t", marker="m.json", **options)  # type: ignore[arg-type]
