"""Describe a .blend as JSON, including every file outside it that it reads or writes; runs inside
Blender via `--python`, and apply_settings.py imports it for the same list of paths.

    blender -b shot.blend -Y --python-exit-code 1 --python inspect_scene.py -- --out inspect.json
        [--bundle-root DIR]

Writes (snake_case keys, one object per scene; `externalPaths` is camelCase as the pipeline reads it):

    {"blender_version": "5.0.1", "file": "/…/shot.blend", "active_scene": "Shot",
     "scenes": [{"name", "frame_start", "frame_end", "frame_step", "fps", "fps_base",
                 "resolution_x", "resolution_y", "resolution_percentage", "engine",
                 "camera": name | null, "has_camera", "output_format", "color_depth",
                 "samples", "output_path"}],
     "externalPaths": [{"kind", "owner", "path", "access": "read"|"write"|"readwrite",
                        "absolute": bool, "escapes": bool, "unsafe": bool}]}

`externalPaths` lists every path the file references, as stored (`//` = next to the .blend, or
next to the library a linked datablock comes from). `kind` is one of image, movie_clip, sound,
font, volume, text, cache_file (Alembic/USD), library, file_output (compositor File Output node:
its directory joined with its file name, and an input whose name holds a path), render_output,
point_cache (external), fluid_cache, ocean_cache, bake (geometry-nodes bakes),
dynamic_paint_output, strip_movie, strip_image, script (external OSL), ies, or other (a path
Blender reports that none of these cover). `owner` names the datablock, node or modifier that
holds it. `absolute` is a path given from the root (or a drive); `escapes` is a path that, after
resolving `//` and `..` (and symlinks), lies outside the bundle directory; `unsafe` is either.
Packed files and Blender's built-in font are not listed: they are read from the .blend itself. A
scene's render_output (Blender's default is the absolute `/tmp/`) is replaced by every render
task's `-o`, so it matters only to a reader of the report; the other kinds are what a job really
reads or writes. The bundle directory is --bundle-root, else RENDER_BUNDLE_DIR (which
task_runner.py sets), else the .blend's own folder.

Linked libraries are read when Blender opens the file, before any script runs: a job whose
inspection reports an unsafe library should be refused rather than rendered (apply_settings.py
still neutralises it before a render, so its data never reaches a frame).

The pipeline runs it as the inspect task to fill what the bundle's render.json leaves out.
Only the standard library and bpy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import bpy

BUNDLE_DIR_ENV = "RENDER_BUNDLE_DIR"
_DRIVE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
# A file name that is really a path. Blender replaces `/` in the inputs' names it is given, but a
# file is only bytes: a crafted one can still hold one.
UNSAFE_NAME = re.compile(r"[/\\]|^[A-Za-z]:")


@dataclass
class PathRef:
    """One path a .blend holds: `holder.attr` is the value, `library` the file `//` is relative to."""

    kind: str
    owner: str
    holder: Any
    attr: str
    access: str
    library: Any = None
    extra: str = ""   # a file name joined to the value, a folder (File Output nodes, image strips)
    prefix: str = ""  # a folder the value, a file name, is joined to (File Output nodes' inputs)

    @property
    def path(self) -> str:
        value = str(getattr(self.holder, self.attr) or "")
        if self.prefix:
            value = self.prefix + value  # Blender appends an input's name to the node's file name
        return os.path.join(value, self.extra) if self.extra else value


def _q(name: str) -> str:
    """A name from the file, quoted with its control characters escaped (it ends up in logs)."""
    return json.dumps(name, ensure_ascii=False)


def _linked(datablock: Any) -> Any:
    return getattr(datablock, "library", None)


def _node_trees() -> Iterator[tuple[str, Any]]:
    """Every node tree: node groups (compositor trees are groups in Blender 5) and embedded trees."""
    for group in bpy.data.node_groups:
        yield f'node group {_q(group.name)}', group
    for collection, label in ((bpy.data.materials, "material"), (bpy.data.worlds, "world"),
                              (bpy.data.lights, "light"), (bpy.data.textures, "texture"),
                              (bpy.data.linestyles, "line style"), (bpy.data.scenes, "scene")):
        for datablock in collection:
            tree = getattr(datablock, "node_tree", None)
            if tree is not None:
                yield f'{label} {_q(datablock.name)}', tree


def _datablock_refs() -> Iterator[PathRef]:
    for lib in bpy.data.libraries:
        yield PathRef("library", f'library {_q(lib.name)}', lib, "filepath", "read", lib.parent)
    simple = ((bpy.data.images, "image"), (bpy.data.movieclips, "movie_clip"), (bpy.data.sounds, "sound"),
              (bpy.data.fonts, "font"), (bpy.data.volumes, "volume"), (bpy.data.cache_files, "cache_file"))
    for collection, kind in simple:
        for datablock in collection:
            if getattr(datablock, "packed_file", None) is not None or not datablock.filepath:
                continue
            if kind == "font" and datablock.filepath == "<builtin>":
                continue
            if kind == "image" and datablock.source not in ("FILE", "SEQUENCE", "MOVIE", "TILED"):
                continue
            yield PathRef(kind, f'{kind.replace("_", " ")} {_q(datablock.name)}', datablock, "filepath", "read",
                          _linked(datablock))
    for text in bpy.data.texts:
        if text.filepath:  # Blender can re-read it from there (Text → Reload, and on open when modified)
            yield PathRef("text", f'text {_q(text.name)}', text, "filepath", "read", _linked(text))


def _node_refs() -> Iterator[PathRef]:
    for tree_owner, tree in _node_trees():
        for node in tree.nodes:
            owner = f'node {_q(node.name)} in {tree_owner}'
            library = _linked(tree.id_data)
            if node.bl_idname == "CompositorNodeOutputFile":
                yield PathRef("file_output", owner, node, "directory", "write", library, extra=node.file_name)
                base = os.path.join(node.directory, node.file_name)
                for item in node.file_output_items:
                    if UNSAFE_NAME.search(item.name):
                        yield PathRef("file_output", f'{owner}, input {_q(item.name)}', item, "name", "write",
                                      library, prefix=base)
            elif node.bl_idname in ("ShaderNodeScript", "ShaderNodeTexIES") and node.mode == "EXTERNAL":
                kind = "script" if node.bl_idname == "ShaderNodeScript" else "ies"
                yield PathRef(kind, owner, node, "filepath", "read", library)


def point_caches(obj: Any) -> Iterator[tuple[str, Any]]:
    """(owner, PointCache) of an object's simulations: cloth, soft body, particles, dynamic paint…"""
    for modifier in obj.modifiers:
        owner = f'modifier {_q(modifier.name)} of object {_q(obj.name)}'
        cache = getattr(modifier, "point_cache", None)
        if cache is not None:
            yield owner, cache
        canvas = getattr(modifier, "canvas_settings", None)
        for surface in getattr(canvas, "canvas_surfaces", None) or ():
            yield f'{owner}, surface {_q(surface.name)}', surface.point_cache
    for system in obj.particle_systems:
        yield f'particle system {_q(system.name)} of object {_q(obj.name)}', system.point_cache
    if obj.soft_body is not None and getattr(obj.soft_body, "point_cache", None) is not None:
        yield f'soft body of object {_q(obj.name)}', obj.soft_body.point_cache


