"""Writes a tiny .blend whose only colour comes from an image in a subfolder.

python textured_scene.py FOLDER: FOLDER/shot.blend, FOLDER/textures/wood/green.png and a
render.json. The camera sees nothing but a plane whose emission shader reads the image by
its relative path (//textures/wood/green.png), so a frame is green only if the image was
found where the bundle put it; a missing image renders magenta.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy


def main(folder: Path) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 2
    scene.render.resolution_x, scene.render.resolution_y = 32, 18
    scene.render.resolution_percentage = 100
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    scene.render.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "Standard"  # AgX would desaturate the pure green

    textures = folder / "textures" / "wood"
    textures.mkdir(parents=True, exist_ok=True)
    image = bpy.data.images.new("green", 4, 4)
    image.pixels = [0.0, 1.0, 0.0, 1.0] * 16
    image.filepath_raw = str(textures / "green.png")
    image.file_format = "PNG"
    image.save()

    mesh = bpy.data.meshes.new("Card")
    mesh.from_pydata([(-5, -5, 0), (5, -5, 0), (5, 5, 0), (-5, 5, 0)], [], [(0, 1, 2, 3)])
    mesh.uv_layers.new(name="UV")
    mat = bpy.data.materials.new("CardMat")
    if mat.node_tree is None:
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image
    emit = nodes.new("ShaderNodeEmission")
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(tex.outputs["Color"], emit.inputs["Color"])
    links.new(emit.outputs["Emission"], out.inputs["Surface"])
    mesh.materials.append(mat)
    card = bpy.data.objects.new("Card", mesh)
    scene.collection.objects.link(card)

    cam_data = bpy.data.cameras.new("Cam")
    cam_data.type = "ORTHO"
    cam_data.ortho_scale = 4
    cam = bpy.data.objects.new("Cam", cam_data)
    cam.location = (0, 0, 5)
    scene.collection.objects.link(cam)
    scene.camera = cam

    bpy.context.preferences.filepaths.save_version = 0  # no shot.blend1 backups in the bundle
    blend = folder / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    image.filepath = "//textures/wood/green.png"  # relative to the .blend, as artists keep them
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    (folder / "render.json").write_text(json.dumps({"chunkSize": 1, "video": {"name": "shot.mp4"}}))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
