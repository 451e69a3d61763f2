"""Folders become bundles by the pipeline's own rules; what the rules reject is reported first."""

from __future__ import annotations

import os
import zipfile

import pytest

from renderctl.bundling import BundleRejected, prepare
from shared.bundle import BundleLimits

BLEND = b"BLENDER-v300" + b"\0" * 64  # the header bundle.py checks


def scene_folder(root):
    (root / "textures" / "wood").mkdir(parents=True)
    (root / "shot.blend").write_bytes(BLEND)
    (root / "textures" / "wood" / "grain.png").write_bytes(b"png")
    (root / "render.json").write_text('{"frames": "1-4"}')
    return root


def test_a_folder_is_packed_with_its_subfolders_and_render_json(tmp_path):
    bundle = prepare(scene_folder(tmp_path / "shot010"))
    try:
        with zipfile.ZipFile(bundle.path) as archive:
            assert sorted(archive.namelist()) == ["render.json", "shot.blend", "textures/wood/grain.png"]
        assert bundle.upload_name == "shot010.zip"
        assert bundle.info.blend_path == "shot.blend"
        assert bundle.info.manifest == {"frames": "1-4"}
    finally:
        bundle.cleanup()
    assert not bundle.path.exists()


def test_every_file_the_rules_would_reject_is_listed(tmp_path):
    root = scene_folder(tmp_path / "shot")
    os.symlink("/etc/passwd", root / "textures" / "passwd.png")
    (root / "textures" / "Wood").mkdir()
    (root / "textures" / "Wood" / "GRAIN.png").write_bytes(b"x")
    os.mkfifo(root / "pipe")
    with pytest.raises(BundleRejected) as rejected:
        prepare(root)
    text = "\n".join(rejected.value.problems)
    assert "textures/passwd.png: a symbolic link" in text
    assert "but for case" in text
    assert "pipe: not a regular file" in text


def test_a_folder_without_a_blend_is_rejected_before_upload(tmp_path):
    root = tmp_path / "empty-scene"
    root.mkdir()
    (root / "notes.txt").write_text("no scene here")
    with pytest.raises(BundleRejected, match="bundle_no_blend"):
        prepare(root)


def test_a_bad_render_json_is_rejected_before_upload(tmp_path):
    root = scene_folder(tmp_path / "shot")
    (root / "render.json").write_text('{"chunkSize": 0}')
    with pytest.raises(BundleRejected, match="chunkSize"):
        prepare(root)


def test_limits_count_the_files(tmp_path):
    root = scene_folder(tmp_path / "shot")
    with pytest.raises(BundleRejected, match="more than the limit of 2"):
        prepare(root, BundleLimits(max_entries=2))


def test_a_file_that_is_neither_zip_nor_blend_is_refused(tmp_path):
    path = tmp_path / "shot.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(BundleRejected, match="bundle_not_zip_or_blend"):
        prepare(path)
