"""Scripts shipped to render nodes as Batch resource files, all into one tools folder:
task_runner.py (stdlib), apply_settings.py and inspect_scene.py (run inside Blender), and the
scripts that watch a running task beside task_runner.py (stdlib; WATCH_SCRIPTS)."""

WATCH_SCRIPTS = ("watch.py", "frame_progress.py", "heartbeat.py", "previews.py")
