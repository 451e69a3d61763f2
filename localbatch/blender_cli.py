"""`blender` for localbatch: Blender's command line on top of the bpy module (Blender 5.0 as Python).

Run as `python blender_cli.py <blender arguments>`. It implements the subset of
Blender's command line the pipeline emits, with Blender's semantics (creator_args.cc):

- Arguments are handled in passes. Environment and settings options (`-t`, `--log-level`,
  `-b`, `--factory-startup`, `-noaudio`, …) take effect wherever they appear; all others run
  in order, so `x.blend -S Shot -o out/f_## --python s.py -f 1..3` loads, switches scene, sets
  the output, runs the script, then renders. `--` ends Blender's arguments; the rest stays
  in sys.argv for scripts.
- A non-option argument is a .blend to load; a file that cannot be read stops processing
  and exits 1. An unknown option is, as in Blender, taken for a file name: it fails the same way.
- `-f 1,3,5..8` renders each frame as Blender does (one RE_RenderAnim per frame, `+N`/`-N`
  relative to the scene's start/end); `-a` renders start..end by the scene's step.
- A Python exception in `--python`/`--python-expr` is printed and processing continues,
  unless `--python-exit-code N` came earlier; `sys.exit(n)` in a script exits with n.
- A frame that cannot be written exits 1 at the end; a scene that cannot render at all (no
  camera) prints Blender's error and, like Blender, does not change the exit code.

Output paths come from bpy itself (RenderSettings.frame_path), so `#` padding, `//`
relative paths, extensions and Blender 5 path templates match real Blender exactly.
"""

from __future__ import annotations

import builtins
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MIN_AFRAME = -1_048_574  # Blender's MINAFRAME / MAXFRAME
MAX_FRAME = 1_048_574
MAX_THREADS = 1024

# `-F` → (media type, bpy file_format); see BKE_imtype_from_arg.
IMAGE_TYPES = {
    "TGA": ("IMAGE", "TARGA"), "RAWTGA": ("IMAGE", "TARGA_RAW"), "IRIS": ("IMAGE", "IRIS"),
    "JPEG": ("IMAGE", "JPEG"), "PNG": ("IMAGE", "PNG"), "BMP": ("IMAGE", "BMP"), "HDR": ("IMAGE", "HDR"),
    "TIFF": ("IMAGE", "TIFF"), "OPEN_EXR": ("IMAGE", "OPEN_EXR"), "EXR": ("IMAGE", "OPEN_EXR"),
    "OPEN_EXR_MULTILAYER": ("MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER"),
    "MULTILAYER": ("MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER"), "FFMPEG": ("VIDEO", "FFMPEG"),
    "CINEON": ("IMAGE", "CINEON"), "DPX": ("IMAGE", "DPX"), "JP2": ("IMAGE", "JPEG2000"),
    "WEBP": ("IMAGE", "WEBP"),
}

# Options handled before the in-order pass, wherever they are: name → takes a value.
EARLY_OPTIONS = {
    "-b": False, "--background": False, "--factory-startup": False, "-noaudio": False,
    "-q": False, "--quiet": False, "-y": False, "--enable-autoexec": False, "-Y": False,
    "--disable-autoexec": False, "--offline-mode": False, "--online-mode": False,
    "--disable-crash-handler": False, "--disable-abort-handler": False,
    "--python-use-system-env": False, "--debug-cycles": False,
    "-t": True, "--threads": True, "--log-level": True, "--log": True, "--log-file": True,
    "--verbose": True, "-setaudio": True,
}
# Real Blender options this stand-in does not implement: refused with a clear message.
UNSUPPORTED = {
    "--python-text", "--python-console", "--addons", "-c", "--command", "--open-last", "-p",
    "--window-geometry", "-w", "--window-border", "-W", "--window-fullscreen", "-M",
    "--window-maximized", "-con", "--start-console", "-r", "--register", "--app-template",
    "-d", "--debug", "--debug-all", "--env-system-scripts", "--env-system-datafiles",
    "--env-system-python", "--env-system-extensions", "--gpu-backend",
}


