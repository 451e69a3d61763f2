"""bench/asset_upload.py in its smoke mode: it runs, and a second submit uploads only the change."""

from __future__ import annotations

import pytest

from bench import asset_upload

pytestmark = pytest.mark.slow


def test_the_asset_upload_benchmark_runs_in_smoke_mode():
    report = asset_upload.run(smoke=True)
    assert report.error is None
    figures = {f.name: f for f in report.figures}
    assert figures["second submit uploaded / changed bytes"].value == 1.0
    assert figures["second submit bytes skipped"].value > 0
