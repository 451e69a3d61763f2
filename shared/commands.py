"""Blender and FFmpeg command lines, as argv lists (never shell strings).

Pure: the pipeline builds these when it plans Batch tasks; the node runs them
through shared/node/task_runner.py without a shell, so a file name with spaces,
quotes or `;` stays one argv element.

Blender reads its arguments in order (a .blend must come before the options that
change its scene, and a `--python` script runs when its flag is reached), so
render_argv puts the settings script after the scene options and before `-f`.
Everything after `--` is ignored by Blender and read by the script.

Path rules that matter (Blender 5.0, checked against bpy's RenderSettings.frame_path):
- `-o DIR/NAME_####`: the last run of `#` in the file-name part becomes the
  zero-padded frame ("%.*d"); without any `#` Blender appends 4 digits.
- `//` at the start means "relative to the .blend"; other relative paths are
  relative to the working directory.
- `{` and `}` start Blender 5 path templates (`{blend_name}`), so literal braces
  in a name are doubled.
- A relative output without a directory (`-o f_####`, even `./f_####`) fails to save in
  Blender 5 ("Couldn't create directory"), so an output directory is required.
- An argument starting with `-` would be read as an option, so relative paths get `./`.

(A little over 350 lines: the argv builders of every task kind, render, inspect, stitch and
the task runner around them, share the frame and path rules above, so they stay together.)
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from fractions import Fraction

MIN_FRAME = 0                # negative frames: `-f -5` means "5 before the end" to Blender
MAX_FRAME = 1_048_574        # Blender's MAXFRAME
DEFAULT_PADDING = 4          # Blender's default, and what `####` means

# `-F` values Blender accepts → the extension it writes (BKE_imtype_from_arg, image_path_ext).
FORMAT_EXTENSIONS = {
    "PNG": "png", "JPEG": "jpg", "OPEN_EXR": "exr", "EXR": "exr", "OPEN_EXR_MULTILAYER": "exr",
    "MULTILAYER": "exr", "TIFF": "tif", "BMP": "bmp", "TGA": "tga", "RAWTGA": "tga", "HDR": "hdr",
    "WEBP": "webp", "JP2": "jp2", "IRIS": "rgb", "CINEON": "cin", "DPX": "dpx",
}
ENGINES = ("CYCLES", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "BLENDER_WORKBENCH")
EVEN_SCALE = "scale=trunc(iw/2)*2:trunc(ih/2)*2"  # yuv420p needs even width and height
CRF_CODECS = ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1")
_NTSC = (24, 30, 48, 60, 120)


# ---------------------------------------------------------------- names and frames


def check_name(name: str) -> str:
    """A frame-file stem: any characters but path separators, NUL and newlines."""
    if not isinstance(name, str) or not name or name in (".", ".."):
        raise ValueError(f"frame name {name!r} is empty or a directory name")
    if any(c in name for c in "/\\\0\n\r"):
        raise ValueError(f"frame name {name!r} contains a path separator or control character")
    return name


def check_frames(frames: Iterable[int]) -> list[int]:
    """Ascending distinct frames within 0..MAX_FRAME (Blender's `-f` cannot say a negative frame)."""
    result = list(frames)
    if not result:
        raise ValueError("no frames given")
    for frame in result:
        if isinstance(frame, bool) or not isinstance(frame, int):
            raise ValueError(f"frame {frame!r} is not an integer")
        if not MIN_FRAME <= frame <= MAX_FRAME:
            raise ValueError(f"frame {frame} is outside {MIN_FRAME}..{MAX_FRAME}")
    if any(b <= a for a, b in itertools.pairwise(result)):
        raise ValueError("frames must be ascending and distinct")
    return result


def padded_frame(frame: int, padding: int = DEFAULT_PADDING) -> str:
    """Blender's "%.*d": at least `padding` digits, a minus sign outside them."""
    return ("-" if frame < 0 else "") + f"{abs(frame):0{padding}d}"


def frame_extension(fmt: str) -> str:
    try:
        return FORMAT_EXTENSIONS[fmt.upper()]
    except KeyError:
        raise ValueError(f"unknown image format {fmt!r}; one of {', '.join(FORMAT_EXTENSIONS)}") from None


def frame_file_name(name: str, frame: int, padding: int = DEFAULT_PADDING, ext: str = "png") -> str:
    """The file Blender writes for `-o DIR/<name>_<#*padding> -x 1`: `shot_0007.png`."""
    check_name(name)
    return f"{name}_{padded_frame(frame, padding)}.{ext.lstrip('.')}"


def expected_frame_files(output_dir: str, name: str, frames: Iterable[int], *, padding: int = DEFAULT_PADDING,
                         ext: str = "png") -> list[str]:
    return [_join(output_dir, frame_file_name(name, f, padding, ext)) for f in frames]


def _runs(frames: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive runs of the checked, ordered frames, as (first, last) pairs."""
    ordered = check_frames(frames)
    runs: list[tuple[int, int]] = []
    start = prev = ordered[0]
    for frame in ordered[1:]:
        if frame != prev + 1:
            runs.append((start, prev))
            start = frame
        prev = frame
    runs.append((start, prev))
    return runs


def blender_frame_list(frames: Iterable[int]) -> str:
    """Blender's `-f` syntax: runs of 3 or more consecutive frames become `a..b`: 1..3,5,7,8."""
    parts: list[str] = []
    for start, end in _runs(frames):
        if end - start >= 2:
            parts.append(f"{start}..{end}")
        else:
            parts.extend(str(f) for f in range(start, end + 1))
    return ",".join(parts)


def output_pattern(output_dir: str, name: str, padding: int = DEFAULT_PADDING) -> str:
    """The `-o` value: DIR/NAME_#### with Blender-template braces escaped."""
    check_name(name)
    if not 1 <= padding <= 12:
        raise ValueError("padding must be 1..12 digits")
    if output_dir.strip("./") == "" and output_dir != "//":
        # Blender 5 fails to save `-o name_####` or `./name_####` ("Couldn't create directory")
        raise ValueError("the output needs a directory: Blender cannot write to a bare relative file name")
    stem = name.replace("{", "{{").replace("}", "}}")
    directory = output_dir.replace("{", "{{").replace("}", "}}")
    return _safe_path(_join(directory, f"{stem}_{'#' * padding}"))


def _join(directory: str, file_name: str) -> str:
    if not directory:
        return file_name
    return directory + file_name if directory.endswith("/") else f"{directory}/{file_name}"


def _safe_path(path: str) -> str:
    """A relative path that starts with `-` would be read as an option by Blender and FFmpeg."""
    if not path:
        raise ValueError("empty path")
    if "\0" in path:
        raise ValueError("path contains NUL")
    return f"./{path}" if path.startswith("-") else path


# ---------------------------------------------------------------- Blender


def settings_args(*, resolution: tuple[int, int] | None = None, fps: float | str | None = None,
                  samples: int | None = None, engine: str | None = None, color_depth: str | None = None,
                  fmt: str | None = None) -> list[str]:
    """Options for shared/node/apply_settings.py (after `--`); empty when nothing is to change."""
    args: list[str] = []
    if resolution is not None:
        width, height = resolution
        if not (_is_int(width) and _is_int(height) and width >= 1 and height >= 1):
            raise ValueError(f"bad resolution {resolution!r}")
        args += ["--resolution", f"{width}x{height}"]
    if fps is not None:
        args += ["--fps", frame_rate(fps)]
    if samples is not None:
        if not _is_int(samples) or samples < 1:
            raise ValueError(f"samples must be a positive integer, not {samples!r}")
        args += ["--samples", str(samples)]
    if engine is not None:
        args += ["--engine", _engine(engine)]
    if fmt is not None:
        frame_extension(fmt)
        args += ["--format", fmt.upper()]
    if color_depth is not None:
        if color_depth not in ("8", "10", "12", "16", "32"):
            raise ValueError(f"color depth {color_depth!r} is not one of 8, 10, 12, 16, 32")
        args += ["--color-depth", color_depth]
    return args


def render_argv(blend_path: str, output_dir: str, name: str, frames: Iterable[int], *,
                scene: str | None = None, fmt: str = "PNG", engine: str | None = None,
                threads: int | None = None, resolution: tuple[int, int] | None = None,
                fps: float | str | None = None, samples: int | None = None,
                color_depth: str | None = None, settings_script: str = "apply_settings.py",
                padding: int = DEFAULT_PADDING, autoexec: bool = False, sandbox: bool = True,
                blender: str = "blender") -> list[str]:
    """`blender -b <blend> -Y [-S scene] [-E engine] -o DIR/NAME_#### -F FMT -x 1
    [--python-exit-code 1 --python apply_settings.py] -f 1..10 [-- settings]`.

    `sandbox` runs apply_settings.py even with no settings to change, since it is also what keeps
    the scene's own paths (File Output nodes, images, libraries, caches) inside the bundle and task.

    Order matters: the scene options follow the .blend; `-F` comes before the script so a
    color depth the script sets is not reset; the script runs before `-f` renders.
    `autoexec` (`-y`) lets Python drivers in the .blend run: rigs often need it, but it runs
    whatever code the uploaded file carries, so it is off unless the studio trusts its bundles;
    off, `-Y` says so explicitly (a node's user preferences could otherwise turn auto-run on).
    """
    argv = [blender, "-b", _safe_path(blend_path), "--factory-startup", "-noaudio", "-y" if autoexec else "-Y"]
    if threads is not None:
        if not _is_int(threads) or threads < 0:
            raise ValueError(f"threads must be a non-negative integer, not {threads!r}")
        argv += ["-t", str(threads)]
    if scene is not None:
        if not scene or "\0" in scene:
            raise ValueError("scene name is empty or contains NUL")
        argv += ["-S", scene]
    if engine is not None:
        argv += ["-E", _engine(engine)]
    frame_extension(fmt)
    argv += ["-o", output_pattern(output_dir, name, padding), "-F", fmt.upper(), "-x", "1"]
    extra = settings_args(resolution=resolution, fps=fps, samples=samples, color_depth=color_depth)
    if extra or sandbox:
        # A failing settings script must fail the task rather than render with the wrong settings
        # or with a scene path it could not make safe.
        argv += ["--python-exit-code", "1", "--python", _safe_path(settings_script)]
    argv += ["-f", blender_frame_list(frames)]
    if extra:
        argv += ["--", *extra]
    return argv


def inspect_argv(blend_path: str, out: str = "inspect.json", *, script: str = "inspect_scene.py",
                 blender: str = "blender") -> list[str]:
    """`blender -b <blend> -Y --python-exit-code 1 --python inspect_scene.py -- --out FILE`.

    Inspecting never runs the .blend's own scripts (`-Y`): it reads a file nobody has vetted yet."""
    return [blender, "-b", _safe_path(blend_path), "--factory-startup", "-Y", "--python-exit-code", "1",
            "--python", _safe_path(script), "--", "--out", _safe_path(out)]


def _engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"unknown render engine {engine!r}; one of {', '.join(ENGINES)}")
    return engine


# ---------------------------------------------------------------- FFmpeg


def frame_rate(fps: float | int | str) -> str:
    """A rate for FFmpeg and apply_settings: `24`, `12.5`, or `24000/1001` for NTSC's 23.976."""
    if isinstance(fps, str):
        text = fps.strip()
        if not re.fullmatch(r"\d{1,7}(\.\d{1,9})?(/\d{1,7})?", text):
            raise ValueError(f"bad frame rate {fps!r}")
        value = Fraction(text)
    elif isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps):
        raise ValueError(f"bad frame rate {fps!r}")
    else:
        value = Fraction(fps)
    if not 0 < value <= 1000:
        raise ValueError(f"frame rate {fps!r} is outside (0, 1000]")
    if value.denominator == 1:
        return str(value.numerator)
    for base in _NTSC:
        if abs(float(value) - base / 1.001) < 0.0015:  # 23.976, 29.97, 59.94…
            return f"{base * 1000}/1001"
    if isinstance(fps, str) and "/" in fps:
        return f"{value.numerator}/{value.denominator}"
    return f"{float(value):.6g}"


