"""The Batch pool start task installs a checksum-verified Blender, idempotently.

The script runs here for real against a file:// stand-in for the Blender release
archive (curl reads file:// URLs), with apt-get and ffmpeg replaced by stubs on
PATH, so nothing is installed on this machine and no network is used.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.infra import bicep

SCRIPT = bicep.INFRA / "scripts" / "pool-start-task.sh"
VERSION = "9.8.7"
NAME = f"blender-{VERSION}-linux-x64"


def _tarball(marker: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
        body = f"#!/bin/sh\necho 'Blender {VERSION} ({marker})'\necho 'build details'\n".encode()
        info = tarfile.TarInfo(f"{NAME}/blender")
        info.size, info.mode = len(body), 0o755
        archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


@pytest.fixture
def node(tmp_path: Path) -> dict[str, Path]:
    archive = tmp_path / "archive" / f"Blender{VERSION.rsplit('.', 1)[0]}"
    archive.mkdir(parents=True)
    tarball = _tarball("official")
    (archive / f"{NAME}.tar.xz").write_bytes(tarball)
    digest = hashlib.sha256(tarball).hexdigest()
    (archive / f"blender-{VERSION}.sha256").write_text(
        f"{'0' * 64}  blender-{VERSION}-windows-x64.zip\n{digest}  {NAME}.tar.xz\n")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for tool, body in (("apt-get", 'echo "$*" >> "$APT_LOG"'), ("ffmpeg", "echo 'ffmpeg version stub'")):
        (stubs / tool).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / tool).chmod(0o755)
    for name in ("shared", "bin"):
        (tmp_path / name).mkdir()
    return {"root": tmp_path, "archive": archive, "stubs": stubs, "shared": tmp_path / "shared",
            "bin": tmp_path / "bin", "apt_log": tmp_path / "apt.log"}


def _run(node: dict[str, Path], umask: str = "022", **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{node['stubs']}:{os.environ['PATH']}",
        "AZ_BATCH_NODE_SHARED_DIR": str(node["shared"]),
        "BLENDER_LINK_DIR": str(node["bin"]),
        "BLENDER_BASE_URL": (node["root"] / "archive").as_uri(),
        "BLENDER_VERSION": VERSION,
        "APT_LOG": str(node["apt_log"]),
        **extra,
    }
    command = ["/bin/bash", "-c", f'umask {umask}; exec /bin/bash "$0"', str(SCRIPT)]
    return subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_installs_verified_blender_and_the_apt_packages(node: dict[str, Path]) -> None:
    result = _run(node)
    assert result.returncode == 0, result.stderr
    assert f"Blender {VERSION} (official)" in result.stdout
    assert (node["bin"] / "blender").resolve() == (node["shared"] / "blender" / NAME / "blender").resolve()
    installs = node["apt_log"].read_text()
    assert re.search(r"install .*\bffmpeg\b", installs) and re.search(r"install .*\bpython3\b", installs)
    assert not list(node["shared"].glob("blender-download.*")), "download scratch space left behind"


def test_blender_stays_readable_and_runnable_by_non_admin_task_users_under_a_strict_umask(
        node: dict[str, Path]) -> None:
    """Tasks run as task-scope non-admin auto-users, not as the start task's admin."""
    result = _run(node, umask="077")
    assert result.returncode == 0, result.stderr
    tree = node["shared"] / "blender"
    for path in [tree, *tree.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        assert mode & stat.S_IROTH, f"{path} is not readable by other users"
        if path.is_dir():
            assert mode & stat.S_IXOTH, f"{path} cannot be entered by other users"
    assert (tree / NAME / "blender").stat().st_mode & stat.S_IXOTH, "blender is not runnable by other users"


def test_rerun_after_reboot_keeps_the_installed_blender_without_downloading(node: dict[str, Path]) -> None:
    assert _run(node).returncode == 0
    for path in node["archive"].iterdir():
        path.unlink()  # the archive is unreachable now
    result = _run(node)
    assert result.returncode == 0, result.stderr
    assert f"Blender {VERSION} (official)" in result.stdout


def test_tampered_tarball_is_rejected_and_nothing_is_installed(node: dict[str, Path]) -> None:
    (node["archive"] / f"{NAME}.tar.xz").write_bytes(_tarball("tampered"))
    result = _run(node)
    assert result.returncode != 0
    assert not (node["shared"] / "blender" / NAME).exists()
    assert not (node["bin"] / "blender").exists()


def test_pinned_checksum_overrides_the_published_one(node: dict[str, Path]) -> None:
    assert _run(node, BLENDER_SHA256="f" * 64).returncode != 0
    pinned = hashlib.sha256((node["archive"] / f"{NAME}.tar.xz").read_bytes()).hexdigest()
    (node["archive"] / f"blender-{VERSION}.sha256").unlink()
    assert _run(node, BLENDER_SHA256=pinned).returncode == 0


@pytest.mark.parametrize("version", ["", "5.0.1; rm -rf /", "../5.0", "latest"])
def test_malformed_version_is_refused_before_anything_runs(node: dict[str, Path], version: str) -> None:
    result = _run(node, BLENDER_VERSION=version)
    assert result.returncode != 0
    assert not node["apt_log"].exists()


def test_pool_runs_this_script_and_its_command_line_stays_short() -> None:
    batch = bicep.module("batch")
    script = bicep.variable(batch, "startTaskScript")["function"]
    assert script["type"] == "base64"
    loaded = script["parameters"]["input_string"]["function"]
    assert loaded["type"] == "load_text_content"
    assert (bicep.MODULES / loaded["parameters"]["file_path"]).resolve() == SCRIPT.resolve()
    command = batch["resources"]["pool"]["config"]["properties"]["startTask"]["commandLine"]
    assert "${startTaskScript}" in command
    encoded = command.replace("${startTaskScript}", base64.b64encode(SCRIPT.read_bytes()).decode())
    assert len(encoded) < 8000, "keep the start task command line under Batch's practical limit"


def test_script_has_unix_line_endings() -> None:
    """It is embedded byte for byte; a CRLF checkout would break bash on the node."""
    assert b"\r" not in SCRIPT.read_bytes()
