"""A local stack for renderctl's end-to-end tests, and renderctl run as its users run it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.local import LocalStack, StackInfo
from stack.services import ROOT

SCENE_SCRIPT = Path(__file__).with_name("textured_scene.py")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    with LocalStack(tmp_path_factory.mktemp("stack"), settings_overrides={"POLL_INTERVAL_SECONDS": "2"}) as info:
        yield info


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def renderctl(*args: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> Run:
    """`python -m renderctl ARGS` in a process of its own, as a user's shell runs it."""
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "COLUMNS": "160", **env}
    done = subprocess.run([sys.executable, "-m", "renderctl", *args], env=full_env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def textured_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenes") / "shot020"
    folder.mkdir()
    subprocess.run([sys.executable, str(SCENE_SCRIPT), str(folder)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return folder
