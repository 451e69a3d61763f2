"""Hostile zips: the validator (activity) and the node's unpacker (task_runner) must agree.

A bundle the validator accepts but the node refuses fails every render attempt with a
confusing frames_failed; a node that crashes writes no completion marker at all.
"""

from __future__ import annotations

import stat
import unicodedata
import zipfile
from pathlib import Path

import pytest

from shared.bundle import BundleLimits, validate_bundle
from shared.errors import ValidationError
from shared.node.task_runner import BundleError, extract_bundle

BLEND = b"BLENDER-v500" + b"\0" * 64


def _mode(name: str, kind: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (kind | 0o644) << 16
    return info


def make_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("shot.blend", BLEND)
        for name, data in entries:
            archive.writestr(name, data)
    return path


HOSTILE = {
    "file_then_folder": [("a", b"x"), ("a/b.png", b"y")],
    "folder_then_file": [("a/b.png", b"y"), ("a", b"x")],
    "file_case_folder": [("Tex", b"x"), ("tex/b.png", b"y")],
    "fifo": [(_mode("pipe", stat.S_IFIFO), b"")],
    "char_device": [(_mode("tty", stat.S_IFCHR), b"")],
    "casefold_duplicate": [("straße.png", b"1"), ("STRASSE.png", b"2")],
    "segment_too_long": [("a" * 300 + "/b.png", b"1")],
    "file_name_too_long": [("a" * 300 + ".png", b"1")],
    "too_deep": [("/".join(["d"] * 2100) + "/x.png", b"1")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_the_validator_refuses_what_the_node_cannot_unpack(tmp_path, case):
    bundle = make_zip(tmp_path / "bundle.zip", HOSTILE[case])
    with pytest.raises(ValidationError) as err:
        validate_bundle(bundle, BundleLimits())
    assert err.value.code == "bundle_unsafe_path"
    assert err.value.field == "bundle"


@pytest.mark.parametrize("case", sorted(set(HOSTILE) - {"file_case_folder"}))  # Linux tells case apart
def test_the_node_refuses_them_with_a_bundle_error_not_a_crash(tmp_path, case):
    bundle = make_zip(tmp_path / "bundle.zip", HOSTILE[case])
    with pytest.raises(BundleError):
        extract_bundle(bundle, tmp_path / "out")


@pytest.mark.parametrize("entries", [
    [("textures/a.png", b"1"), ("textures/b.png", b"2"), ("textures-old/a.png", b"3")],
    [("a/", b""), ("a/b.png", b"1")],
    [(unicodedata.normalize("NFC", "café.png"), b"1")],
    [("caches/x.vdb", b"1"), ("caches.txt", b"2")],
])
def test_ordinary_bundles_still_pass_both(tmp_path, entries):
    bundle = make_zip(tmp_path / "bundle.zip", entries)
    info = validate_bundle(bundle, BundleLimits())
    assert info.blend_path == "shot.blend"
    written = extract_bundle(bundle, tmp_path / "out")
    assert "shot.blend" in written


def test_a_folder_check_over_many_deep_entries_stays_cheap(tmp_path):
    # 2,000 entries 400 folders deep: a quadratic prefix walk would take minutes.
    deep = "/".join(["d"] * 400)
    entries = [(f"{deep}/f{i}.png", b"") for i in range(2000)]
    info = validate_bundle(make_zip(tmp_path / "bundle.zip", entries), BundleLimits())
    assert info.entry_count == 2001


def test_the_uploaded_bundle_is_not_modified_by_validation(tmp_path):
    bundle = make_zip(tmp_path / "bundle.zip", HOSTILE["file_then_folder"])
    before = bundle.read_bytes()
    with pytest.raises(ValidationError):
        validate_bundle(bundle, BundleLimits())
    assert bundle.read_bytes() == before


def test_a_zip_bomb_with_honest_sizes_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("shot.blend", BLEND)
        archive.writestr("zeros.bin", b"\0" * (8 * 1024 * 1024))
    assert path.stat().st_size < 100_000
    with pytest.raises(ValidationError) as err:
        validate_bundle(path, BundleLimits(max_unpacked_bytes=1024 * 1024))
    assert err.value.code == "bundle_too_large"



def test_the_node_writes_a_failed_marker_for_a_bundle_it_cannot_unpack(tmp_path, monkeypatch):
    import json
    import sys

    from shared.node import task_runner

    monkeypatch.chdir(tmp_path)
    make_zip(tmp_path / "scene.zip", HOSTILE["file_then_folder"])
    code = task_runner.main(["--task-id", "chunk-0001", "--marker", "marker.json", "--bundle", "scene.zip",
                             "--extract-to", "bundle", "--", sys.executable, "-c", "pass"])
    marker = json.loads((tmp_path / "marker.json").read_text())
    assert code == task_runner.EXIT_BAD_BUNDLE
    assert marker["status"] == "failed" and "bad bundle" in marker["error"]


def test_a_central_directory_whose_end_record_understates_its_entries_is_refused(tmp_path):
    # 200,000 minimal records (47 bytes each, under the directory-size bound) while the end
    # record claims 5: zipfile would parse them all before the entry count is checked.
    import struct

    count = 200_000
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, 1, 0) + b"a"
    record = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) + b"a"
    directory = record * count
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 5, 5, len(directory), len(local), 0)
    path = tmp_path / "liar.zip"
    path.write_bytes(local + directory + end)
    with pytest.raises(ValidationError) as err:
        validate_bundle(path, BundleLimits(max_entries=10_000))
    assert err.value.code == "bundle_too_many_entries"
    assert "more than 10000" in err.value.message  # refused by the walk, not after zipfile parsed all
