"""Every benchmark in bench/ runs end to end in its tiny --smoke mode, so none can rot unseen
(a rename in stack/, a changed API, a helper that moved): the whole `python -m bench` path,
each benchmark in its own process, as `make bench` runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent


def benchmark_modules() -> set[str]:
    """The modules of bench/ that are benchmarks: the ones main(run) drives."""
    return {p.stem for p in (ROOT / "bench").glob("*.py")
            if "raise SystemExit(main(run))" in p.read_text()}


def test_every_benchmark_module_is_run_by_make_bench() -> None:
    assert benchmark_modules() == set(BENCHMARKS)


@pytest.mark.slow
def test_every_benchmark_runs_in_smoke_mode(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    latest = ROOT / "bench" / "results" / "latest.json"
    before = latest.read_bytes() if latest.exists() else None
    proc = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["smoke"] is True
    reports = {r["name"]: r for r in result["benchmarks"]}
    assert set(reports) == set(BENCHMARKS)
    for name, report in reports.items():
        assert report["error"] is None, f"{name}: {report['error']}\n{proc.stderr[-3000:]}"
        assert report["figures"], name
        missing = [f["name"] for f in report["figures"] if f["value"] is None]
        assert not missing, f"{name}: no value for {missing}"
    assert proc.returncode == 0, proc.stderr[-3000:]
    # a smoke run leaves the published figures alone
    assert (latest.read_bytes() if latest.exists() else None) == before
