"""Make a small animated demo scene with bpy, and optionally a scene bundle zip.

    python samples/make_scene.py OUT.blend [--frames 48] [--start 1] [--width 320 --height 180]
        [--fps 24] [--samples 16] [--scene Shot] [--bundle OUT.zip [--chunk-size N|auto]]

Run it with a Python that has bpy (the project's .venv/bin/python); it needs no Blender install.

The scene: a floor, a cube that slides and spins, a sphere that bobs, each with its own
material, a camera and a sun, rendered by Cycles on the CPU. Every frame differs and
none is blank, so tests can tell frames apart and notice an empty render.

The bundle is what an artist uploads: the .blend plus a render.json (camelCase, as
DESIGN.md describes) naming it and the frames, fps and resolution.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import zipfile
from fractions import Fraction
from pathlib import Path

import bpy


def fps_pair(text: str) -> tuple[int, float]:
    """Blender keeps a rate as fps / fps_base: 23.976 → (24, 1.001)."""
    value = Fraction(text)
    if value <= 0 or value > 1000:
        raise argparse.ArgumentTypeError(f"fps {text!r} is outside (0, 1000]")
    if value.denominator == 1:
        return int(value), 1.0
    fps = max(1, round(float(value)))
    if abs(float(value) - fps / 1.001) < 0.0015:
        return fps, 1.001
    if value.numerator <= 32767 and value.denominator <= 1000:  # exact: 12.5 → 25/2
        return value.numerator, float(value.denominator)
    return fps, fps / float(value)


def chunk_size(text: str) -> int | str:
    if text == "auto":
        return text
    value = int(text)
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError("a chunk size is 1..10000 frames, or auto")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the .blend to write")
    parser.add_argument("--frames", type=int, default=48, help="number of frames (default 48)")
    parser.add_argument("--start", type=int, default=1, help="first frame (default 1; studios often use 1001)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--fps", default="24", help="frames per second, e.g. 24, 25, 23.976 or 24000/1001")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples")
    parser.add_argument("--scene", default="Shot", help="scene name")
    parser.add_argument("--bundle", type=Path, help="also write a scene bundle zip (.blend + render.json)")
    parser.add_argument("--chunk-size", type=chunk_size, default=None,
                        help='chunkSize in the bundle\'s render.json: frames per task, or "auto"; '
                             "left out, render.json has none and the pipeline sizes the chunks")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.start < 0 or args.width < 4 or args.height < 4 or args.samples < 1:
        parser.error("frames ≥ 1, start ≥ 0, width/height ≥ 4 and samples ≥ 1 are required")
    try:
        args.fps_pair = fps_pair(args.fps)
    except (ValueError, ZeroDivisionError, argparse.ArgumentTypeError) as exc:
        parser.error(f"bad --fps: {exc}")
    return args


def material(name: str, color: tuple[float, float, float], roughness: float = 0.5) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # Blender 5 gives new materials a node tree already
        mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (*color, 1.0)
        bsdf.inputs["Roughness"].default_value = roughness
    mat.diffuse_color = (*color, 1.0)
    return mat


def mesh_object(name: str, mesh: bpy.types.Mesh, mat: bpy.types.Material, scene: bpy.types.Scene) -> bpy.types.Object:
    mesh.materials.append(mat)
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)
    return obj


def cube_mesh(name: str, size: float) -> bpy.types.Mesh:
    s = size / 2
    verts = [(x, y, z) for x in (-s, s) for y in (-s, s) for z in (-s, s)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    return mesh


def sphere_mesh(name: str, radius: float, rings: int = 12, segments: int = 24) -> bpy.types.Mesh:
    verts = [(0.0, 0.0, radius)]
    for r in range(1, rings):
        phi = math.pi * r / rings
        for s in range(segments):
            theta = 2 * math.pi * s / segments
            verts.append((radius * math.sin(phi) * math.cos(theta), radius * math.sin(phi) * math.sin(theta),
                          radius * math.cos(phi)))
    verts.append((0.0, 0.0, -radius))
    faces: list[tuple[int, ...]] = []
    for s in range(segments):  # top cap, bands, bottom cap
        faces.append((0, 1 + s, 1 + (s + 1) % segments))
    for r in range(rings - 2):
        for s in range(segments):
            a, b = 1 + r * segments + s, 1 + r * segments + (s + 1) % segments
            faces.append((a, a + segments, b + segments, b))
    last = len(verts) - 1
    base = 1 + (rings - 2) * segments
    for s in range(segments):
        faces.append((base + s, last, base + (s + 1) % segments))
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    for poly in mesh.polygons:
        poly.use_smooth = True
    return mesh


def plane_mesh(name: str, size: float) -> bpy.types.Mesh:
    s = size / 2
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(-s, -s, 0), (s, -s, 0), (s, s, 0), (-s, s, 0)], [], [(0, 1, 2, 3)])
    return mesh


def build_scene(args: argparse.Namespace) -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.name = args.scene
    start, end = args.start, args.start + args.frames - 1
    scene.frame_start, scene.frame_end = start, end
    scene.frame_end = end
    scene.render.fps, scene.render.fps_base = args.fps_pair
    scene.render.resolution_x, scene.render.resolution_y = args.width, args.height
    scene.render.resolution_percentage = 100
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = args.samples
    scene.cycles.use_denoising = False  # tiny sample counts; denoising would cost more than it saves
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = "//render/frame_####"

    world = bpy.data.worlds.new("Sky")
    if world.node_tree is None:
        world.use_nodes = True
    background = world.node_tree.nodes.get("Background")
    if background is not None:
        background.inputs["Color"].default_value = (0.25, 0.35, 0.55, 1.0)
        background.inputs["Strength"].default_value = 0.6
    scene.world = world

    mesh_object("Floor", plane_mesh("Floor", 12), material("FloorMat", (0.6, 0.6, 0.55), 0.8), scene)
    cube = mesh_object("Cube", cube_mesh("Cube", 1.2), material("CubeMat", (0.85, 0.2, 0.1), 0.3), scene)
    sphere = mesh_object("Sphere", sphere_mesh("Sphere", 0.7), material("SphereMat", (0.1, 0.5, 0.9), 0.2), scene)

    # Keyframes so each frame differs: the cube slides and spins, the sphere bobs.
    for frame, x, turn, z in ((start, -2.0, 0.0, 0.7), (end, 2.0, math.pi * 1.5, 2.0)):
        cube.location = (x, 0.0, 0.6)
        cube.rotation_euler = (0.0, 0.0, turn)
        cube.keyframe_insert("location", frame=frame)
        cube.keyframe_insert("rotation_euler", frame=frame)
        sphere.location = (0.5 - x / 2, 1.5, z)
        sphere.keyframe_insert("location", frame=frame)

    cam_data = bpy.data.cameras.new("Camera")
    camera = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(camera)
    camera.location = (0.0, -8.0, 4.0)
    camera.rotation_euler = (math.radians(65), 0.0, 0.0)
    scene.camera = camera

    sun_data = bpy.data.lights.new("Sun", type="SUN")
    sun_data.energy = 3.0
    sun = bpy.data.objects.new("Sun", sun_data)
    sun.rotation_euler = (math.radians(40), math.radians(20), math.radians(30))
    scene.collection.objects.link(sun)
    return scene


def render_manifest(args: argparse.Namespace, blend_name: str) -> dict[str, object]:
    start, end = args.start, args.start + args.frames - 1
    fps, base = args.fps_pair
    manifest: dict[str, object] = {
        "blend": blend_name,
        "scene": args.scene,
        "frames": f"{start}-{end}" if end > start else str(start),
        "fps": round(fps / base, 6),
        "resolution": {"width": args.width, "height": args.height},
        "format": "PNG",
        "video": {"codec": "libx264", "crf": 18, "name": f"{Path(blend_name).stem}.mp4"},
    }
    if args.chunk_size is not None:
        manifest["chunkSize"] = args.chunk_size
    return manifest


def write_bundle(args: argparse.Namespace, blend: Path) -> None:
    """A zip with the .blend at its root and a render.json naming it, written atomically."""
    target: Path = args.bundle
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest = render_manifest(args, blend.name)
    fd, tmp = tempfile.mkstemp(prefix=".bundle-", suffix=".zip", dir=target.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.write(blend, blend.name)
            zf.writestr("render.json", json.dumps(manifest, indent=2) + "\n")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    out: Path = args.out.resolve()
    if out.suffix != ".blend":
        print(f"error: {out} should end in .blend", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    build_scene(args)
    bpy.ops.wm.save_as_mainfile(filepath=str(out), compress=False)
    print(f"wrote {out}")
    if args.bundle:
        write_bundle(args, out)
        print(f"wrote {args.bundle}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
