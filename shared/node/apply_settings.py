"""Apply a job's render settings to the active scene; runs inside Blender via `--python`.

    blender -b shot.blend -S Shot -o frames/shot_#### -F PNG -x 1 \\
        --python-exit-code 1 --python apply_settings.py -f 1..10 \\
        -- --resolution 1920x1080 --fps 23.976 --samples 64

Blender handles its arguments in order, so this script must come after the .blend and
`-S` and before `-f`/`-a`; it reads its own options after `--`. An option not given
keeps the .blend's value. Invalid options exit with code 2 (through sys.exit, which
Blender honours), so a task never renders with settings it did not ask for.
Only the standard library and bpy.
"""

from __future__ import annotations

import argparse
import re
import sys
from fractions import Fraction

import bpy

FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "OPEN_EXR": "OPEN_EXR", "EXR": "OPEN_EXR", "TIFF": "TIFF",
           "BMP": "BMP", "TGA": "TARGA", "WEBP": "WEBP", "HDR": "HDR", "JP2": "JPEG2000"}
ENGINES = {"CYCLES": "CYCLES", "BLENDER_EEVEE": "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT": "BLENDER_EEVEE",
           "BLENDER_WORKBENCH": "BLENDER_WORKBENCH"}
NTSC = (24, 30, 48, 60, 120)


def resolution(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{1,5})[xX](\d{1,5})", text.strip())
    if not match or not all(4 <= int(v) <= 65536 for v in match.groups()):
        raise argparse.ArgumentTypeError(f"resolution must be WxH with sides 4..65536, not {text!r}")
    return int(match.group(1)), int(match.group(2))


def fps_pair(text: str) -> tuple[int, float]:
    """Blender keeps a rate as fps / fps_base: 25 → (25, 1.0), 23.976 or 24000/1001 → (24, 1.001)."""
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"bad fps {text!r}") from None
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"fps {text!r} is outside (0, 1000]")
    if value.denominator == 1:
        return int(value), 1.0
    for base in NTSC:
        if abs(float(value) - base / 1.001) < 0.0015:
            return base, 1.001
    if value.numerator <= 32767 and value.denominator <= 1000:  # exact: 12.5 → 25/2
        return value.numerator, float(value.denominator)
    fps = max(1, round(float(value)))
    return fps, fps / float(value)


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return int(text)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="apply_settings.py", description="Apply render settings.")
    parser.add_argument("--resolution", type=resolution, help="WxH; also sets the scale to 100%%")
    parser.add_argument("--fps", type=fps_pair, help="24, 25, 23.976, 24000/1001 …")
    parser.add_argument("--samples", type=positive, help="Cycles (and EEVEE) render samples")
    parser.add_argument("--engine", choices=sorted(ENGINES))
    parser.add_argument("--format", choices=sorted(FORMATS), help="output image format")
    parser.add_argument("--color-depth", choices=("8", "10", "12", "16", "32"))
    return parser.parse_args(argv)


def script_args() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []


def apply(scene: bpy.types.Scene, args: argparse.Namespace) -> list[str]:
    changed: list[str] = []
    render = scene.render
    if args.engine:
        render.engine = ENGINES[args.engine]
        changed.append(f"engine {render.engine}")
    if args.resolution:
        render.resolution_x, render.resolution_y = args.resolution
        render.resolution_percentage = 100
        changed.append(f"resolution {render.resolution_x}x{render.resolution_y} (100%)")
    if args.fps:
        render.fps, render.fps_base = args.fps
        changed.append(f"fps {render.fps}/{render.fps_base:g}")
    if args.samples:
        scene.cycles.samples = args.samples
        if hasattr(scene, "eevee"):
            scene.eevee.taa_render_samples = args.samples
        changed.append(f"samples {args.samples}")
    if args.format:
        render.image_settings.media_type = "IMAGE"
        render.image_settings.file_format = FORMATS[args.format]
        changed.append(f"format {render.image_settings.file_format}")
    if args.color_depth:
        allowed = [i.identifier for i in render.image_settings.bl_rna.properties["color_depth"].enum_items]
        if args.color_depth not in allowed:
            raise SystemExit(f"apply_settings: color depth {args.color_depth} is not available for "
                             f"{render.image_settings.file_format} (only {', '.join(allowed)})")
        render.image_settings.color_depth = args.color_depth
        changed.append(f"color depth {args.color_depth}")
    return changed


def main() -> None:
    args = parse_args(script_args())
    scene = bpy.context.scene
    changed = apply(scene, args)
    print(f"apply_settings: scene '{scene.name}': {', '.join(changed) or 'nothing to change'}", flush=True)


main()
