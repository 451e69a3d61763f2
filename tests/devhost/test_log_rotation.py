"""Azurite's request log rotated by size (stack/log_writer.py) and read across rotations
(devhost/request_log.py): whole lines only, a bounded number of files, and a watcher that
misses no marker and delivers none twice while the log rotates under it, also across a
restart with rotations made while it was down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from devhost.request_log import LogPosition, committed_write, end_of, read_new_lines
from stack.log_writer import RotatingLog
from stack.services import Azurite, start_azurite
from tests.devhost.harness import wait_for
from tests.devhost.test_blob_watcher_many_blobs import events, started

ACCOUNT = "devstoreaccount1"


def line(name: str) -> bytes:
    return f'127.0.0.1 - - [01/Dec/2026:10:26:41 +0000] "PUT /{ACCOUNT}/c/{name} HTTP/1.1" 201 -\n'.encode()


def names_in(lines: list[str]) -> list[str]:
    return [w[1] for x in lines if (w := committed_write(x, ACCOUNT))]


def read_all(log: Path, position: LogPosition | None) -> tuple[list[str], LogPosition | None]:
    found: list[str] = []
    for _ in range(50):
        lines, position = read_new_lines(log, position)
        if not lines:
            break
        found += names_in(lines)
    return found, position


def test_the_writer_rotates_at_line_boundaries_and_keeps_a_bounded_number_of_files(tmp_path: Path) -> None:
    log = tmp_path / "azurite.log"
    writer = RotatingLog(log, max_bytes=500, keep=2)
    data = b"".join(line(f"b{n:03d}.json") for n in range(60))
    for start in range(0, len(data), 37):  # pipe reads end anywhere, mid-line included
        writer.write(data[start:start + 37])
    writer.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["azurite.log", "azurite.log.1", "azurite.log.2"]
    for f in files:
        text = f.read_bytes()
        assert text.endswith(b"\n") or (f == log and not text)  # the new file may be empty yet
        assert all(x.startswith(b"127.0.0.1 ") for x in text.splitlines())
        assert f.stat().st_size < 500 + len(line("b000.json"))
    kept = [n for f in reversed(files[1:]) for n in names_in(f.read_text().splitlines())]
    kept += names_in(log.read_text().splitlines())
    assert kept == [f"b{n:03d}.json" for n in range(60 - len(kept), 60)]  # the newest, in order


def test_a_line_cut_off_when_the_command_ended_is_ended_in_the_log(tmp_path: Path) -> None:
    writer = RotatingLog(tmp_path / "a.log", max_bytes=10_000, keep=1)
    writer.write(line("whole.json") + b"Azurite Blob service is clos")
    writer.close()
    assert (tmp_path / "a.log").read_bytes().endswith(b"service is clos\n")


def test_the_reader_finishes_a_rotated_file_then_reads_the_newer_ones(tmp_path: Path) -> None:
    log = tmp_path / "azurite.log"
    writer = RotatingLog(log, max_bytes=400, keep=3)
    writer.write(line("a0.json") + line("a1.json"))
    position = end_of(log)
    assert position is not None
    writer.write(line("a2.json"))                     # unread when the rotations come
    for n in range(3, 12):                            # two rotations past the unread line
        writer.write(line(f"a{n}.json"))
    assert (tmp_path / "azurite.log.2").exists()
    found, position = read_all(log, position)
    assert found == [f"a{n}.json" for n in range(2, 12)]  # nothing skipped, nothing twice
    writer.write(line("a12.json"))
    assert read_all(log, position)[0] == ["a12.json"]


def test_a_rotated_file_cut_mid_line_does_not_stop_the_reader(tmp_path: Path) -> None:
    log = tmp_path / "azurite.log"
    old = tmp_path / "azurite.log.1"
    old.write_bytes(line("a.json") + line("cut.json")[:30])  # written by something else, no newline
    position = LogPosition(old.stat().st_ino, len(line("a.json")))
    log.write_bytes(line("b.json"))
    found, _ = read_all(log, position)
    assert found == ["b.json"]


def test_a_file_rotated_away_before_it_was_read_is_left_for_the_listing(tmp_path: Path) -> None:
    log = tmp_path / "azurite.log"
    (tmp_path / "azurite.log.1").write_bytes(line("kept1.json"))
    log.write_bytes(line("kept2.json"))
    gone = LogPosition(inode=1, offset=50)  # its file no longer exists
    found, position = read_all(log, gone)
    assert found == ["kept1.json", "kept2.json"]  # every line still there, from the oldest file
    assert position is not None and position.inode == log.stat().st_ino


def test_while_the_new_file_is_not_there_yet_nothing_is_read_and_the_position_holds(tmp_path: Path) -> None:
    log = tmp_path / "azurite.log"
    (tmp_path / "azurite.log.1").write_bytes(line("x.json"))
    position = LogPosition((tmp_path / "azurite.log.1").stat().st_ino, 0)
    assert read_new_lines(log, position) == ([], position)


@pytest.fixture
def azurite(tmp_path: Path) -> Iterator[tuple[Azurite, ContainerClient]]:
    # ~24 request lines per file: the uploads below rotate it dozens of times
    service = start_azurite(tmp_path / "azurite", request_log=True, log_max_bytes=2_000)
    try:
        container = BlobServiceClient.from_connection_string(service.connection_string).create_container("renders")
        yield service, container
    finally:
        service.stop()


def marker_counts(work: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events(work):
        counts[event["subject"]] = counts.get(event["subject"], 0) + 1
    return counts


def subject(name: str) -> str:
    return f"/blobServices/default/containers/renders/blobs/{name}"


@pytest.mark.slow
def test_the_watcher_misses_no_marker_and_repeats_none_while_the_log_rotates(
        azurite: tuple[Azurite, ContainerClient], tmp_path: Path) -> None:
    service, container = azurite
    log = service.log_path
    work = tmp_path / "devhost"
    host = started(service, work, full_listing=3600)  # only the feed can find them in time
    expected: list[str] = []
    try:
        for n in range(40):
            for f in range(3):  # frames between markers: lines that rotate the log, no events
                container.upload_blob(f"job{n:02d}/frames/{f:04d}.png", b"f", overwrite=True)
            expected.append(f"job{n:02d}/chunks/t{n}.json")
            container.upload_blob(expected[-1], b"{}", overwrite=True)
        assert wait_for(lambda: len(events(work)) >= len(expected), timeout=20), host.stderr()[-3000:]
    finally:
        assert host.stop() == 0
    rotations_seen = log.with_name("azurite.log.2").exists()
    # While devhost is down: more markers, and enough frames to rotate past the stored
    # position more than once (at most two older files are kept).
    stopped_in = log.stat().st_ino  # the file devhost's stored position points into
    for n in range(40, 50):
        for f in range(3):
            container.upload_blob(f"job{n:02d}/frames/{f:04d}.png", b"f", overwrite=True)
        expected.append(f"job{n:02d}/chunks/t{n}.json")
        container.upload_blob(expected[-1], b"{}", overwrite=True)
    # That file was rotated while devhost was down, and is still one of the two kept.
    rotated = {log.with_name(f"azurite.log.{n}").stat().st_ino for n in (1, 2)}
    assert stopped_in in rotated and log.stat().st_ino not in rotated
    host = started(service, work, full_listing=3600, data_dir=host.data_dir)
    try:
        assert wait_for(lambda: len(events(work)) >= len(expected), timeout=20), host.stderr()[-3000:]
        time.sleep(1.0)  # more feed reads: nothing may come twice
    finally:
        host.stop()
    assert rotations_seen
    assert marker_counts(work) == {subject(name): 1 for name in expected}
    assert len(list(log.parent.glob("azurite.log*"))) == 3  # the log and two older files, no more


def test_between_two_renames_of_a_rotation_the_older_file_is_still_found(tmp_path: Path) -> None:
    log = tmp_path / "azurite.log"
    older = tmp_path / "azurite.log.2"  # `.1` has just become `.2`; the log is not yet `.1`
    older.write_bytes(line("read.json") + line("unread.json"))
    log.write_bytes(line("newest.json"))
    position = LogPosition(older.stat().st_ino, len(line("read.json")))
    found, _ = read_all(log, position)
    assert found == ["unread.json", "newest.json"]


def test_the_writer_passes_on_the_commands_exit_code_and_keeps_its_last_lines(tmp_path: Path) -> None:
    import subprocess
    import sys

    log = tmp_path / "out.log"
    script = "import sys; [print(f'line {n}') for n in range(30)]; print('no newline', end=''); sys.exit(3)"
    done = subprocess.run([sys.executable, "-m", "stack.log_writer", "--path", str(log), "--max-bytes", "100",
                           "--keep", "5", "--", sys.executable, "-c", script], timeout=60)
    assert done.returncode == 3
    files = [tmp_path / f"out.log.{n}" for n in range(5, 0, -1)] + [log]
    text = "".join(f.read_text() for f in files if f.exists())
    assert text.endswith("line 29\nno newline\n")
    assert all(f.stat().st_size < 100 + len("line 29\n") for f in files if f.exists())
