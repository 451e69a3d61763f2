"""Orchestrators import the pure domain (frames, job spec, job document, planning, names), so it stays deterministic:
no I/O, no environment, no clock, no randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"__future__", "bisect", "collections.abc", "dataclasses", "enum", "hashlib", "itertools", "re",
           "typing", "shared.errors", "shared.frames", "shared.job_spec",
           "shared.job_document", "shared.paths"}
FORBIDDEN_ATTRIBUTES = {"environ", "getenv", "now", "utcnow", "today", "time", "urandom", "uuid4"}
FORBIDDEN_NAMES = {"open", "print", "input", "__import__"}


@pytest.mark.parametrize("module", ["shared/frames.py", "shared/job_spec.py", "shared/job_document.py",
                                    "shared/paths.py", "shared/planning.py"])
def test_orchestrator_modules_import_only_pure_things(module):
    tree = ast.parse((ROOT / module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported <= ALLOWED, imported - ALLOWED
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not attributes & FORBIDDEN_ATTRIBUTES, attributes & FORBIDDEN_ATTRIBUTES
    assert not names & FORBIDDEN_NAMES, names & FORBIDDEN_NAMES
