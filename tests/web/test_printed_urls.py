"""Where people learn the dashboard's address: `make up` (python -m stack up), `make demo`
and `renderctl open JOB`, each run as its users run it, and each printed URL opened for real."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from stack.local import StackInfo, api_request
from stack.services import ROOT, free_port
from tests.e2e.conftest import upload
from tests.renderctl.conftest import renderctl

pytestmark = pytest.mark.slow


def stack_command(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "stack", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def printed(label: str, output: str) -> str:
    found = re.search(rf"^\s*{label}:\s+(\S+)", output, re.MULTILINE)
    assert found, f"no {label!r} line in:\n{output}"
    return found.group(1)


def fetch_page(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


def test_make_up_prints_the_dashboard_url_and_the_page_is_there(tmp_path):
    data_dir = tmp_path / "stack"
    ports = {name: str(free_port()) for name in ("azurite", "cosmos", "localbatch", "devhost")}
    up = stack_command("up", "--data-dir", str(data_dir), *(a for n, p in ports.items() for a in (f"--{n}-port", p)),
                       cwd=tmp_path, timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        url = printed("Dashboard", up.stdout)
        assert url == f"http://127.0.0.1:{ports['devhost']}/api/ui/"
        status, content_type, body = fetch_page(url)
        assert status == 200 and content_type.startswith("text/html") and 'src="js/main.js"' in body
        assert printed("Dashboard", stack_command("status", "--data-dir", str(data_dir), cwd=tmp_path,
                                                  timeout=60).stdout) == url
    finally:
        stack_command("down", "--data-dir", str(data_dir), cwd=tmp_path, timeout=120)


def test_make_demo_prints_the_dashboard_and_the_jobs_page(tmp_path):
    demo = stack_command("demo", "--data-dir", str(tmp_path / "demo"), "--out", str(tmp_path / "out"),
                         "--frames", "2", cwd=tmp_path, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    dashboard = printed("Dashboard", demo.stdout)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/ui/", dashboard)
    job_id = re.search(r"job (job-[0-9a-f]{32})", demo.stdout).group(1)
    assert printed("Follow it on the dashboard", demo.stdout) == f"{dashboard}#/jobs/{job_id}"


def a_job(stack: StackInfo, tmp_path: Path) -> str:
    bad = tmp_path / "open-me.zip"
    bad.write_bytes(b"not a zip: the job fails fast, and it exists")
    upload(stack, bad, "open/open-me.zip")
    status, job = api_request(stack, "POST", "/jobs", {"bundle": "open/open-me.zip"})
    assert status == 202, job
    return str(job["id"])


def test_renderctl_open_prints_the_jobs_page_which_shows_that_job(stack, page, tmp_path):
    job_id = a_job(stack, tmp_path)
    env = {"HOME": str(tmp_path), "RENDER_API_URL": stack.api_url, "RENDER_API_KEY": stack.function_key}
    run = renderctl("open", job_id, env=env, cwd=tmp_path)
    assert run.code == 0, run.output
    url = run.stdout.strip()
    assert url == f"{stack.api_url}/ui/#/jobs/{job_id}"
    assert stack.function_key not in run.output  # the page asks for the key; a URL never carries it

    page.goto(url)
    page.locator("#key-input").fill(stack.function_key)
    page.locator("#key-save").click()
    expect(page.locator("main h1")).to_have_text("open-me.zip")
    assert not page.errors_


def test_renderctl_open_refuses_a_job_that_does_not_exist(stack, tmp_path):
    env = {"HOME": str(tmp_path), "RENDER_API_URL": stack.api_url, "RENDER_API_KEY": stack.function_key}
    run = renderctl("open", "job-0123456789abcdef0123456789abcdef", env=env, cwd=tmp_path)
    assert run.code == 1 and "404 not_found" in run.stderr and "/ui/" not in run.stdout


def test_renderctl_open_browser_hands_the_url_to_the_browser(stack, tmp_path):
    job_id = a_job(stack, tmp_path)
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"  # a stand-in browser: webbrowser runs $BROWSER with the URL
    browser.write_text(f"import sys\nopen({str(opened)!r}, 'a').write(sys.argv[1] + '\\n')\n")
    env = {"HOME": str(tmp_path), "RENDER_API_URL": stack.api_url, "RENDER_API_KEY": stack.function_key,
           "BROWSER": f"{sys.executable} {browser} %s"}
    run = renderctl("open", job_id, "--browser", env=env, cwd=tmp_path)
    assert run.code == 0, run.output
    assert opened.read_text().splitlines() == [f"{stack.api_url}/ui/#/jobs/{job_id}"] == [run.stdout.strip()]
