"""A stand-in for `blender -b … -f …` that prints what Blender 5.0 prints per frame, for the task
runner's tests of frame times, heartbeats and stuck renders (real Blender is in the slow tests).

    python fake_blender.py frames=1,2,3 [times=00:01.71,01:02.50,…] [sleep=0.2] [saved_on=stderr]
        [wait_for=FILE] [hang_after=N] [grandchild=1] [saved_path=PATH]

`wait_for` holds the second frame until FILE exists; `hang_after=N` hangs after N frames, with a
grandchild in its group when `grandchild` is set; both write their pids to `pids.txt`.
`saved_path` is what the first `Saved:` line names instead of the file written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv)
    frames = [int(f) for f in args["frames"].split(",")]
    times = args["times"].split(",") if "times" in args else []
    saved_stream = sys.stderr if args.get("saved_on") == "stderr" else sys.stdout
    print("Blender 5.0.1 (hash a3db93c5b259 built 2025-12-16 14:26:17)", flush=True)
    Path("frames").mkdir(exist_ok=True)
    for index, frame in enumerate(frames):
        if index == int(args.get("hang_after", -1)):
            hang(args)
        if index == 1 and "wait_for" in args:
            while not Path(args["wait_for"]).exists():
                time.sleep(0.05)
        print(f"Fra:{frame} Mem:38.1M | Time:00:00.10 | Mem:38.1M, Peak:38.1M | Sample 1/4", flush=True)
        time.sleep(float(args.get("sleep", "0")))
        path = f"frames/shot_{frame:04d}.png"
        Path(path).write_bytes(b"not an image")
        named = args["saved_path"] if index == 0 and "saved_path" in args else path
        print(f"00:03.405  render           | Saved: '{named}'", file=saved_stream, flush=True)
        if index < len(times):
            print(f" Time: {times[index]} (Saving: 00:00.02)", file=saved_stream, flush=True)
        print(f"Fra:{frame} Mem:38.1M | Finished", flush=True)
    print("\nBlender quit", flush=True)


def hang(args: dict[str, str]) -> None:
    pids = [os.getpid()]
    if args.get("grandchild"):
        pids.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]).pid)
    Path("pids.txt").write_text(" ".join(map(str, pids)))
    time.sleep(600)


if __name__ == "__main__":
    main(sys.argv[1:])