def _object_refs() -> Iterator[PathRef]:
    for obj in bpy.data.objects:
        library = _linked(obj)
        for owner, cache in point_caches(obj):
            if cache.use_external and cache.filepath:
                yield PathRef("point_cache", owner, cache, "filepath", "read", library)
        for modifier in obj.modifiers:
            owner = f'modifier {_q(modifier.name)} of object {_q(obj.name)}'
            if modifier.type == "FLUID" and modifier.fluid_type == "DOMAIN" and modifier.domain_settings:
                yield PathRef("fluid_cache", owner, modifier.domain_settings, "cache_directory", "readwrite", library)
            elif modifier.type == "OCEAN" and modifier.filepath:
                yield PathRef("ocean_cache", owner, modifier, "filepath", "readwrite", library)
            elif modifier.type == "NODES":
                if modifier.bake_directory:
                    yield PathRef("bake", owner, modifier, "bake_directory", "readwrite", library)
                for bake in modifier.bakes:
                    if bake.use_custom_path and bake.directory:
                        yield PathRef("bake", f"{owner}, bake {bake.bake_id}", bake, "directory", "readwrite",
                                      library)
            elif modifier.type == "DYNAMIC_PAINT" and modifier.canvas_settings:
                for surface in modifier.canvas_settings.canvas_surfaces:
                    if surface.image_output_path:
                        yield PathRef("dynamic_paint_output", f'{owner}, surface {_q(surface.name)}', surface,
                                      "image_output_path", "write", library)


def _scene_refs() -> Iterator[PathRef]:
    for scene in bpy.data.scenes:
        library = _linked(scene)
        yield PathRef("render_output", f'scene {_q(scene.name)}', scene.render, "filepath", "write", library)
        editor = scene.sequence_editor
        for strip in (editor.strips_all if editor else ()):
            owner = f'strip {_q(strip.name)} in scene {_q(scene.name)}'
            if strip.type == "MOVIE" and strip.filepath:
                yield PathRef("strip_movie", owner, strip, "filepath", "read", library)
            elif strip.type == "IMAGE" and strip.directory:
                first = strip.elements[0].filename if len(strip.elements) else ""
                yield PathRef("strip_image", owner, strip, "directory", "read", library, extra=first)


def path_refs() -> list[PathRef]:
    """Every external path the loaded file holds, libraries first (reloading one changes the rest)."""
    return [*_datablock_refs(), *_node_refs(), *_object_refs(), *_scene_refs()]


# ---------------------------------------------------------------- resolving


def is_absolute(path: str) -> bool:
    return not path.startswith("//") and (os.path.isabs(path) or bool(_DRIVE.match(path)))


