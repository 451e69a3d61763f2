"""What every benchmark shares: figures with targets, the machine they ran on, the report files.

A benchmark module has `NAME`, `TITLE` and `run(smoke: bool = False) -> Report`, and ends
with `if __name__ == "__main__": main(run)`, which prints the report and writes
bench/results/<name>.json (or the path given with --json). `--smoke` runs the same code on
a few frames, tasks and requests in seconds, so tests/test_bench_smoke.py can keep every
benchmark working; its figures mean nothing and it writes nowhere unless --json says where.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass
class Figure:
    """One measured value; `target` is a bound ("<=", limit) or None for context figures."""

    name: str
    value: float | int | None
    unit: str
    op: str | None = None  # "<=", "<", ">=", "==" or None (no target)
    limit: float | int | None = None

    @property
    def met(self) -> bool | None:
        if self.op is None or self.limit is None:
            return None
        if self.value is None:
            return False
        v, lim = self.value, self.limit
        return {"<=": v <= lim, "<": v < lim, ">=": v >= lim, "==": v == lim}[self.op]

    @property
    def target(self) -> str:
        return f"{self.op} {_fmt(self.limit)} {self.unit}".strip() if self.op else ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "target": self.target or None,
                "met": self.met}


@dataclass
class Report:
    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def add(self, name: str, value: float | int | None, unit: str = "", op: str | None = None,
            limit: float | int | None = None) -> Figure:
        fig = Figure(name, value, unit, op, limit)
        self.figures.append(fig)
        return fig

    @property
    def met(self) -> bool | None:
        verdicts = [f.met for f in self.figures if f.met is not None]
        if self.error:
            return False
        return all(verdicts) if verdicts else None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "met": self.met, "seconds": round(self.seconds, 1),
                "error": self.error, "figures": [f.to_json() for f in self.figures],
                "notes": self.notes, "details": self.details}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.4f}".rstrip("0")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: ""}[met]


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def format_report(report: Report) -> str:
    rows = [(f.name, f"{_fmt(f.value)} {f.unit}".strip(), f.target, verdict(f.met)) for f in report.figures]
    text = [f"== {report.title} ({report.seconds:.0f} s) ==", table(rows, ("figure", "value", "target", ""))]
    if report.error:
        text.append(f"ERROR: {report.error}")
    text += [f"  - {note}" for note in report.notes]
    return "\n".join(text)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "memoryGiB": round(mem_kib / 1024 / 1024, 1), "cpu": cpu,
            "python": platform.python_version(), "platform": platform.platform(),
            "loadAverage": [round(x, 2) for x in os.getloadavg()],
            "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children) from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process in a process group (a stack service and its
    helpers, e.g. Azurite and the writer of its log)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, …
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_json(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def main(run: Callable[[bool], Report], argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, help="where to write the report (default bench/results/<name>.json)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only shows the benchmark works")
    args = parser.parse_args(argv)
    started = time.monotonic()
    report = run(args.smoke)
    report.seconds = time.monotonic() - started
    print(format_report(report), flush=True)
    data = {"machine": machine(), "smoke": args.smoke, "benchmark": report.to_json()}
    if args.json or not args.smoke:  # a smoke run's figures must not replace the real ones
        write_json(data, args.json or RESULTS / f"{report.name}.json")
    return 1 if report.error else 0


def run_guarded(name: str, title: str, body: Callable[[Report], None]) -> Report:
    """Runs body(report); an exception becomes report.error, so the other benchmarks still run."""
    report = Report(name, title)
    try:
        body(report)
    except Exception as exc:  # a benchmark that breaks reports why instead of hiding the others
        import traceback

        traceback.print_exc(file=sys.stderr)
        report.error = f"{type(exc).__name__}: {exc}"
    return report
