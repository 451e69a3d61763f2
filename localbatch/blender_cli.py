"""`blender` for localbatch: Blender's command line on top of the bpy module (Blender 5.0 as Python).

Run as `python blender_cli.py <blender arguments>`. It implements the subset of
Blender's command line the pipeline emits, with Blender's semantics (creator_args.cc):

- Arguments are handled in passes. Environment and settings options (`-t`, `--log-level`,
  `-b`, `--factory-startup`, `-noaudio`, `-y`/`-Y`, …) take effect wherever they appear; all
  others run in order, so `x.blend -S Shot -o out/f_## --python s.py -f 1..3` loads, switches
  scene, sets the output, runs the script, then renders. `--` ends Blender's arguments; the rest
  stays in sys.argv for scripts.
- Scripts inside a .blend (text blocks registered to run on load, Python driver expressions)
  do not run unless `-y`/`--enable-autoexec` is given or the user's preferences allow it;
  `-Y`/`--disable-autoexec` forbids them whatever the preferences say, and no later
  `--python` script can turn them back on (Blender's G_FLAG_SCRIPT_OVERRIDE_PREF).
- A non-option argument is a .blend to load; a file that cannot be read stops processing
  and exits 1. An unknown option is, as in Blender, taken for a file name: it fails the same way.
- `-f 1,3,5..8` renders each frame as Blender does (one RE_RenderAnim per frame, `+N`/`-N`
  relative to the scene's start/end); `-a` renders start..end by the scene's step.
- A Python exception in `--python`/`--python-expr` is printed and processing continues,
  unless `--python-exit-code N` came earlier; `sys.exit(n)` in a script exits with n.
- A frame that cannot be written exits 1 at the end; a scene that cannot render at all (no
  camera) prints Blender's error and, like Blender, does not change the exit code.

blender_args.py reads the arguments (without bpy); blender_render.py is the in-order pass.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, Python puts this file's directory first on sys.path; real Blender's
# scripts see no such directory, and the sibling modules are imported as localbatch.*.
if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from localbatch.blender_args import (
    StopProcessing,
    autoexec_choice,
    early_pass,
    out,
    parse_threads,
)
from localbatch.blender_render import State, enforce_autoexec, final_pass


def print_help() -> None:
    out(__doc__ or "")
    out("Options: -b, <file.blend>, -S/--scene, -o/--render-output, -F/--render-format, -E/--engine,\n"
        "  -t/--threads, -s/--frame-start, -e/--frame-end, -j/--frame-jump, -a/--render-anim,\n"
        "  -f/--render-frame, -x/--use-extension, -P/--python, --python-expr, --python-exit-code,\n"
        "  --factory-startup, -noaudio, --log-level, -y/--enable-autoexec, -Y/--disable-autoexec,\n"
        "  -v/--version, -h/--help, --")


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

    build_hash, built = _build_stamp(bpy)
    if any(a in ("-v", "--version") for a in blender_args):
        out(f"Blender {bpy.app.version_string}\n\tbuild hash: {build_hash}")
        return 0
    # The banner real Blender prints: the node's frame_progress reads version and hash from it.
    out(f"Blender {bpy.app.version_string} (hash {build_hash} built {built})")
    # Scripts read sys.argv as Blender passes it: the program, then every argument.
    sys.argv = ["blender", *args]
    state = State(bpy=bpy, threads=threads, autoexec=autoexec_choice(blender_args))
    enforce_autoexec(state)
    started = time.monotonic()
    try:
        final_pass(state, blender_args, consumed)
    except StopProcessing as stop:
        sys.stdout.flush()
        return stop.code
    code = 1 if state.render_failed else 0
    out(f"\nBlender quit ({time.monotonic() - started:.2f}s)")
    return code


def _build_stamp(bpy: Any) -> tuple[str, str]:
    """bpy.app's build hash and "date time", as Blender's banner shows them (bytes in bpy)."""
    def text(value: object) -> str:
        return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    return text(bpy.app.build_hash), f"{text(bpy.app.build_date)} {text(bpy.app.build_time)}"


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)

