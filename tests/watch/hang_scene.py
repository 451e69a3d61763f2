"""Turn a demo .blend into one whose render stalls after its first frame, as a stuck node does:
Cycles samples keyframed from 1 on frame 1 to a million on frame 2 (no Python runs in the file).

    python hang_scene.py SCENE.blend      (a Python with bpy)
"""

from __future__ import annotations

import sys

import bpy

path = sys.argv[1]
bpy.ops.wm.open_mainfile(filepath=path)
scene = bpy.context.scene
scene.cycles.use_adaptive_sampling = False  # adaptive sampling would stop early on a tiny frame
scene.cycles.time_limit = 0
scene.cycles.samples = 1
scene.cycles.keyframe_insert("samples", frame=1)
scene.cycles.samples = 1_000_000
scene.cycles.keyframe_insert("samples", frame=2)
bpy.ops.wm.save_mainfile(filepath=path)
