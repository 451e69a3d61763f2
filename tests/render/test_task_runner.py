"""shared/node/task_runner.py: bundle safety, running the command, output checks and the marker."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.render.helpers import NODE

RUNNER = NODE / "task_runner.py"


def run_runner(cwd: Path, *options: str, command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUNNER), "--task-id", "chunk-0001", "--marker", "out/marker.json",
                           *options, "--", *command], cwd=cwd, capture_output=True, text=True, timeout=120)


def marker(cwd: Path) -> dict[str, object]:
    return json.loads((cwd / "out" / "marker.json").read_text())


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_success_streams_output_and_writes_a_succeeded_marker(tmp_path: Path) -> None:
    write = ("import pathlib; pathlib.Path('f').mkdir(); pathlib.Path('f/a_0001.png').write_bytes(b'x'); "
             "print('CHILD OUT')")
    result = run_runner(tmp_path, "--kind", "render", "--frames", "1-3,7", "--expect", "f/a_0001.png",
                        command=py(write))
    assert result.returncode == 0, result.stderr
    assert "CHILD OUT" in result.stdout
    m = marker(tmp_path)
    assert m["status"] == "succeeded" and m["exitCode"] == 0 and m["childExitCode"] == 0
    assert m["taskId"] == "chunk-0001" and m["kind"] == "render"
    assert m["frames"] == [1, 2, 3, 7]
    assert m["expected"] == {"present": ["f/a_0001.png"], "missing": []}
    assert isinstance(m["seconds"], float) and m["error"] is None


def test_a_failing_command_fails_the_task_with_its_exit_code(tmp_path: Path) -> None:
    fail = py("import sys; print('oops', file=sys.stderr); sys.exit(3)")
    result = run_runner(tmp_path, "--frames", "5", command=fail)
    assert result.returncode == 3
    assert "oops" in result.stderr
    m = marker(tmp_path)
    assert m["status"] == "failed" and m["exitCode"] == 3 and m["frames"] == [5]


def test_missing_or_empty_frames_fail_a_command_that_exited_zero(tmp_path: Path) -> None:
    code = "open('a_0001.png', 'wb').write(b'png'); open('a_0002.png', 'wb').close()"
    result = run_runner(tmp_path, "--expect", "a_0001.png", "--expect", "a_0002.png", "--expect", "a_0003.png",
                        command=py(code))
    assert result.returncode == 68
    m = marker(tmp_path)
    assert m["status"] == "failed" and m["childExitCode"] == 0 and m["exitCode"] == 68
    assert m["expected"] == {"present": ["a_0001.png"], "missing": ["a_0002.png", "a_0003.png"]}
    assert "missing" in str(m["error"])


def test_program_not_found_and_timeout(tmp_path: Path) -> None:
    assert run_runner(tmp_path, command=["no-such-program-xyz"]).returncode == 127
    assert marker(tmp_path)["status"] == "failed"
    result = run_runner(tmp_path, "--timeout", "1", command=py("import time; time.sleep(30)"))
    assert result.returncode == 124
    assert "timeout" in str(marker(tmp_path)["error"])


def make_zip(path: Path, entries: list[tuple[str, bytes]], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_a_safe_bundle_is_unpacked_before_the_command_runs(tmp_path: Path) -> None:
    make_zip(tmp_path / "scene.zip", [("shot.blend", b"blend"), ("tex/wood.png", b"img"), ("render.json", b"{}")])
    result = run_runner(tmp_path, "--bundle", "scene.zip", "--extract-to", "bundle",
                        command=py("import os; print(sorted(os.listdir('bundle')))"))
    assert result.returncode == 0, result.stderr
    assert "['render.json', 'shot.blend', 'tex']" in result.stdout
    assert (tmp_path / "bundle" / "tex" / "wood.png").read_bytes() == b"img"


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize(("entries", "symlink", "limits"), [
    ([("../evil.txt", b"x")], None, ()),
    ([("/tmp/abs.txt", b"x")], None, ()),
    ([("ok/../../evil.txt", b"x")], None, ()),
    ([("..\\evil.txt", b"x")], None, ()),
    ([("C:/evil.txt", b"x")], None, ()),
    ([("shot.blend", b"x")], "link", ()),
    ([(f"f{i}.txt", b"x") for i in range(6)], None, ("--max-entries", "5")),
    ([("big.bin", b"\0" * 5000)], None, ("--max-bytes", "4096")),
    ([("a.txt", b"1"), ("a.txt", b"2")], None, ()),
])
def test_unsafe_bundles_are_rejected_and_the_command_never_runs(
        tmp_path: Path, entries: list[tuple[str, bytes]], symlink: str | None, limits: tuple[str, ...]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    make_zip(work / "scene.zip", entries, symlink=symlink)
    result = run_runner(work, "--bundle", "scene.zip", "--extract-to", "bundle", *limits,
                        command=py("open('ran', 'w').close()"))
    assert result.returncode == 65
    assert not (work / "ran").exists()
    m = marker(work)
    assert m["status"] == "failed" and "bad bundle" in str(m["error"])
    assert not (tmp_path / "evil.txt").exists() and not (work / "evil.txt").exists()
    assert not (work / "bundle").exists() or not any((work / "bundle").rglob("*"))


def test_a_bundle_that_is_not_a_zip_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "scene.zip").write_bytes(b"not a zip")
    result = run_runner(tmp_path, "--bundle", "scene.zip", command=py("pass"))
    assert result.returncode == 65


def test_parse_frames() -> None:
    from shared.node import task_runner

    assert task_runner.parse_frames("1-5x2,10,3") == [1, 3, 5, 10]
    with pytest.raises(ValueError):
        task_runner.parse_frames("5-1")
