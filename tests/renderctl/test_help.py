"""renderctl installs as a console script, and its help is complete: every command and option says what it does."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib

import click

from renderctl.cli import cli
from stack.services import ROOT


def test_the_console_script_names_renderctls_entry_point():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["renderctl"].partition(":")
    assert getattr(importlib.import_module(module), name) is importlib.import_module("renderctl.cli").main


def test_every_command_and_option_has_help():
    assert cli.help
    for name, command in cli.commands.items():
        assert command.help, f"{name} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help"
    for param in cli.params:
        if isinstance(param, click.Option):
            assert param.help, f"renderctl {param.opts} has no help"


def test_python_m_renderctl_lists_every_command():
    done = subprocess.run([sys.executable, "-m", "renderctl", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0
    for name in ("submit", "wait", "jobs", "show", "logs", "download", "cancel", "retry", "pause", "resume",
                 "priority", "history", "open"):
        assert f"  {name} " in done.stdout, name


def test_no_command_summary_is_cut_short_in_the_list():
    done = subprocess.run([sys.executable, "-m", "renderctl", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={"PYTHONPATH": str(ROOT), "COLUMNS": "100"})
    listing = done.stdout.split("Commands:")[1].splitlines()
    assert [line for line in listing if line.rstrip().endswith("...")] == []


def test_a_bad_argument_is_a_usage_error_not_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "renderctl", "--api", "http://127.0.0.1:9/api", "jobs", "--limit",
                           "0"], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "HOME": str(tmp_path)})
    assert done.returncode == 2
    assert "--limit" in done.stderr and "Traceback" not in done.stderr


def test_the_key_is_masked_in_the_process_title():
    from renderctl.cli import hide_key

    assert hide_key(["--key", "s3cret", "jobs"]) == ["--key", "***", "jobs"]
    assert hide_key(["--key=s3cret", "show", "job-1"]) == ["--key=***", "show", "job-1"]
    assert hide_key(["jobs"]) == ["jobs"]
