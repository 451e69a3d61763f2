"""Build a .blend that reaches outside its bundle without any Python in it; run with bpy.

    python hostile_scene.py OUT.blend --foreign-image PNG --outside DIR --library LIB.blend --cache DIR

The scene (Workbench, 16x16, one camera) has a compositor that shows the image at the absolute
`--foreign-image` (another job's file) and a File Output node writing to the absolute `--outside`;
it links an object from the absolute `--library` and gives a cloth an external point cache at the
absolute `--cache`. `--library` is written first, with one object named "Foreign". With
`--image-path` the image is saved with that path instead (`//tex/x.png`, `//../../x.png`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

import bpy

SIZE = 16


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--foreign-image", required=True)
    parser.add_argument("--outside", required=True)
    parser.add_argument("--library", required=True)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--image-path", help="the path the image is saved with (default: --foreign-image)")
    parser.add_argument("--movie", help="with --more-kinds: a video for a movie clip and a movie strip")
    parser.add_argument("--more-kinds", action="store_true",
                        help="also a volume, a text, OSL and IES nodes, an ocean, a geometry-nodes bake, "
                             "a dynamic paint output, an image strip, a sound, a font and an Alembic cache, all "
                             "at absolute paths under --outside")
    return parser.parse_args(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:])


def write_library(path: str) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = bpy.data.objects.new("Foreign", bpy.data.meshes.new("ForeignMesh"))
    bpy.context.scene.collection.objects.link(obj)
    bpy.ops.wm.save_as_mainfile(filepath=path)


def build(args: argparse.Namespace) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x = scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = 1, 2
    scene.view_settings.view_transform = "Standard"  # the foreign image's red reaches the frame as red
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera

    tree = bpy.data.node_groups.new("Compositor", "CompositorNodeTree")
    scene.compositing_node_group = tree
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    image_node = tree.nodes.new("CompositorNodeImage")
    image_node.image = bpy.data.images.load(args.foreign_image)
    if args.image_path:
        image_node.image.filepath = args.image_path
    group_output = tree.nodes.new("NodeGroupOutput")
    tree.links.new(image_node.outputs[0], group_output.inputs[0])
    file_output = tree.nodes.new("CompositorNodeOutputFile")
    file_output.name = "Steal"
    file_output.directory = args.outside.rstrip("/") + "/"
    file_output.file_name = "stolen_"
    file_output.format.media_type = "IMAGE"
    file_output.format.file_format = "PNG"
    file_output.file_output_items.new("RGBA", "Image")
    tree.links.new(image_node.outputs[0], file_output.inputs[0])

    with bpy.data.libraries.load(args.library, link=True) as (_, linked):
        linked.objects = ["Foreign"]
    for obj in linked.objects:
        scene.collection.objects.link(obj)

    cloth = bpy.data.objects.new("Cloth", bpy.data.meshes.new("ClothMesh"))
    scene.collection.objects.link(cloth)
    cache = cloth.modifiers.new("Cloth", "CLOTH").point_cache
    cache.use_disk_cache = True
    cache.use_external = True
    cache.filepath = args.cache
    if args.more_kinds:
        more_kinds(scene, args.outside.rstrip("/"), args.movie)
    bpy.ops.wm.save_as_mainfile(filepath=args.out, relative_remap=False)  # keep the paths absolute


def more_kinds(scene: bpy.types.Scene, outside: str, movie: str | None) -> None:
    def new_object(name: str) -> bpy.types.Object:
        obj = bpy.data.objects.new(name, bpy.data.meshes.new(name))
        scene.collection.objects.link(obj)
        return obj

    volume = bpy.data.volumes.new("Smoke")
    volume.filepath = f"{outside}/smoke.vdb"
    scene.collection.objects.link(bpy.data.objects.new("Smoke", volume))
    text = bpy.data.texts.new("notes.txt")
    text.filepath = f"{outside}/notes.txt"
    text.use_fake_user = True
    material = bpy.data.materials.new("Shader")
    for kind, file_name in (("ShaderNodeScript", "shader.osl"), ("ShaderNodeTexIES", "lamp.ies")):
        node = material.node_tree.nodes.new(kind)
        node.mode = "EXTERNAL"
        node.filepath = f"{outside}/{file_name}"
    new_object("Ocean").modifiers.new("Ocean", "OCEAN").filepath = f"{outside}/ocean/"
    painted = new_object("Painted")
    painted.data.materials.append(material)
    painted.modifiers.new("Bake", "NODES").bake_directory = f"{outside}/bake/"
    paint = painted.modifiers.new("Paint", "DYNAMIC_PAINT")
    bpy.context.view_layer.objects.active = painted
    bpy.ops.dpaint.type_toggle(type="CANVAS")
    paint.canvas_settings.canvas_surfaces[0].image_output_path = f"{outside}/paint/"
    sound = bpy.data.sounds.load(f"{outside}/music.wav", check_existing=False)
    sound.use_fake_user = True
    shutil.copy(os.path.join(bpy.utils.resource_path("LOCAL"), "datafiles", "fonts", "Inter.woff2"),
                f"{outside}/title.woff2")
    title = bpy.data.curves.new("Title", "FONT")
    title.font = bpy.data.fonts.load(f"{outside}/title.woff2")
    scene.collection.objects.link(bpy.data.objects.new("Title", title))
    bpy.ops.wm.alembic_export(filepath=f"{outside}/anim.abc", selected=False)
    bpy.ops.wm.alembic_import(filepath=f"{outside}/anim.abc")
    for cache_file in bpy.data.cache_files:
        cache_file.use_fake_user = True
    editor = scene.sequence_editor_create()
    editor.strips.new_image("Plate", f"{outside}/plate_0001.png", 1, 1)
    if movie:
        bpy.data.movieclips.load(movie).use_fake_user = True
        editor.strips.new_movie("Reference", movie, 2, 1)


def main() -> None:
    args = parse_args()
    write_library(args.library)
    build(args)


main()
