"""What `azd deploy` ships holds everything the dashboard needs, and the page needs nothing
from outside the app (no CDN): the deploy file list is built as azd builds it, from
azure.yaml's service folder less the .funcignore patterns (gitignore syntax)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pathspec
import yaml

from triggers.web_ui import static_files

ROOT = Path(__file__).resolve().parents[2]


def deploy_files() -> set[str]:
    config = yaml.safe_load((ROOT / "azure.yaml").read_text())
    project = (ROOT / config["services"]["api"]["project"]).resolve()
    ignore = pathspec.PathSpec.from_lines("gitignore", (project / ".funcignore").read_text().splitlines())
    shipped: set[str] = set()
    for folder, dirs, files in os.walk(project):
        rel = Path(folder).relative_to(project)
        dirs[:] = [d for d in dirs if not ignore.match_file(f"{(rel / d).as_posix()}/")]
        for name in files:
            path = (rel / name).as_posix()
            if not ignore.match_file(path):
                shipped.add(path)
    return shipped


REFERENCE = re.compile(r"""(?:src|href)="([^"#]+)"|(?:import|from)\s*\(?\s*["']([^"']+)["']""")


def page_files(start: str = "index.html") -> set[str]:
    """index.html and everything it loads, transitively through the modules' imports."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        text = (ROOT / "web" / current).read_text()
        for match in REFERENCE.finditer(text):
            ref = match.group(1) or match.group(2)
            assert not re.match(r"^(https?:)?//", ref), f"{current} loads {ref} from outside the app"
            if ref.startswith("#"):
                continue
            target = (Path(current).parent / ref).as_posix()
            target = os.path.normpath(target)
            assert (ROOT / "web" / target).is_file(), f"{current} refers to missing {target}"
            todo.append(target)
    return seen


def test_the_deploy_package_holds_every_file_the_page_loads():
    shipped = deploy_files()
    needed = page_files()
    assert {"index.html", "app.css", "js/main.js", "js/api.js", "js/job.js", "js/submit.js"} <= needed
    missing = sorted(f"web/{name}" for name in needed if f"web/{name}" not in shipped)
    assert not missing, f"azd deploy would leave out {missing}"
    assert {"function_app.py", "triggers/web_ui.py", "host.json"} <= shipped


def test_everything_served_is_shipped_and_the_package_leaves_out_tests():
    shipped = deploy_files()
    assert {f"web/{name}" for name in static_files()} <= shipped
    assert not any(p.startswith(("tests/", "docs/", ".venv/", "node_modules/")) for p in shipped)


OUTSIDE = re.compile(r"""(?:(?:src=|href=|import[ \t]*\(?|from|fetch\()[ \t]*["']|url\([ \t]*["']?)"""
                     r"""[ \t]*(https?:)?//""")


def test_no_web_file_loads_anything_from_the_internet():
    for path in (ROOT / "web").rglob("*"):
        if path.suffix in {".html", ".js", ".css"}:
            text = path.read_text()
            assert not OUTSIDE.search(text), path
            assert "<script>" not in text and " on" + "click=" not in text  # no inline script for the CSP to block
