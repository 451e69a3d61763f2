"""Blender's command line, read as creator_args.cc reads it: options, numbers, frame lists.

No bpy here: blender_cli.py imports this before bpy, so `--help` stays instant,
and the render loop (blender_render.py) takes the values it parses.
"""

from __future__ import annotations

import sys

MIN_AFRAME = -1_048_574  # Blender's MINAFRAME / MAXFRAME
MAX_FRAME = 1_048_574
MAX_THREADS = 1024

# `-F` → (media type, bpy file_format); see BKE_imtype_from_arg.
IMAGE_TYPES = {
    "TGA": ("IMAGE", "TARGA"), "RAWTGA": ("IMAGE", "TARGA_RAW"), "IRIS": ("IMAGE", "IRIS"),
    "JPEG": ("IMAGE", "JPEG"), "PNG": ("IMAGE", "PNG"), "BMP": ("IMAGE", "BMP"), "HDR": ("IMAGE", "HDR"),
    "TIFF": ("IMAGE", "TIFF"), "OPEN_EXR": ("IMAGE", "OPEN_EXR"), "EXR": ("IMAGE", "OPEN_EXR"),
    "OPEN_EXR_MULTILAYER": ("MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER"),
    "MULTILAYER": ("MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER"), "FFMPEG": ("VIDEO", "FFMPEG"),
    "CINEON": ("IMAGE", "CINEON"), "DPX": ("IMAGE", "DPX"), "JP2": ("IMAGE", "JPEG2000"),
    "WEBP": ("IMAGE", "WEBP"),
}

# Options handled before the in-order pass, wherever they are: name → takes a value.
EARLY_OPTIONS = {
    "-b": False, "--background": False, "--factory-startup": False, "-noaudio": False,
    "-q": False, "--quiet": False, "-y": False, "--enable-autoexec": False, "-Y": False,
    "--disable-autoexec": False, "--offline-mode": False, "--online-mode": False,
    "--disable-crash-handler": False, "--disable-abort-handler": False,
    "--python-use-system-env": False, "--debug-cycles": False,
    "-t": True, "--threads": True, "--log-level": True, "--log": True, "--log-file": True,
    "--verbose": True, "-setaudio": True,
}
# Real Blender options this stand-in does not implement: refused with a clear message.
UNSUPPORTED = {
    "--python-text", "--python-console", "--addons", "-c", "--command", "--open-last", "-p",
    "--window-geometry", "-w", "--window-border", "-W", "--window-fullscreen", "-M",
    "--window-maximized", "-con", "--start-console", "-r", "--register", "--app-template",
    "-d", "--debug", "--debug-all", "--env-system-scripts", "--env-system-datafiles",
    "--env-system-python", "--env-system-extensions", "--gpu-backend",
}


# Auto-run of scripts in a .blend (registered text blocks, Python driver expressions).
ENABLE_AUTOEXEC = ("-y", "--enable-autoexec")
DISABLE_AUTOEXEC = ("-Y", "--disable-autoexec")


class StopProcessing(Exception):
    """Blender stops reading arguments and exits with `code` (G.is_break, WM_exit)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def out(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- number parsing (creator_args.cc)


def strtol(text: str) -> int:
    """An integer as strtol reads a whole argument: optional spaces and sign, digits."""
    stripped = text.lstrip(" \t")
    body = stripped[1:] if stripped[:1] in "+-" else stripped
    if not body.isdigit() or not body.isascii():
        raise ValueError("not a number")
    return int(stripped)


def relative_frame(text: str, pos: int, neg: int) -> int:
    if text.startswith("+"):
        value = pos + strtol(text[1:])
    elif text.startswith("-"):
        value = (neg - strtol(text[1:])) + 1
    else:
        value = strtol(text)
    if not -(2**31) <= value < 2**31:
        raise ValueError("exceeds range")
    return value


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def parse_frame_list(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """`-f` syntax: `1`, `1,3,5`, `2..8`, `+1` (start + 1), `-1` (end) → inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for item in text.split(","):
        if not item:
            raise ValueError("incorrect comma use")
        sep = item.find("..")
        if sep != -1 and sep + 2 < len(item):
            first, second = item[:sep], item[sep + 2:]
            a, b = relative_frame(first, start, end), relative_frame(second, start, end)
        else:
            a = b = relative_frame(item, start, end)
        ranges.append((clamp(a, MIN_AFRAME, MAX_FRAME), clamp(b, MIN_AFRAME, MAX_FRAME)))
    return ranges


# ---------------------------------------------------------------- passes


def early_pass(args: list[str], consumed: set[int]) -> dict[str, str | None]:
    """Options Blender handles before loading anything, wherever they appear."""
    found: dict[str, str | None] = {}
    i = 0
    while i < len(args):
        name = args[i]
        if name in EARLY_OPTIONS:
            consumed.add(i)
            if EARLY_OPTIONS[name]:
                if i + 1 < len(args):
                    consumed.add(i + 1)
                    found[name] = args[i + 1]
                    i += 1
                else:
                    err(f"\nError: you must specify a value after '{name}'.")
            else:
                found[name] = None
        i += 1
    return found


def parse_threads(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        threads = strtol(value)
        if not 0 <= threads <= MAX_THREADS:
            raise ValueError("exceeds range")
    except ValueError as exc:
        err(f"\nError: {exc} '-t / --threads {value}', expected number in [0..{MAX_THREADS}].")
        return None
    return threads




def autoexec_choice(args: list[str]) -> bool | None:
    """True for `-y`, False for `-Y`, the last one winning as in Blender; None when neither is given.

    None leaves the preference as bpy loaded it (off unless the user's preferences turned it
    on), which is what Blender does when neither flag is on its command line.
    """
    choice: bool | None = None
    for arg in args:
        if arg in ENABLE_AUTOEXEC:
            choice = True
        elif arg in DISABLE_AUTOEXEC:
            choice = False
    return choice
