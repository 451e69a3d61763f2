"""Scripts shipped to render nodes as Batch resource files (each one self-contained):
task_runner.py (stdlib), apply_settings.py and inspect_scene.py (run inside Blender)."""
