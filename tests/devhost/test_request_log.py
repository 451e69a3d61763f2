"""Reading Azurite's request log as a change feed: which lines are commits, and reading
only what was appended, across partial lines, restarts and a replaced file."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost.request_log import MAX_READ, LogPosition, committed_write, end_of, read_new_lines, write_api

ACCOUNT = "devstoreaccount1"


def line(method: str, url: str, status: int = 201) -> str:
    return f'127.0.0.1 - - [01/Dec/2026:10:26:41 +0000] "{method} {url} HTTP/1.1" {status} -'


@pytest.mark.parametrize(("url", "expected"), [
    ("/devstoreaccount1/renders/job/chunks/t1.json", ("renders", "job/chunks/t1.json")),
    ("/devstoreaccount1/renders/big.bin?comp=blocklist", ("renders", "big.bin")),
    ("/devstoreaccount1/renders/meta.json?comp=metadata", ("renders", "meta.json")),
    # Names are percent-encoded once: a literal "%2F" arrives as "%252F", a "+" as "%2B".
    ("/devstoreaccount1/renders/job%201/chunks/a%252F%2B%C3%A9.json", ("renders", "job 1/chunks/a%2F+é.json")),
    ("/devstoreaccount1/renders/line%0Abreak.json", ("renders", "line\nbreak.json")),
])
def test_successful_blob_writes_are_commits(url: str, expected: tuple[str, str]) -> None:
    assert committed_write(line("PUT", url), ACCOUNT) == expected


@pytest.mark.parametrize(("method", "url", "status"), [
    ("PUT", "/devstoreaccount1/renders/big.bin?comp=block&blockid=MDAw", 201),  # staged, not committed
    ("PUT", "/devstoreaccount1/renders?restype=container", 201),              # a container
    ("PUT", "/devstoreaccount1/renders/x.json?comp=lease", 200),               # no new version
    ("PUT", "/devstoreaccount1/renders/x.json", 412),                          # refused
    ("PUT", "/devstoreaccount1/renders/x.json", 500),
    ("GET", "/devstoreaccount1/renders/x.json", 200),
    ("DELETE", "/devstoreaccount1/renders/x.json", 202),
    ("PUT", "/otheraccount/renders/x.json", 201),                              # another account
    ("PUT", "/devstoreaccount1/renders/", 201),                                # no blob name
    ("PUT", "/devstoreaccount1/renders/bad%FF%FE.json", 201),                  # not UTF-8
])
def test_everything_else_is_not_a_commit(method: str, url: str, status: int) -> None:
    assert committed_write(line(method, url, status), ACCOUNT) is None


@pytest.mark.parametrize("text", [
    "", "Azurite Blob service is starting on 127.0.0.1:10000",
    "    at BlobHandler.upload (/node_modules/azurite/dist/src/blob/handlers/BlockBlobHandler.js:80:19)",
    # A forged request line cannot start mid-line: a client's URL holds no raw quote or space.
    'error "PUT /devstoreaccount1/renders/forged.json HTTP/1.1" 201 -',
])
def test_other_output_in_the_log_is_ignored(text: str) -> None:
    assert committed_write(text, ACCOUNT) is None


@pytest.mark.parametrize(("url", "api"), [
    ("/devstoreaccount1/c/a.json", "PutBlob"),
    ("/devstoreaccount1/c/a.json?comp=blocklist", "PutBlockList"),
    ("/devstoreaccount1/c/a.json?timeout=30&comp=blocklist", "PutBlockList"),
    ("/devstoreaccount1/c/a.json?comp=metadata", None),      # the block list decides
    ("/devstoreaccount1/c/a.json?comp=blocklistx", None),
])
def test_the_url_tells_put_blob_from_put_block_list(url: str, api: str | None) -> None:
    assert write_api(line("PUT", url)) == api


def test_only_complete_new_lines_are_read_and_the_position_resumes(tmp_path: Path) -> None:
    log = tmp_path / "azurite.log"
    log.write_text(line("PUT", "/devstoreaccount1/c/old.json") + "\n")
    start = end_of(log)
    assert start is not None and start.offset == log.stat().st_size
    with log.open("a") as out:
        out.write(line("PUT", "/devstoreaccount1/c/a.json") + "\n" + line("PUT", "/devstoreaccount1/c/b.json")[:60])
    lines, position = read_new_lines(log, start)
    assert [committed_write(x, ACCOUNT) for x in lines] == [("c", "a.json")]  # b is still being written
    assert position is not None and position.offset < log.stat().st_size
    with log.open("a") as out:
        out.write(line("PUT", "/devstoreaccount1/c/b.json")[60:] + "\n")
    lines, after = read_new_lines(log, position)
    assert [committed_write(x, ACCOUNT) for x in lines] == [("c", "b.json")]
    assert read_new_lines(log, after) == ([], after)


def test_a_replaced_or_truncated_log_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "azurite.log"
    log.write_text(line("PUT", "/devstoreaccount1/c/first.json") + "\n" * 50)
    old = end_of(log)
    assert old is not None
    log.unlink()
    log.write_text(line("PUT", "/devstoreaccount1/c/second.json") + "\n")
    lines, position = read_new_lines(log, old)
    assert [w for x in lines if (w := committed_write(x, ACCOUNT))] == [("c", "second.json")]
    # Same file, shorter than the stored position (truncated in place): from the start too.
    assert position is not None
    lines, _ = read_new_lines(log, LogPosition(position.inode, position.offset + 1000))
    assert [w for x in lines if (w := committed_write(x, ACCOUNT))] == [("c", "second.json")]


def test_a_missing_log_reads_nothing_and_keeps_the_position(tmp_path: Path) -> None:
    position = LogPosition(1, 10)
    assert read_new_lines(tmp_path / "absent.log", position) == ([], position)
    assert end_of(tmp_path / "absent.log") is None


def test_a_line_longer_than_any_request_is_skipped_not_stuck_on(tmp_path: Path) -> None:
    log = tmp_path / "azurite.log"
    log.write_bytes(b"x" * (MAX_READ + 10) + b"\n" + line("PUT", "/devstoreaccount1/c/after.json").encode() + b"\n")
    position: LogPosition | None = LogPosition(log.stat().st_ino, 0)
    found = []
    for _ in range(3):
        lines, position = read_new_lines(log, position)
        found += [w for x in lines if (w := committed_write(x, ACCOUNT))]
    assert found == [("c", "after.json")]