def sequence_pattern(frame_dir: str, name: str, padding: int = DEFAULT_PADDING, ext: str = "png") -> str:
    """FFmpeg's image2 pattern for Blender's frame files: DIR/NAME_%04d.png (`%` in names doubled)."""
    check_name(name)
    return _safe_path(_join(frame_dir, f"{name.replace('%', '%%')}_%0{padding}d.{ext.lstrip('.')}"))


def _glob_pattern(frame_dir: str, name: str, ext: str) -> str:
    def escape(text: str) -> str:
        return re.sub(r"([\\*?\[\]{}])", r"\\\1", text)
    check_name(name)
    return _safe_path(_join(escape(frame_dir), f"{escape(name)}_*.{escape(ext.lstrip('.'))}"))


def stitch_argv(frame_pattern: str | None = None, start_number: int | None = None,
                frame_count: int | None = None, fps: float | str | None = None, output: str | None = None, *,
                frame_dir: str | None = None, name: str | None = None, ext: str = "png",
                frames: Sequence[int] | None = None, padding: int = DEFAULT_PADDING,
                codec: str = "libx264", crf: int | None = 18, pix_fmt: str = "yuv420p",
                ffmpeg: str = "ffmpeg") -> list[str]:
    """FFmpeg joining a frame sequence into an MP4.

    Either an image2 `frame_pattern` (e.g. from sequence_pattern) with `start_number`
    and `frame_count`, or `frame_dir` + `name` + `ext` + `frames`: consecutive frames
    use the numbered pattern, frames with gaps (`1-100x5`) a glob over the directory
    (sorted by name, which is frame order while every frame has the same digit count).
    The input rate is given explicitly (image2 would assume 25) and `-start_number`
    always, since image2 only probes starts 0..4 (a shot starting at 1001 fails).
    """
    if fps is None or output is None:
        raise ValueError("stitch_argv needs fps and output")
    input_args: list[str]
    if frames is not None:
        if frame_dir is None or name is None:
            raise ValueError("frames needs frame_dir and name")
        ordered = check_frames(frames)
        if ordered[-1] - ordered[0] + 1 == len(ordered):
            input_args = ["-start_number", str(ordered[0]),
                          "-i", sequence_pattern(frame_dir, name, padding, ext)]
        else:
            widths = {len(padded_frame(f, padding)) for f in ordered}
            if len(widths) != 1:
                raise ValueError("frames with gaps must all have the same number of digits to stitch")
            input_args = ["-pattern_type", "glob", "-i", _glob_pattern(frame_dir, name, ext)]
        frame_count = len(ordered)
    else:
        if frame_pattern is None or start_number is None or frame_count is None:
            raise ValueError("stitch_argv needs frame_pattern, start_number and frame_count (or frames)")
        if not _is_int(start_number) or start_number < 0:
            raise ValueError(f"bad start number {start_number!r}")
        input_args = ["-start_number", str(start_number), "-i", _safe_path(frame_pattern)]
    if not _is_int(frame_count) or frame_count < 1:
        raise ValueError(f"bad frame count {frame_count!r}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", codec) or not re.fullmatch(r"[a-z0-9_]{1,32}", pix_fmt):
        raise ValueError("bad codec or pixel format name")
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-framerate", frame_rate(fps), *input_args,
            "-frames:v", str(frame_count), "-vf", EVEN_SCALE, "-c:v", codec]
    if crf is not None and codec in CRF_CODECS:
        if not _is_int(crf) or not 0 <= crf <= 63:
            raise ValueError(f"bad crf {crf!r}")
        argv += ["-crf", str(crf)]
        if codec == "libvpx-vp9":
            argv += ["-b:v", "0"]  # VP9 honours -crf as constant quality only with a zero bitrate
    argv += ["-pix_fmt", pix_fmt, "-movflags", "+faststart", "-an", _safe_path(output)]
    return argv


