"""`make bench` / `python -m bench`: every benchmark in turn, each in its own process, then a
summary table and bench/results/latest.json (figures, targets, met/missed, the machine).

    python -m bench                       # all of them
    python -m bench event_latency ...     # only those named
    python -m bench chaos --trials 3      # chaos alone, 3 trials per component
    python -m bench --smoke --out X.json  # each in a tiny mode, seconds each (tests/test_bench_smoke.py)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS, ROOT, _fmt, machine, table, verdict, write_json

BENCHMARKS = ("task_submission", "orchestration_scale", "event_latency", "dashboard_load", "pipeline_overhead",
              "asset_upload", "chaos")
PER_BENCHMARK_TIMEOUT_S = 900
# chaos: ~20 jobs plus restarts, 14 min with 2 trials per component on 2 cores under other load
TIMEOUT_S = {"chaos": 2400, "pipeline_overhead": 1800}  # pipeline overhead: 8 renders of the demo, 2 rounds


def run_one(name: str, out: Path, smoke: bool = False, extra: list[str] | None = None) -> dict[str, Any]:
    started = time.monotonic()
    argv = [sys.executable, "-m", f"bench.{name}", "--json", str(out), *(["--smoke"] if smoke else []),
            *(extra or [])]
    try:
        proc = subprocess.run(argv, cwd=ROOT, timeout=TIMEOUT_S.get(name, PER_BENCHMARK_TIMEOUT_S))
        code: int | str = proc.returncode
    except subprocess.TimeoutExpired:
        code = "timeout"
    if out.exists():
        return dict(json.loads(out.read_text())["benchmark"])
    return {"name": name, "title": name, "met": False, "seconds": round(time.monotonic() - started, 1),
            "error": f"the benchmark process ended ({code}) without a report", "figures": [], "notes": [],
            "details": {}}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=None, help="default bench/results/latest.json")
    parser.add_argument("--smoke", action="store_true", help="a tiny run of each: shows they work, measures nothing")
    parser.add_argument("--trials", type=int, default=None, help="chaos: trials per component (default 2)")
    args = parser.parse_args()
    if args.out is None and args.smoke:
        parser.error("--smoke needs --out: its figures must not replace bench/results/latest.json")
    out: Path = args.out or RESULTS / "latest.json"
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if args.trials is not None and args.trials < 1:
        parser.error("--trials must be 1 or more")
    extra = {"chaos": ["--trials", str(args.trials)]} if args.trials else {}
    started = time.monotonic()
    before = machine()
    reports = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for name in names:
            print(f"\n### {name}", flush=True)
            reports.append(run_one(name, Path(tmp) / f"{name}.json", args.smoke, extra.get(name)))
    total = time.monotonic() - started
    rows = []
    for report in reports:
        if report.get("error"):
            rows.append((report["title"], "ERROR", "", report["error"][:60], ""))
        for fig in report["figures"]:
            if fig["target"]:
                rows.append((report["title"], fig["name"], f"{_fmt(fig['value'])} {fig['unit']}".strip(),
                             fig["target"], verdict(fig["met"])))
    print(f"\n== Summary ({total / 60:.1f} min) ==")
    print(table(rows, ("benchmark", "figure", "value", "target", "")))
    result = {"machine": {**before, "loadAverageAfter": machine()["loadAverage"]},
              "totalSeconds": round(total, 1), "smoke": args.smoke,
              "met": all(r.get("met") is not False for r in reports),
              "benchmarks": reports}
    write_json(result, out)
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0 if all(not r.get("error") for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