class StopProcessing(Exception):
    """Blender stops reading arguments and exits with `code` (G.is_break, WM_exit)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class State:
    bpy: Any
    threads: int | None = None
    python_exit_code: int = 0
    scene_name: str | None = None  # set by -S when there is no window to hold the scene
    render_failed: bool = False
    handlers: list[Callable[..., None]] = field(default_factory=list)


def err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def out(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- number parsing (creator_args.cc)


def _strtol(text: str) -> int:
    """An integer as strtol reads a whole argument: optional spaces and sign, digits."""
    stripped = text.lstrip(" \t")
    body = stripped[1:] if stripped[:1] in "+-" else stripped
    if not body.isdigit() or not body.isascii():
        raise ValueError("not a number")
    return int(stripped)


def _relative(text: str, pos: int, neg: int) -> int:
    if text.startswith("+"):
        value = pos + _strtol(text[1:])
    elif text.startswith("-"):
        value = (neg - _strtol(text[1:])) + 1
    else:
        value = _strtol(text)
    if not -(2**31) <= value < 2**31:
        raise ValueError("exceeds range")
    return value


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def parse_frame_list(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """`-f` syntax: `1`, `1,3,5`, `2..8`, `+1` (start + 1), `-1` (end) → inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for item in text.split(","):
        if not item:
            raise ValueError("incorrect comma use")
        sep = item.find("..")
        if sep != -1 and sep + 2 < len(item):
            first, second = item[:sep], item[sep + 2:]
            a, b = _relative(first, start, end), _relative(second, start, end)
        else:
            a = b = _relative(item, start, end)
        ranges.append((_clamp(a, MIN_AFRAME, MAX_FRAME), _clamp(b, MIN_AFRAME, MAX_FRAME)))
    return ranges


# ---------------------------------------------------------------- scene and context


def active_scene(state: State) -> Any:
    bpy = state.bpy
    if state.scene_name and state.scene_name in bpy.data.scenes:
        return bpy.data.scenes[state.scene_name]
    return bpy.context.scene


def set_scene(state: State, name: str) -> None:
    bpy = state.bpy
    scene = bpy.data.scenes.get(name)
    if scene is None:
        out(f"Can't find scene: '{name}' in file: '{bpy.data.filepath}'")
        return
    out(f"Scene switch for render: '{name}' in file: '{bpy.data.filepath}'")
    windows = bpy.context.window_manager.windows if bpy.context.window_manager else []
    if windows:
        windows[0].scene = scene  # scripts that run later see it as bpy.context.scene
        state.scene_name = None
    else:
        state.scene_name = name


def load_blend(state: State, path: str, *, unknown_option: bool = False) -> None:
    bpy = state.bpy
    if unknown_option:
        err(f"unknown argument, loading as file: {path}")
    filepath = os.path.abspath(path)
    if not os.path.isfile(filepath):
        reason = "No such file or directory" if not os.path.exists(filepath) else "Not a regular file"
        err(f"Error: Cannot read file \"{filepath}\": {reason}")
        raise StopProcessing(1)
    try:
        bpy.ops.wm.open_mainfile(filepath=filepath)
    except Exception as exc:
        err(f"Error: Cannot read file \"{filepath}\": {_op_message(exc)}")
        raise StopProcessing(1) from exc
    state.scene_name = None


