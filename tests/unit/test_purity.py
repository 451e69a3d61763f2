"""Orchestrators import only the pure domain, and the pure domain stays deterministic:
no I/O, no environment, no clock, no randomness. Checked on the source, transitively:
whatever an orchestrator imports, and whatever that imports in turn, must be pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.import_graph import ROOT, import_graph, imported_modules, project_modules, reachable, write_tree

PURE_DOMAIN = {"shared", "shared.errors", "shared.frames", "shared.job_spec", "shared.job_document",
               "shared.names", "shared.paths", "shared.planning"}
# What the pure domain may use besides itself: the standard library's pure parts.
PURE_STDLIB = {"__future__", "bisect", "collections.abc", "dataclasses", "enum", "hashlib", "itertools", "re",
               "typing", "unicodedata"}
# What an orchestrator may use besides the pure domain: the Durable SDK (its context is the
# only clock and the only source of I/O an orchestrator has) and logging guarded by is_replaying.
ORCHESTRATOR_LIBRARIES = {"__future__", "collections.abc", "datetime", "logging", "typing",
                          "azure.durable_functions"}
FORBIDDEN_ATTRIBUTES = {"environ", "getenv", "now", "utcnow", "today", "time", "urandom", "uuid4"}
FORBIDDEN_NAMES = {"open", "print", "input", "__import__"}


def _outside_imports(module: str, path: Path, project: set[str]) -> set[str]:
    """The module's imports that are not project modules (nor names inside one)."""
    return {n for n in imported_modules(module, path) if n.split(".")[0] not in top_level(project)}


def top_level(project: set[str]) -> set[str]:
    return {m.split(".")[0] for m in project}


def purity_violations(root: Path) -> list[str]:
    """Why the orchestrators under root are not confined to the pure domain (empty if they are)."""
    modules = project_modules(root)
    project = set(modules)
    graph = import_graph(root)
    problems: list[str] = []
    orchestrators = [m for m in modules if m == "orchestrators" or m.startswith("orchestrators.")]
    for module in orchestrators:
        for dep in sorted(reachable(graph, module) - PURE_DOMAIN - set(orchestrators)):
            problems.append(f"{module} reaches {dep}, which is not the pure domain")
        for name in sorted(_outside_imports(module, modules[module], project)):
            if not any(name == lib or name.startswith(lib + ".") for lib in ORCHESTRATOR_LIBRARIES):
                problems.append(f"{module} imports {name}")
    for module in sorted(PURE_DOMAIN & project):
        for name in sorted(_outside_imports(module, modules[module], project) - PURE_STDLIB):
            problems.append(f"{module} (pure domain) imports {name}")
        for dep in sorted(graph[module] - PURE_DOMAIN):
            problems.append(f"{module} (pure domain) imports {dep}")
    return problems


def test_orchestrators_reach_only_the_pure_domain():
    assert purity_violations(ROOT) == []


PURE_TREE = {"shared/__init__.py": "", "shared/names.py": "import re\n",
             "shared/planning.py": "from shared import names\n", "orchestrators/__init__.py": "",
             "orchestrators/job.py": "import azure.durable_functions as df\nfrom shared import planning\n"}


def test_the_check_passes_a_purewrite_tree(tmp_path):
    assert purity_violations(write_tree(tmp_path, PURE_TREE)) == []


@pytest.mark.parametrize(("files", "culprit"), [
    ({"orchestrators/job.py": "from shared.pipeline import steps\n",
      "shared/pipeline/__init__.py": "", "shared/pipeline/steps.py": ""}, "shared.pipeline.steps"),
    # Transitively: planning is pure, but it imports the composition root.
    ({"shared/planning.py": "from shared.bootstrap import services\n", "shared/bootstrap.py": ""},
     "shared.bootstrap"),
    # Inside a function is still an import.
    ({"orchestrators/job.py": "def f():\n    import shared.jobs\n", "shared/jobs.py": ""}, "shared.jobs"),
    ({"orchestrators/job.py": "import os\n"}, "os"),
    ({"shared/names.py": "import uuid\n"}, "uuid"),
])
def test_the_check_fails_an_orchestrator_that_reaches_outside_the_pure_domain(tmp_path, files, culprit):
    problems = purity_violations(write_tree(tmp_path, {**PURE_TREE, **files}))
    assert any(culprit in p for p in problems), problems


@pytest.mark.parametrize("module", sorted(PURE_DOMAIN))
def test_the_pure_domain_reads_no_clock_environment_or_file(module):
    path = project_modules()[module]
    tree = ast.parse(path.read_text())
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not attributes & FORBIDDEN_ATTRIBUTES, attributes & FORBIDDEN_ATTRIBUTES
    assert not names & FORBIDDEN_NAMES, names & FORBIDDEN_NAMES
