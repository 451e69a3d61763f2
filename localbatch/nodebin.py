"""DIR/bin: the programs a Batch node with Blender and FFmpeg installed would have on PATH.

`blender` runs Blender-as-a-module (bpy) through localbatch/blender_cli.py,
`ffmpeg` is imageio-ffmpeg's static build, `python3` is this interpreter (so a
task's Python finds the same packages, azure-storage-blob included).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

BLENDER_CLI = Path(__file__).resolve().parent / "blender_cli.py"


def _script(target: list[str]) -> str:
    return "#!/bin/sh\nexec " + " ".join(shlex.quote(t) for t in target) + ' "$@"\n'


def _write(path: Path, text: str) -> None:
    """Write atomically, so a task starting meanwhile never sees half a script."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, path)


def make_bin(data_dir: Path) -> Path:
    bin_dir = data_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    _write(bin_dir / "blender", _script([sys.executable, str(BLENDER_CLI)]))
    _write(bin_dir / "python3", _script([sys.executable]))
    _write(bin_dir / "python", _script([sys.executable]))
    try:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        ffmpeg = None  # a task that calls ffmpeg then fails with "program not found"
    if ffmpeg:
        _write(bin_dir / "ffmpeg", _script([ffmpeg]))
    return bin_dir
