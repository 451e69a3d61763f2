"""checkov scans infra/ offline and finds nothing but documented, deliberate exceptions.

checkov's pins conflict with the app's, so it lives in its own virtualenv
(.venv-checkov, from requirements-checkov.txt). The binary is found through
CHECKOV_BIN, then .venv-checkov/bin/checkov, then /tmp/setup/ck/bin/checkov.
Every exception is a `//checkov:skip=CKV_...:reason` comment inside the resource
it concerns; the reasons are summarised in docs/DEPLOY.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.infra import bicep

CANDIDATES = (bicep.REPO / ".venv-checkov" / "bin" / "checkov", Path("/tmp/setup/ck/bin/checkov"))
SKIP_COMMENT = re.compile(r"//\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?$", re.MULTILINE)
MIN_REASON = 20


def checkov_bin() -> Path:
    configured = os.environ.get("CHECKOV_BIN")
    if configured:
        return Path(configured)
    for candidate in CANDIDATES:
        if candidate.exists():
            return candidate
    pytest.fail("checkov not found: create .venv-checkov from requirements-checkov.txt "
                "(python3.11 -m venv .venv-checkov && .venv-checkov/bin/pip install -r requirements-checkov.txt) "
                "or set CHECKOV_BIN")


@cache
def scan() -> dict[str, Any]:
    binary = checkov_bin()
    if not binary.exists():
        pytest.fail(f"CHECKOV_BIN={binary} does not exist")
    # No platform API key and no downloads: the scan must work without a network.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BC_", "PRISMA_", "CKV_", "CHECKOV_"))}
    env.update({"BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"})
    proc = subprocess.run(
        [str(binary), "-d", str(bicep.INFRA), "--framework", "bicep", "--skip-download", "--compact",
         "--output", "json"],
        capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode not in (0, 1):  # 1 means "some check failed", still a report
        pytest.fail(f"checkov exited {proc.returncode}: {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    if isinstance(report, list):  # one report per framework
        report = next(r for r in report if r.get("check_type") == "bicep")
    if "results" not in report:
        pytest.fail(f"checkov found nothing to scan: {report}")
    return report


def _where(check: dict[str, Any]) -> str:
    return f"{check['check_id']} ({check.get('check_name')}) on {check['resource']} in {check['file_path']}"


def test_checkov_reports_no_failed_check_and_no_parsing_error() -> None:
    report = scan()
    failed = [_where(c) for c in report["results"]["failed_checks"]]
    assert not failed, "fix these or add a //checkov:skip=ID:reason inside the resource:\n" + "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0, report["results"].get("parsing_errors")
    assert report["summary"]["passed"] > 0 and report["summary"]["resource_count"] > 20


def _skip_comments() -> dict[tuple[str, str], str]:
    comments = {}
    for path in bicep.bicep_files():
        for match in SKIP_COMMENT.finditer(path.read_text()):
            comments[(path.name, match.group(1))] = (match.group(2) or "").strip()
    return comments


def test_every_skip_has_a_reason() -> None:
    comments = _skip_comments()
    assert comments, "expected the documented exceptions"
    short = {k: v for k, v in comments.items() if len(v) < MIN_REASON}
    assert not short, f"skip comments need a reason of at least {MIN_REASON} characters: {short}"


def test_every_skip_comment_is_still_needed() -> None:
    """A skip for a check that no longer fires is stale documentation: remove it."""
    skipped = {(Path(c["file_path"]).name, c["check_id"]) for c in scan()["results"]["skipped_checks"]}
    stale = set(_skip_comments()) - skipped
    assert not stale, f"stale checkov skips: {sorted(stale)}"


def test_deploy_doc_lists_every_skipped_check() -> None:
    doc = (bicep.REPO / "docs" / "DEPLOY.md").read_text()
    missing = sorted({check for _, check in _skip_comments()} - set(re.findall(r"CKV2?_AZURE_\d+", doc)))
    assert not missing, f"docs/DEPLOY.md does not explain {missing}"
