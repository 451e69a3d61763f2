"""Scene-bundle validation on zips and .blend files built on the fly."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import struct
import zipfile
from pathlib import Path

import pytest
import zstandard

from shared.bundle import BundleInfo, BundleLimits, validate_bundle
from shared.errors import ValidationError

BLEND = b"BLENDER17-01v0500" + b"\0" * 64


def make_zip(tmp_path: Path, entries: dict[str, bytes], name: str = "bundle.zip",
             infos: list[tuple[zipfile.ZipInfo, bytes]] = ()) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
        for info, data in infos:
            archive.writestr(info, data)
    return path


def rejected(path: Path, code: str, limits: BundleLimits | None = None) -> ValidationError:
    with pytest.raises(ValidationError) as err:
        validate_bundle(path, limits)
    assert err.value.code == code, err.value.message
    return err.value


def test_zip_with_one_blend_and_assets(tmp_path):
    path = make_zip(tmp_path, {"shot.blend": BLEND, "textures/wood.png": b"png", "textures/": b""})
    info = validate_bundle(path)
    assert info.kind == "zip" and info.blend_path == "shot.blend" and info.manifest == {}
    assert info.assets == ("textures/wood.png",) and info.entry_count == 3
    assert info.unpacked_bytes == len(BLEND) + 3
    assert BundleInfo.from_json(info.to_json()) == info


def test_render_json_chooses_among_several_blends(tmp_path):
    manifest = {"blend": "shots/b.blend", "frames": "1-10", "video": {"crf": 23}}
    path = make_zip(tmp_path, {"shots/a.blend": BLEND, "shots/b.blend": BLEND,
                               "render.json": json.dumps(manifest).encode()})
    info = validate_bundle(path)
    assert info.blend_path == "shots/b.blend"
    assert info.manifest["frames"] == "1-10" and info.manifest["video"]["crf"] == 23
    assert info.assets == ("shots/a.blend",)


def test_render_json_inside_the_single_top_folder(tmp_path):
    path = make_zip(tmp_path, {"shot/render.json": b'{"blend": "b.blend"}', "shot/a.blend": BLEND,
                               "shot/b.blend": BLEND})
    assert validate_bundle(path).blend_path == "shot/b.blend"


def test_two_blends_without_a_choice_are_ambiguous(tmp_path):
    path = make_zip(tmp_path, {"a.blend": BLEND, "b.blend": BLEND})
    assert rejected(path, "bundle_ambiguous_blend").details["blends"] == ["a.blend", "b.blend"]


def test_macos_resource_forks_do_not_count_as_blends(tmp_path):
    path = make_zip(tmp_path, {"shot.blend": BLEND, "__MACOSX/._shot.blend": b"junk", "._x.blend": b"x"})
    assert validate_bundle(path).blend_path == "shot.blend"


def test_render_json_naming_a_missing_blend(tmp_path):
    path = make_zip(tmp_path, {"a.blend": BLEND, "render.json": b'{"blend": "b.blend"}'})
    err = rejected(path, "manifest_invalid")
    assert err.field == "blend"


@pytest.mark.parametrize(("manifest", "field"), [
    (b'{"video": {"crf": 99}}', "video.crf"),
    (b'{"frames": "9-1"}', "frames"),
    (b'{"unknown": 1}', "unknown"),
])
def test_bad_render_json_names_the_field(tmp_path, manifest, field):
    path = make_zip(tmp_path, {"a.blend": BLEND, "render.json": manifest})
    assert rejected(path, "manifest_invalid").field == field


@pytest.mark.parametrize("manifest", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_unreadable_render_json_is_invalid(tmp_path, manifest):
    rejected(make_zip(tmp_path, {"a.blend": BLEND, "render.json": manifest}), "manifest_invalid")


def test_zip_without_blend(tmp_path):
    rejected(make_zip(tmp_path, {"readme.txt": b"hi"}), "bundle_no_blend")
    rejected(make_zip(tmp_path, {"empty/": b""}, name="dirs.zip"), "bundle_no_blend")


def test_blend_entry_must_look_like_a_blend(tmp_path):
    rejected(make_zip(tmp_path, {"a.blend": b"not a blend at all"}), "bundle_blend_invalid")


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/etc/passwd", "C:/x.txt",
                                  "a\\..\\..\\evil.txt", "a//b.txt", "./a.txt"])
def test_entries_escaping_the_bundle_are_rejected(tmp_path, name):
    path = make_zip(tmp_path, {"a.blend": BLEND, name: b"x"})
    assert rejected(path, "bundle_unsafe_path").details["entry"] == name


def test_symlink_entries_are_rejected(tmp_path):
    link = zipfile.ZipInfo("link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    rejected(make_zip(tmp_path, {"a.blend": BLEND}, infos=[(link, b"/etc/passwd")]), "bundle_unsafe_path")


def test_duplicate_entries_are_rejected(tmp_path):
    with pytest.warns(UserWarning):  # zipfile warns about the duplicate name when writing
        path = make_zip(tmp_path, {"a.blend": BLEND}, infos=[(zipfile.ZipInfo("a.blend"), BLEND)])
    rejected(path, "bundle_unsafe_path")
    rejected(make_zip(tmp_path, {"a.blend": BLEND, "T.png": b"", "t.png": b""}, name="case.zip"),
             "bundle_unsafe_path")


def test_encrypted_entries_are_rejected(tmp_path):
    path = make_zip(tmp_path, {"a.blend": BLEND, "secret.png": b"xx"})
    data = bytearray(path.read_bytes())
    # zipfile cannot write encrypted entries: set the "encrypted" flag bit in both headers.
    local = data.index(b"PK\x03\x04", data.index(b"PK\x03\x04") + 4)
    data[local + 6] |= 0x1
    central = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))
    rejected(path, "bundle_encrypted")


def test_too_many_entries(tmp_path):
    path = make_zip(tmp_path, {"a.blend": BLEND, **{f"t/{i}.png": b"" for i in range(4)}})
    rejected(path, "bundle_too_many_entries", BundleLimits(max_entries=4))
    assert validate_bundle(path, BundleLimits(max_entries=5)).entry_count == 5


def test_too_large_unpacked_by_declared_size(tmp_path):
    path = make_zip(tmp_path, {"a.blend": BLEND, "big.bin": b"\0" * 100_000})
    assert path.stat().st_size < 2_000  # a compression bomb in miniature
    rejected(path, "bundle_too_large", BundleLimits(max_unpacked_bytes=50_000))


def test_declared_sizes_that_lie_are_caught(tmp_path):
    path = make_zip(tmp_path, {"a.blend": BLEND, "big.bin": b"\0" * 100_000})
    data = bytearray(path.read_bytes())
    # Claim big.bin unpacks to 10 bytes, in its local header and in the central directory.
    local = data.index(b"PK\x03\x04", data.index(b"PK\x03\x04") + 4)
    struct.pack_into("<I", data, local + 22, 10)
    central = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)
    struct.pack_into("<I", data, central + 24, 10)
    path.write_bytes(bytes(data))
    rejected(path, "bundle_corrupt", BundleLimits(max_unpacked_bytes=50_000))


def test_file_larger_than_the_bundle_limit(tmp_path):
    rejected(make_zip(tmp_path, {"a.blend": BLEND}), "bundle_too_large", BundleLimits(max_bytes=10))


def test_corrupt_data_fails_the_crc(tmp_path):
    path = make_zip(tmp_path, {"a.blend": BLEND, "t.png": bytes(range(256)) * 40})
    data = bytearray(path.read_bytes())
    start = data.index(b"t.png") + len("t.png") + 20  # inside t.png's compressed data
    data[start] ^= 0xFF
    path.write_bytes(bytes(data))
    rejected(path, "bundle_corrupt")


def test_truncated_zip_is_corrupt(tmp_path):
    path = make_zip(tmp_path, {"a.blend": BLEND, "t.png": b"x" * 1000})
    path.write_bytes(path.read_bytes()[:60])
    rejected(path, "bundle_corrupt")


def test_neither_zip_nor_blend(tmp_path):
    path = tmp_path / "scene.txt"
    path.write_bytes(b"hello world")
    rejected(path, "bundle_not_zip_or_blend")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    rejected(empty, "bundle_not_zip_or_blend")


def test_bare_blend_by_magic_bytes(tmp_path):
    path = tmp_path / "download.tmp"
    path.write_bytes(BLEND)
    info = validate_bundle(path, name="shots/hero.blend")
    assert (info.kind, info.blend_path, info.entry_count, info.unpacked_bytes) == ("blend", "hero.blend", 1,
                                                                                    len(BLEND))
    assert validate_bundle(path, name="shots/-b.blend").blend_path == "scene.blend"
    assert validate_bundle(path, name="shots/hero.zip").blend_path == "scene.blend"


def test_zstd_compressed_blend_is_accepted_only_if_it_holds_a_blend(tmp_path):
    good = tmp_path / "good.blend"
    good.write_bytes(zstandard.ZstdCompressor().compress(BLEND * 10))
    assert validate_bundle(good).blend_path == "good.blend"
    other = tmp_path / "other.blend"
    other.write_bytes(zstandard.ZstdCompressor().compress(b"just some text" * 10))
    rejected(other, "bundle_blend_invalid")


def test_validation_never_modifies_the_input(tmp_path):
    path = make_zip(tmp_path, {"a.blend": BLEND, "b.blend": BLEND})
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    rejected(path, "bundle_ambiguous_blend")
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.zip"]


def test_in_memory_zip_helper_sanity():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../x", b"")
    assert zipfile.ZipFile(buffer).namelist() == ["../x"]  # zipfile keeps hostile names as written


def test_an_oversized_central_directory_is_refused_before_parsing(tmp_path):
    bloated = zipfile.ZipInfo("a.blend")
    bloated.comment = b"x" * 5000  # one entry, but a directory record far larger than one entry needs
    path = make_zip(tmp_path, {}, infos=[(bloated, BLEND)])
    rejected(path, "bundle_too_many_entries", BundleLimits(max_entries=1))
    assert validate_bundle(path, BundleLimits(max_entries=2)).blend_path == "a.blend"
