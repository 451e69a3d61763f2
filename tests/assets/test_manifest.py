"""Manifests from outside, attacked: unsafe, duplicate or too many paths, lying sizes, bad hashes."""

from __future__ import annotations

from typing import Any

import pytest

from shared.assets import (
    MAX_QUERY_ASSETS,
    asset_blob,
    manifest_blob,
    parse_asset_refs,
    parse_manifest,
)
from shared.bundle import BundleLimits
from shared.errors import ValidationError

H1, H2 = "a" * 64, "b" * 64
LIMITS = BundleLimits(max_entries=10, max_unpacked_bytes=1000)


def manifest(**files: Any) -> dict[str, Any]:
    return {"files": {"shot.blend": {"hash": H1, "size": 10}, **files}}


def refused(raw: Any, code: str, limits: BundleLimits = LIMITS) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_manifest(raw, limits)
    assert caught.value.code == code, caught.value.to_json()
    return caught.value


def test_a_manifest_keeps_its_files_sorted_and_hashes_the_same_however_it_is_written():
    a = parse_manifest({"files": {"tex/b.png": {"hash": H2, "size": 3}, "shot.blend": {"hash": H1, "size": 10}},
                        "render": {"frames": "1-2"}}, LIMITS)
    b = parse_manifest({"render": {"frames": "1-2"}, "files": {"shot.blend": {"hash": H1, "size": 10, "mode": 420},
                                                                 "tex/b.png": {"size": 3, "hash": H2}}}, LIMITS)
    assert [f.path for f in a.files] == ["shot.blend", "tex/b.png"]
    assert a.digest() == b.digest() and len(a.digest()) == 64
    assert a.blend_path() == "shot.blend" and a.total_bytes == 13
    assert manifest_blob(a.digest()) == f"manifests/sha256/{a.digest()}.json"
    assert asset_blob(H1) == f"sha256/{H1}"


def test_two_paths_may_share_one_asset_which_is_listed_once():
    parsed = parse_manifest(manifest(**{"a/x.png": {"hash": H2, "size": 3}, "b/x.png": {"hash": H2, "size": 3}}),
                            LIMITS)
    assert [r.hash for r in parsed.assets()] == [H1, H2]


@pytest.mark.parametrize("path", ["../escape.png", "/etc/passwd", "a/../../b", "C:/x.png", "a\\b.png", "a//b",
                                  "./a.png", "a/\x00b", "", "tex/\nname"])
def test_a_path_that_escapes_or_is_malformed_is_refused(path):
    error = refused(manifest(**{path: {"hash": H2, "size": 1}}), "bundle_unsafe_path")
    assert error.field == "manifest.files"


def test_names_equal_but_for_case_are_refused():
    refused(manifest(**{"tex/Wood.png": {"hash": H2, "size": 1}, "tex/wood.PNG": {"hash": H2, "size": 1}}),
            "bundle_unsafe_path")


def test_a_file_that_is_also_a_folder_is_refused():
    refused(manifest(**{"tex": {"hash": H2, "size": 1}, "tex/a.png": {"hash": H2, "size": 1}}), "bundle_unsafe_path")


def test_a_name_too_long_to_unpack_is_refused():
    refused(manifest(**{"x" * 256 + ".png": {"hash": H2, "size": 1}}), "bundle_unsafe_path")


@pytest.mark.parametrize("digest", ["a" * 63, "a" * 65, "A" * 64, "g" * 64, 12, None, "sha256:" + "a" * 57])
def test_a_hash_of_the_wrong_length_or_alphabet_is_refused(digest):
    refused(manifest(**{"tex/a.png": {"hash": digest, "size": 1}}), "invalid_input")


@pytest.mark.parametrize("size", [-1, True, 1.5, "10", None])
def test_a_size_that_is_no_byte_count_is_refused(size):
    refused(manifest(**{"tex/a.png": {"hash": H2, "size": size}}), "invalid_input")


def test_one_hash_with_two_sizes_is_a_lie_and_refused():
    refused(manifest(**{"a.png": {"hash": H2, "size": 1}, "b.png": {"hash": H2, "size": 2}}), "invalid_input")


def test_limits_on_count_and_total_size_hold():
    many = {f"f{i}.png": {"hash": H2, "size": 1} for i in range(10)}
    refused(manifest(**many), "bundle_too_many_entries")
    refused(manifest(**{"big.exr": {"hash": H2, "size": 991}}), "bundle_too_large")
    refused(manifest(**{"big.exr": {"hash": H2, "size": 10**12}}), "bundle_too_large")


def test_unknown_keys_a_bad_render_json_and_blends_are_checked():
    refused({"files": {}, "extra": 1}, "manifest_invalid")
    refused({"files": []}, "manifest_invalid")
    refused({"files": {}}, "bundle_no_blend")
    refused({"files": {"a.png": {"hash": H2, "size": 1}}}, "bundle_no_blend")
    refused({"files": {"a.blend": {"hash": H1, "size": 1}, "b.blend": {"hash": H2, "size": 1}}},
            "bundle_ambiguous_blend")
    refused({**manifest(), "render": {"frames": "banana"}}, "manifest_invalid")
    refused({**manifest(), "render": {"blend": "missing.blend"}}, "manifest_invalid")
    refused(manifest(**{"a.png": {"hash": H2, "size": 1, "owner": "root"}}), "manifest_invalid")
    refused(manifest(**{"a.png": {"hash": H2, "size": 1, "mode": "rwx"}}), "invalid_input")


def test_the_missing_query_is_checked_and_bounded():
    assert [r.hash for r in parse_asset_refs({"assets": [{"hash": H1, "size": 1}, {"hash": H1, "size": 1}]},
                                             LIMITS)] == [H1]
    for body in ({"assets": [{"hash": H1}]}, {"assets": [{"hash": H1, "size": 1}, {"hash": H1, "size": 2}]},
                 {"assets": "x"}, [], {"assets": [{"hash": "z" * 64, "size": 1}]},
                 {"assets": [{"hash": H1, "size": 1}] * (MAX_QUERY_ASSETS + 1)}):
        with pytest.raises(ValidationError):
            parse_asset_refs(body, LIMITS)
