"""Describe a .blend as JSON; runs inside Blender via `--python`.

    blender -b shot.blend --python-exit-code 1 --python inspect_scene.py -- --out inspect.json

Writes (snake_case keys, one object per scene):

    {"blender_version": "5.0.1", "file": "/…/shot.blend", "active_scene": "Shot",
     "scenes": [{"name", "frame_start", "frame_end", "frame_step", "fps", "fps_base",
                 "resolution_x", "resolution_y", "resolution_percentage", "engine",
                 "camera": name | null, "has_camera", "output_format", "color_depth",
                 "samples", "output_path"}]}

The pipeline runs it as the inspect task to fill what the bundle's render.json leaves out.
Only the standard library and bpy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Any

import bpy


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


def describe() -> dict[str, Any]:
    return {
        "blender_version": bpy.app.version_string,
        "file": bpy.data.filepath,
        "active_scene": bpy.context.scene.name if bpy.context.scene else None,
        "scenes": [describe_scene(s) for s in bpy.data.scenes],
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
    args = parser.parse_args(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else [])
    data = describe()
    write_json(args.out, data)
    print(f"inspect_scene: {len(data['scenes'])} scene(s), active '{data['active_scene']}' → {args.out}",
          flush=True)


main()
