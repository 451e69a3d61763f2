"""Measure localbatch throughput for small Blender renders at different slot counts.

    python -m localbatch.bench_slots [--slots 1 2 3] [--threads 0] [--repeat 3] [--tasks 8]
        [--frames-per-task 2] [--width 320 --height 180 --samples 16]

Makes a demo scene (samples/make_scene.py), then for each slot count starts a
localbatch, submits the same render tasks (`blender -b scene -o ... -f a..b`),
and prints the wall-clock time until all are done and frames per minute. `--threads`
gives each task Blender's `-t` (0: Blender's own, every core), so slots × threads
splits of the cores can be compared. Configurations are interleaved over the
repeats (1 2 3 1 2 3 …), so a change in the machine's other load hits each of them
alike; the median is reported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from localbatch.launcher import ROOT, start_localbatch
from shared.adapters.local_batch_backend import LocalBatchBackend
from shared.tasks import TaskResult, TaskSpec, TaskStatus


def render_tasks(scene: Path, tasks: int, per_task: int, threads: int = 0) -> list[TaskSpec]:
    return [TaskSpec(id=f"chunk{i}", argv=("blender", "-b", str(scene), "-t", str(threads), "-o", "//frames/f_####",
                                           "-F", "PNG", "-f", f"{1 + i * per_task}..{(i + 1) * per_task}"))
            for i in range(tasks)]


def run(slots: int, scene: Path, specs: list[TaskSpec], data_dir: Path) -> float:
    # No sandbox: the tasks read the scene this script made where it lies (a sandboxed task sees only
    # its own directory), and a measurement of our own scene needs no protection from it.
    process = start_localbatch(data_dir, slots=slots, poll_interval=0.05, sandbox=False)
    try:
        backend = LocalBatchBackend(process.url, key=process.key)
        backend.create_job("bench")
        started = time.monotonic()
        backend.add_tasks("bench", specs)
        while True:
            states = backend.list_tasks("bench")
            if all(s.status is TaskStatus.COMPLETED for s in states):
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        failed = [s.id for s in states if s.result is not TaskResult.SUCCESS]
        if failed:
            raise SystemExit(f"render tasks failed: {failed}; see {data_dir}")
        return elapsed
    finally:
        process.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, nargs="+", default=[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--frames-per-task", type=int, default=2)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--samples", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-slots-") as tmp:
        work = Path(tmp)
        scene = work / "scene.blend"
        frames = args.tasks * args.frames_per_task
        subprocess.run([sys.executable, str(ROOT / "samples" / "make_scene.py"), str(scene),
                        "--frames", str(frames), "--width", str(args.width), "--height", str(args.height),
                        "--samples", str(args.samples)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        print(f"{args.tasks} tasks x {args.frames_per_task} frames, {args.width}x{args.height}, "
              f"{args.samples} samples")
        configs = [(slots, threads) for slots in args.slots for threads in args.threads]
        times: dict[tuple[int, int], list[float]] = {config: [] for config in configs}
        for attempt in range(args.repeat):
            for slots, threads in configs:
                specs = render_tasks(scene, args.tasks, args.frames_per_task, threads)
                elapsed = run(slots, scene, specs, work / f"run{attempt}-slots{slots}-t{threads}")
                times[(slots, threads)].append(elapsed)
                print(f"  slots={slots} threads={threads}: {elapsed:6.1f} s", flush=True)
        for (slots, threads), runs in times.items():
            median = statistics.median(runs)
            print(f"slots={slots} threads={threads}: median {median:6.1f} s, {frames / median * 60:6.1f} "
                  f"frames/min (runs: {', '.join(f'{t:.1f}' for t in runs)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
