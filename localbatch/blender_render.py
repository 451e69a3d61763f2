"""The render loop of `blender`: the in-order pass over Blender's arguments, with bpy.

Loads .blend files, switches scenes, sets outputs, runs `--python` scripts and
renders frames, in the order the arguments came (blender_args.py parsed them).
Output paths come from bpy itself (RenderSettings.frame_path), so `#` padding,
`//` relative paths, extensions and Blender 5 path templates match real Blender.
"""

from __future__ import annotations

import builtins
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from localbatch.blender_args import (
    IMAGE_TYPES,
    MAX_FRAME,
    MIN_AFRAME,
    UNSUPPORTED,
    StopProcessing,
    clamp,
    err,
    out,
    parse_frame_list,
    relative_frame,
    strtol,
)


@dataclass
class State:
    bpy: Any
    threads: int | None = None
    python_exit_code: int = 0
    scene_name: str | None = None  # set by -S when there is no window to hold the scene
    render_failed: bool = False
    handlers: list[Callable[..., None]] = field(default_factory=list)
    autoexec: bool | None = None  # -y True, -Y False, neither None (the preference decides)


def enforce_autoexec(state: State) -> None:
    """Hold the preference to -y/-Y, as Blender's G_FLAG_SCRIPT_OVERRIDE_PREF does.

    bpy decides from `use_scripts_auto_execute` whether a loaded .blend's registered
    text blocks run and whether Python driver expressions evaluate (restricted, or
    not at all, otherwise). Called before every load and render and after every
    script, so no script can lift a `-Y` before the .blend that comes next.
    """
    if state.autoexec is not None:
        filepaths = state.bpy.context.preferences.filepaths
        if filepaths.use_scripts_auto_execute != state.autoexec:
            filepaths.use_scripts_auto_execute = state.autoexec


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
    enforce_autoexec(state)
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
    enforce_autoexec(state)
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
    finally:
        enforce_autoexec(state)
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
            number = clamp(relative_frame(value, current, current - 1), MIN_AFRAME, MAX_FRAME)
        except ValueError as exc:
            err(f"\nError: {exc} '{arg_id} {value}'.")
            return
        setattr(scene, attr, number)
    return setter


def set_frame_jump(state: State, value: str) -> None:
    try:
        step = clamp(strtol(value), 1, MAX_FRAME)
    except ValueError as exc:
        err(f"\nError: {exc} '-j / --frame-jump {value}'.")
        return
    active_scene(state).frame_step = step


def set_python_exit_code(state: State, value: str) -> None:
    try:
        code = strtol(value)
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