def _op_message(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# ---------------------------------------------------------------- rendering


def _stats_printer(state: State) -> Callable[..., None]:
    def print_stats(stats: str, *_: Any) -> None:
        if stats.startswith("Time:"):
            out(f" {stats}")
        else:
            out(f"Fra:{active_scene(state).frame_current} {stats}")
    return print_stats


def _render(state: State, scene: Any, start: int, end: int) -> bool:
    """One RE_RenderAnim over start..end (inclusive) by the scene's step; False if it failed."""
    bpy = state.bpy
    if state.threads is not None:
        scene.render.threads_mode = "AUTO" if state.threads == 0 else "FIXED"
        if state.threads:
            scene.render.threads = state.threads
    saved = (scene.frame_start, scene.frame_end)
    printer = _stats_printer(state)
    bpy.app.handlers.render_stats.append(printer)
    try:
        scene.frame_start, scene.frame_end = start, end
        scene.frame_end = end  # frame_start's setter may have pushed the end; restore it
        bpy.ops.render.render(animation=True, scene=scene.name)
        return True
    except Exception as exc:  # bpy reports render errors as RuntimeError; anything else is a failure too
        message = _op_message(exc)
        err(message)
        if "camera" in message.lower() or "nothing to render" in message.lower():
            return True  # Blender reports these and carries on, exit code untouched
        state.render_failed = True
        return False
    finally:
        if printer in bpy.app.handlers.render_stats:
            bpy.app.handlers.render_stats.remove(printer)
        scene.frame_start, scene.frame_end = saved
        scene.frame_end = saved[1]


def render_frames(state: State, value: str) -> None:
    scene = active_scene(state)
    try:
        ranges = parse_frame_list(value, scene.frame_start, scene.frame_end)
    except ValueError as exc:
        err(f"\nError: {exc} '-f / --render-frame {value}'.")
        return
    for first, last in ranges:
        if first > last:
            err(f"\nWarning: negative range ignored '-f / --render-frame {value}'.")
        for frame in range(first, last + 1):
            if not _render(state, scene, frame, frame):
                return


def render_animation(state: State) -> None:
    scene = active_scene(state)
    _render(state, scene, scene.frame_start, scene.frame_end)


# ---------------------------------------------------------------- Python scripts


def _run_python(state: State, code_text: str, filename: str, label: str) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    if label == "file":
        namespace["__file__"] = filename
    try:
        exec(compile(code_text, filename, "exec"), namespace)
        return
    except SystemExit:
        raise  # sys.exit() in a script exits Blender with its code
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    if state.python_exit_code:
        err(f"\nError: script failed, {label}: '{filename if label == 'file' else code_text}', exiting.")
        raise StopProcessing(state.python_exit_code)


def run_python_file(state: State, path: str) -> None:
    filepath = os.path.abspath(path)
    try:
        with open(filepath, "rb") as handle:
            source = handle.read()
    except OSError as exc:
        err(f"Error: cannot read Python script \"{filepath}\": {exc.strerror or exc}")
        if state.python_exit_code:
            err(f"\nError: script failed, file: '{path}', exiting.")
            raise StopProcessing(state.python_exit_code) from exc
        return
    _run_python(state, source.decode("utf-8", errors="replace"), filepath, "file")


# ---------------------------------------------------------------- option handlers


def set_output(state: State, value: str) -> None:
    active_scene(state).render.filepath = value


def set_engine(state: State, value: str) -> None:
    scene = active_scene(state)
    engines = [item.identifier for item in scene.render.bl_rna.properties["engine"].enum_items]
    if value == "help":
        out("Blender Engine Listing:")
        for engine in engines:
            out(f"\t{engine}")
        raise StopProcessing(0)
    name = "BLENDER_EEVEE" if value == "BLENDER_EEVEE_NEXT" else value
    if name not in engines:
        err(f"\nError: engine not found '{value}'")
        raise StopProcessing(1)
    scene.render.engine = name


def set_format(state: State, value: str) -> None:
    if value not in IMAGE_TYPES:
        err("\nError: Format from '-F / --render-format' not known or not compiled in this release.")
        return
    media_type, file_format = IMAGE_TYPES[value]
    settings = active_scene(state).render.image_settings
    try:
        settings.media_type = media_type
        settings.file_format = file_format
    except (TypeError, AttributeError) as exc:
        err(f"\nError: Format '{value}' is not available in this build: {exc}")


def set_extension(state: State, value: str) -> None:
    if value[:1] not in ("0", "1"):
        err("\nError: Use '-x 1 / -x 0' To set the extension option or '--use-extension'")
        return
    active_scene(state).render.use_file_extension = value[:1] == "1"


def _frame_setter(attr: str, arg_id: str) -> Callable[[State, str], None]:
    def setter(state: State, value: str) -> None:
        scene = active_scene(state)
        current = getattr(scene, attr)
        try:
            number = _clamp(_relative(value, current, current - 1), MIN_AFRAME, MAX_FRAME)
        except ValueError as exc:
            err(f"\nError: {exc} '{arg_id} {value}'.")
            return
        setattr(scene, attr, number)
    return setter


def set_frame_jump(state: State, value: str) -> None:
    try:
        step = _clamp(_strtol(value), 1, MAX_FRAME)
    except ValueError as exc:
        err(f"\nError: {exc} '-j / --frame-jump {value}'.")
        return
    active_scene(state).frame_step = step


def set_python_exit_code(state: State, value: str) -> None:
    try:
        code = _strtol(value)
        if not 0 <= code <= 255:
            raise ValueError("exceeds range")
    except ValueError as exc:
        err(f"\nError: {exc} '--python-exit-code {value}', expected number in [0..255].")
        return
    state.python_exit_code = code


# In-order options that take a value: every alias → (handler, what the value is called).
VALUE_OPTIONS: dict[str, tuple[Callable[[State, str], None], str]] = {}
for _names, _handler, _what in (
    (("-f", "--render-frame"), render_frames, "frame number"),
    (("-S", "--scene"), set_scene, "Scene name"),
    (("-s", "--frame-start"), _frame_setter("frame_start", "-s / --frame-start"), "frame number"),
    (("-e", "--frame-end"), _frame_setter("frame_end", "-e / --frame-end"), "frame number"),
    (("-j", "--frame-jump"), set_frame_jump, "number of frames to step"),
    (("-P", "--python"), run_python_file, "filepath"),
    (("--python-expr",), lambda s, v: _run_python(s, v, "<string>", "expr"), "Python expression"),
    (("--python-exit-code",), set_python_exit_code, "exit code number"),
    (("-o", "--render-output"), set_output, "path"),
    (("-E", "--engine"), set_engine, "engine"),
    (("-F", "--render-format"), set_format, "format"),
    (("-x", "--use-extension"), set_extension, "0 or 1"),
):
    for _name in _names:
        VALUE_OPTIONS[_name] = (_handler, _what)
FLAG_OPTIONS: dict[str, Callable[[State], None]] = {"-a": render_animation, "--render-anim": render_animation}


# ---------------------------------------------------------------- passes


def early_pass(args: list[str], consumed: set[int]) -> dict[str, str | None]:
    """Options Blender handles before loading anything, wherever they appear."""
    found: dict[str, str | None] = {}
    i = 0
    while i < len(args):
        name = args[i]
        if name in EARLY_OPTIONS:
            consumed.add(i)
            if EARLY_OPTIONS[name]:
                if i + 1 < len(args):
                    consumed.add(i + 1)
                    found[name] = args[i + 1]
                    i += 1
                else:
                    err(f"\nError: you must specify a value after '{name}'.")
            else:
                found[name] = None
        i += 1
    return found


def parse_threads(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        threads = _strtol(value)
        if not 0 <= threads <= MAX_THREADS:
            raise ValueError("exceeds range")
    except ValueError as exc:
        err(f"\nError: {exc} '-t / --threads {value}', expected number in [0..{MAX_THREADS}].")
        return None
    return threads


def final_pass(state: State, args: list[str], consumed: set[int]) -> None:
    i = 0
    while i < len(args):
        if i in consumed:
            i += 1
            continue
        name = args[i]
        if name in VALUE_OPTIONS:
            handler, what = VALUE_OPTIONS[name]
            if i + 1 >= len(args):
                err(f"\nError: {what} must follow '{name}'.")
                i += 1
                continue
            handler(state, args[i + 1])
            i += 2
        elif name in FLAG_OPTIONS:
            FLAG_OPTIONS[name](state)
            i += 1
        elif name in UNSUPPORTED:
            err(f"Error: '{name}' is a Blender option this stand-in (localbatch blender_cli) does not support.")
            raise StopProcessing(1)
        else:
            load_blend(state, name, unknown_option=name.startswith("-"))
            i += 1


def print_help() -> None:
    out(__doc__ or "")
    out("Options: -b, <file.blend>, -S/--scene, -o/--render-output, -F/--render-format, -E/--engine,\n"
        "  -t/--threads, -s/--frame-start, -e/--frame-end, -j/--frame-jump, -a/--render-anim,\n"
        "  -f/--render-frame, -x/--use-extension, -P/--python, --python-expr, --python-exit-code,\n"
        "  --factory-startup, -noaudio, --log-level, -y/-Y, -v/--version, -h/--help, --")


def main(argv: list[str]) -> int:
    args = list(argv)
    script_args_at = args.index("--") if "--" in args else len(args)
    blender_args = args[:script_args_at]
    if any(a in ("-h", "--help") for a in blender_args):
        print_help()
        return 0
    consumed: set[int] = set()
    early = early_pass(blender_args, consumed)
    threads = parse_threads(early.get("-t", early.get("--threads")))

    import bpy  # after --help, so that stays instant

    if any(a in ("-v", "--version") for a in blender_args):
        out(f"Blender {bpy.app.version_string}")
        return 0
    out(f"Blender {bpy.app.version_string} (bpy module, localbatch blender_cli)")
    # Scripts read sys.argv as Blender passes it: the program, then every argument.
    sys.argv = ["blender", *args]
    if "-y" in early or "--enable-autoexec" in early:
        bpy.context.preferences.filepaths.use_scripts_auto_execute = True
    state = State(bpy=bpy, threads=threads)
    started = time.monotonic()
    try:
        final_pass(state, blender_args, consumed)
    except StopProcessing as stop:
        sys.stdout.flush()
        return stop.code
    code = 1 if state.render_failed else 0
    out(f"\nBlender quit ({time.monotonic() - started:.2f}s)")
    return code


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)
