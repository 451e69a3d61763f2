"""Apply a job's render settings to the active scene and sandbox the scene's paths; runs inside
Blender via `--python`.

    blender -b shot.blend -Y -S Shot -o frames/shot_#### -F PNG -x 1 \\
        --python-exit-code 1 --python apply_settings.py -f 1..10 \\
        -- --resolution 1920x1080 --fps 23.976 --samples 64 [--bundle-root DIR] [--task-dir DIR]

Blender handles its arguments in order, so this script must come after the .blend and
`-S` and before `-f`/`-a`; it reads its own options after `--`. An option not given
keeps the .blend's value. Invalid options exit with code 2 (through sys.exit, which
Blender honours), so a task never renders with settings it did not ask for.

Sandbox (always, before the render starts): a .blend can read and write any path without running
Python (File Output nodes, images, libraries, caches… take absolute paths). Every path that
inspect_scene.py finds is checked: reads must stay in the bundle directory (--bundle-root, else
RENDER_BUNDLE_DIR from task_runner.py, else the .blend's folder), writes in the task directory
(--task-dir, else the working directory). A read from elsewhere is pointed into an empty folder
inside the task (`sandbox/empty/`), so nothing outside is read; a library from elsewhere (read
when the file opened) is removed with everything linked from it, so its data never reaches a
frame. A cache (fluid, ocean, geometry-nodes bake) from elsewhere gets an empty folder of its
own under `sandbox/cache/`, where what it writes stays. File Output nodes are re-targeted to
`sandbox/file_output/<n>/`, and other scenes' render outputs to `sandbox/render_output/<n>/`. An
unbaked disk point cache would be written next to the .blend (the shared, read-only bundle), so
it is kept in memory instead. Each change is logged on stderr with its kind and owner. A path
that cannot be made safe (on linked data, or one Blender reports that the list does not know)
stops the script with exit code 3 before anything renders.
Only the standard library and bpy.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from fractions import Fraction

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # shipped beside inspect_scene.py
import inspect_scene as paths

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
    parser.add_argument("--bundle-root", help="reads stay in here (default: RENDER_BUNDLE_DIR, the .blend's folder)")
    parser.add_argument("--task-dir", help="writes stay in here (default: the working directory)")
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


# ---------------------------------------------------------------- sandbox

EXIT_UNSAFE = 3
_TEMPLATE = re.compile(r"(?<!\{)\{(?!\{)")  # a Blender 5 path template: resolved by Blender, not here


class Sandbox:
    def __init__(self, root: str, task_dir: str) -> None:
        self.root = root
        self.task_dir = os.path.realpath(task_dir)
        self.base = os.path.join(self.task_dir, "sandbox")
        self.empty = os.path.join(self.base, "empty")  # made when first needed, and kept empty
        self.count = 0
        self.changes: list[str] = []
        self.refused: list[str] = []

    def _folder(self, *parts: str) -> str:
        self.count += 1
        folder = os.path.join(self.base, *parts, str(self.count))
        os.makedirs(folder, exist_ok=True)
        return folder + os.sep

    def safe(self, ref: paths.PathRef) -> bool:
        path = ref.path
        if not path:
            return True
        if ref.access == "write":
            return not _TEMPLATE.search(path) and paths.inside_all(self.task_dir, path, ref.library)
        inside_bundle = not paths.is_absolute(path) and paths.inside_all(self.root, path, ref.library)
        return inside_bundle or paths.inside_all(self.base, path, ref.library)

    def fix(self, ref: paths.PathRef) -> None:
        """Point `ref` somewhere harmless inside the task, or note that it could not be."""
        name = os.path.basename(ref.path.rstrip("/\\")) or ref.kind
        where = _where(ref)
        try:
            if ref.kind == "file_output" and ref.attr == "name":
                ref.holder.name = _safe_file_name(ref.holder.name)
                what = "its file name had a path in it, now a plain name"
            elif ref.kind == "file_output":
                ref.holder.directory = self._folder("file_output")
                ref.holder.file_name = _safe_file_name(ref.holder.file_name)
                what = "writes into the task's sandbox/file_output"
            elif ref.kind == "render_output":
                ref.holder.filepath = self._folder("render_output") + _safe_file_name(name)
                what = "writes into the task's sandbox/render_output"
            elif ref.access in ("readwrite", "write"):  # caches, bakes, dynamic paint's image sequence
                setattr(ref.holder, ref.attr, self._folder("cache"))
                what = "now an empty folder of its own inside the task"
            elif ref.kind == "library":
                # Its data was read when the file opened; removing the library removes all of it.
                bpy.data.libraries.remove(ref.holder)
                what = "removed with everything linked from it"
            else:
                os.makedirs(self.empty, exist_ok=True)
                # a folder (an image strip's) becomes the empty folder, a file a name inside it
                target = self.empty + os.sep if ref.extra else os.path.join(self.empty, _safe_file_name(name))
                setattr(ref.holder, ref.attr, target)
                if ref.kind == "image":
                    ref.holder.reload()  # drop pixels already loaded
                what = "now points into an empty folder, nothing outside is read"
        except (AttributeError, TypeError, RuntimeError, ValueError) as exc:  # linked data is not editable
            self.refused.append(f"[{ref.kind}] {ref.owner} ({' '.join(str(exc).split())[:200]})")
            return
        self.log(f"[{ref.kind}] {ref.owner}: {where}, {what}")

    def log(self, change: str) -> None:
        self.changes.append(change)
        print(f"apply_settings: sandbox: {change}", file=sys.stderr, flush=True)

    def run(self) -> None:
        for ref in paths.path_refs():
            if ref.kind == "library" and not self.safe(ref):
                self.fix(ref)
        refs = paths.path_refs()  # removing a library removed its datablocks and their paths
        for ref in refs:
            if not self.safe(ref):
                self.fix(ref)
        self._memory_point_caches()
        left = [f"[{ref.kind}] {ref.owner}" for ref in paths.path_refs() if not self.safe(ref)]
        left += [f"a path Blender reports outside the bundle ({os.path.basename(p)})"
                 for p in paths.other_paths(refs) if not (paths.inside(self.root, p) or paths.inside(self.base, p))]
        if self.refused or left:
            for problem in sorted(set(self.refused + left)):
                print(f"apply_settings: sandbox: cannot make safe: {problem}", file=sys.stderr, flush=True)
            print("apply_settings: refusing to render a scene with paths outside the bundle", file=sys.stderr,
                  flush=True)
            raise SystemExit(EXIT_UNSAFE)

    def _memory_point_caches(self) -> None:
        for obj in bpy.data.objects:
            for owner, cache in paths.point_caches(obj):
                if cache.use_disk_cache and not cache.use_external and not cache.is_baked and obj.library is None:
                    cache.use_disk_cache = False
                    self.log(f"[point_cache] {owner}: unbaked disk cache (beside the read-only .blend) kept in memory")


def _safe_file_name(name: str) -> str:
    cleaned = re.sub(r"[/\\:{}]+", "_", name).replace("..", "_").strip() or "file"
    return cleaned[:120]


def _where(ref: paths.PathRef) -> str:
    if paths.is_absolute(ref.path):
        return "an absolute path"
    return "a path outside the task" if ref.access == "write" else "a path outside the bundle"


def sandbox(args: argparse.Namespace) -> list[str]:
    guard = Sandbox(paths.bundle_root(args.bundle_root), args.task_dir or os.getcwd())
    guard.run()
    return guard.changes


def main() -> None:
    args = parse_args(script_args())
    scene = bpy.context.scene
    changed = apply(scene, args)
    fixes = sandbox(args)
    print(f"apply_settings: scene '{scene.name}': {', '.join(changed) or 'nothing to change'}; "
          f"{len(fixes)} path(s) sandboxed", flush=True)


main()
