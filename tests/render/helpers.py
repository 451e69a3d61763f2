"""Running blender_cli, the node scripts and FFmpeg from tests, and reading PNGs with the stdlib."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLENDER_CLI = REPO / "localbatch" / "blender_cli.py"
NODE = REPO / "shared" / "node"
MAKE_SCENE = REPO / "samples" / "make_scene.py"
TIMEOUT = 300


def run_blender(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`blender <args>` as localbatch runs it: `python blender_cli.py <args>`."""
    return subprocess.run([sys.executable, str(BLENDER_CLI), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=TIMEOUT)


def blender_bin(directory: Path) -> Path:
    """A directory with `blender` and `python3` on it, as localbatch's nodebin makes."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, target in (("blender", f'"{sys.executable}" "{BLENDER_CLI}"'), ("python3", f'"{sys.executable}"')):
        path = directory / name
        path.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        path.chmod(0o755)
    return directory


def env_with_path(bin_dir: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    channels: int
    pixels: bytes  # rows of 8-bit samples, unfiltered

    def distinct_colors(self) -> int:
        step = self.channels
        return len({self.pixels[i:i + 3] for i in range(0, len(self.pixels), step)})


def read_png(path: Path) -> Png:
    """Decode an 8-bit RGB/RGBA/grey PNG with zlib (enough for Blender's default output)."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, color_type, _, _, interlace = header
    if depth != 8 or interlace:
        raise ValueError(f"only 8-bit non-interlaced PNGs are decoded here (depth {depth})")
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up, up_left = prev[i], prev[i - channels] if i >= channels else 0
            if filter_type == 1:
                row[i] = (row[i] + left) & 0xFF
            elif filter_type == 2:
                row[i] = (row[i] + up) & 0xFF
            elif filter_type == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                row[i] = (row[i] + pred) & 0xFF
        rows.append(row)
        prev = row
    return Png(width, height, channels, b"".join(rows))


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int
    codec: str
    pix_fmt: str


def probe_video(path: Path) -> VideoInfo:
    """Decode every frame (`-f null -`) and read the stream line FFmpeg prints."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
                             "-f", "null", "-"], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    stream = re.search(r"Stream #0:0[^\n]*Video: (\w+)[^\n]*?, (\w+)\(?[^\n]*?, (\d+)x(\d+)[^\n]*?, "
                       r"([\d.]+) fps", result.stderr)
    frames = re.findall(r"frame=\s*(\d+)", result.stderr)
    assert stream and frames, result.stderr
    return VideoInfo(frames=int(frames[-1]), fps=float(stream.group(5)), width=int(stream.group(3)),
                     height=int(stream.group(4)), codec=stream.group(1), pix_fmt=stream.group(2))


@dataclass(frozen=True)
class Jpeg:
    width: int
    height: int
    rgb: bytes  # the decoded pixels, as FFmpeg decodes them


def read_jpeg(path: Path) -> Jpeg:
    """The size from the JPEG's start-of-frame marker, and the pixels decoded by FFmpeg (which fails on
    anything that is not a whole image)."""
    data = path.read_bytes()
    if data[:2] != b"\xff\xd8":
        raise ValueError(f"{path} is not a JPEG")
    pos, size = 2, None
    while pos + 4 <= len(data) and size is None:
        marker, (length,) = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            size = (width, height)
        pos += 2 + length
    if size is None:
        raise ValueError(f"{path} has no start-of-frame marker")
    result = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24",
                             "-"], capture_output=True, timeout=TIMEOUT)
    if result.returncode != 0 or len(result.stdout) != size[0] * size[1] * 3:
        raise ValueError(f"{path} does not decode: {result.stderr.decode(errors='replace')[-300:]}")
    return Jpeg(width=size[0], height=size[1], rgb=result.stdout)