# ---------------------------------------------------------------- task runner


def task_runner_argv(inner: Sequence[str], *, task_id: str, marker: str, kind: str | None = None,
                     runner: str = "task_runner.py", python: str = "python3",
                     bundle: str | None = None, extract_to: str | None = None,
                     max_entries: int | None = None, max_unpacked_bytes: int | None = None,
                     expected_files: Sequence[str] | None = None, frames: str | Iterable[int] | None = None,
                     timeout: int | None = None, stuck_after: float | None = None,
                     heartbeat: str | None = None, heartbeat_every: float | None = None,
                     previews: str | None = None, ffmpeg: str | None = None) -> list[str]:
    """`python3 task_runner.py --task-id ID --marker FILE [...] -- <inner argv>`.

    Left out, `heartbeat` and `previews` keep the runner's defaults (`heartbeat.json`, `previews/`);
    an empty string turns them off."""
    if not inner:
        raise ValueError("empty command")
    if not task_id or "\0" in task_id:
        raise ValueError("bad task id")
    if kind is None:
        kind = _guess_kind(inner)
    argv = [python, _safe_path(runner), "--task-id", task_id, "--kind", kind, "--marker", _safe_path(marker)]
    if bundle is not None:
        argv += ["--bundle", _safe_path(bundle), "--extract-to", _safe_path(extract_to or "bundle")]
        if max_entries is not None:
            argv += ["--max-entries", str(int(max_entries))]
        if max_unpacked_bytes is not None:
            argv += ["--max-bytes", str(int(max_unpacked_bytes))]
    if frames is not None:
        argv += ["--frames", frames if isinstance(frames, str) else _frame_spec(frames)]
    for path in expected_files or ():
        argv += ["--expect", _safe_path(path)]
    if timeout is not None:
        argv += ["--timeout", str(int(timeout))]
    for flag, seconds in (("--stuck-after", stuck_after), ("--heartbeat-every", heartbeat_every)):
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds < 10**7:
                raise ValueError(f"{flag} must be a positive number of seconds, not {seconds!r}")
            argv += [flag, f"{seconds:g}"]
    for flag, value in (("--heartbeat", heartbeat), ("--previews", previews), ("--ffmpeg", ffmpeg)):
        if value is not None:
            argv += [flag, _safe_path(value) if value or flag == "--ffmpeg" else ""]
    return [*argv, "--", *inner]


def _guess_kind(inner: Sequence[str]) -> str:
    program = inner[0].rsplit("/", 1)[-1]
    if program.startswith("ffmpeg"):
        return "stitch"
    if program.startswith("blender") and "-f" not in inner and "-a" not in inner:
        return "inspect"
    return "render" if program.startswith("blender") else "command"


def _frame_spec(frames: Iterable[int]) -> str:
    """task_runner's frame spec (the same as render.json's): 1-3,5,7-8."""
    return ",".join(str(start) if start == end else f"{start}-{end}" for start, end in _runs(frames))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