def _joined(path: str, library: Any) -> str:
    if path.startswith("//"):
        base = bpy.data.filepath
        if library is not None and library.filepath:
            base = resolve(library.filepath, library.parent)
        return os.path.join(os.path.dirname(base) or os.getcwd(), path[2:])
    return os.path.abspath(os.path.expanduser(path) if path.startswith("~") else path)


def resolve(path: str, library: Any = None) -> str:
    """Where Blender looks: `//` from the .blend (or the linked library), else from the working directory.
    Blender collapses `..` as text before opening (`bundle/../x` is `x` even if `bundle` is a link),
    so the path is normalised first and only then are links followed."""
    return os.path.realpath(os.path.normpath(_joined(path, library)))


def resolutions(path: str, library: Any = None) -> set[str]:
    """resolve(), and where the kernel would go if a reader did not collapse `..` first (it follows
    a link, then `..` from the link's target): a path is inside a folder only if both are."""
    return {resolve(path, library), os.path.realpath(_joined(path, library))}


def inside_all(root: str, path: str, library: Any = None) -> bool:
    return all(inside(root, candidate) for candidate in resolutions(path, library))


def inside(root: str, path: str) -> bool:
    root = os.path.realpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def bundle_root(given: str | None = None) -> str:
    return os.path.realpath(given or os.environ.get(BUNDLE_DIR_ENV) or os.path.dirname(bpy.data.filepath)
                            or os.getcwd())


def assess(path: str, library: Any, root: str) -> tuple[bool, bool]:
    """(absolute, escapes the bundle directory)."""
    return is_absolute(path), not inside_all(root, path, library)


def other_paths(refs: list[PathRef]) -> list[str]:
    """Paths Blender itself reports (bpy.utils.blend_paths) that none of `refs` covers, resolved."""
    known = {candidate for ref in refs if ref.path for candidate in resolutions(ref.path, ref.library)}
    seen: set[str] = set()
    for path in bpy.utils.blend_paths(absolute=True, packed=True):
        candidates = {os.path.realpath(path), os.path.realpath(os.path.normpath(path))}
        if not candidates & known and not any(_blender_data(c) for c in candidates):
            seen.update(candidates)
    return sorted(seen)


def _blender_data(path: str) -> bool:
    """Blender's own bundled assets (brush libraries…): read-only files of the installation."""
    return any(inside(os.path.dirname(bpy.utils.resource_path(kind)), path) for kind in ("LOCAL", "SYSTEM")
               if bpy.utils.resource_path(kind))


def report(root: str) -> list[dict[str, Any]]:
    refs = path_refs()
    entries: list[dict[str, Any]] = []
    for ref in refs:
        path = ref.path
        if not path:
            continue
        absolute, escapes = assess(path, ref.library, root)
        entries.append({"kind": ref.kind, "owner": ref.owner, "path": path, "access": ref.access,
                        "absolute": absolute, "escapes": escapes, "unsafe": absolute or escapes})
    for path in other_paths(refs):
        escapes = not inside(root, path)
        entries.append({"kind": "other", "owner": "", "path": path, "access": "read", "absolute": True,
                        "escapes": escapes, "unsafe": True})
    return entries


# ---------------------------------------------------------------- scenes


def describe_scene(scene: bpy.types.Scene) -> dict[str, Any]:
    render = scene.render
    cycles = getattr(scene, "cycles", None)
    return {
        "name": scene.name,
        "frame_start": scene.frame_start,
        "frame_end": scene.frame_end,
        "frame_step": scene.frame_step,
        "fps": render.fps,
        "fps_base": round(render.fps_base, 6),
        "resolution_x": render.resolution_x,
        "resolution_y": render.resolution_y,
        "resolution_percentage": render.resolution_percentage,
        "engine": render.engine,
        "camera": scene.camera.name if scene.camera else None,
        "has_camera": scene.camera is not None,
        "output_format": render.image_settings.file_format,
        "color_depth": render.image_settings.color_depth,
        "samples": cycles.samples if cycles is not None and render.engine == "CYCLES" else None,
        "output_path": render.filepath,
    }


def describe(root: str) -> dict[str, Any]:
    return {
        "blender_version": bpy.app.version_string,
        "file": bpy.data.filepath,
        "active_scene": bpy.context.scene.name if bpy.context.scene else None,
        "scenes": [describe_scene(s) for s in bpy.data.scenes],
        "externalPaths": report(root),
    }


def write_json(path: str, data: dict[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".inspect-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main() -> None:
    parser = argparse.ArgumentParser(prog="inspect_scene.py", description="Describe the loaded .blend as JSON.")
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.add_argument("--bundle-root", help="the bundle's directory (default: RENDER_BUNDLE_DIR, the .blend's)")
    args = parser.parse_args(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else [])
    data = describe(bundle_root(args.bundle_root))
    write_json(args.out, data)
    unsafe = sum(1 for entry in data["externalPaths"] if entry["unsafe"])
    print(f"inspect_scene: {len(data['scenes'])} scene(s), active '{data['active_scene']}', "
          f"{len(data['externalPaths'])} external path(s), {unsafe} unsafe → {args.out}", flush=True)


if __name__ == "__main__":  # Blender runs `--python` scripts as __main__; apply_settings.py imports this
    main()
