"""AzureBlobStore against Azurite, and FakeBlobStore held to the same behaviour."""

from __future__ import annotations

import pytest

from shared.adapters.blob_store import AzureBlobStore
from shared.adapters.fake_blob_store import FakeBlobStore
from shared.errors import ConflictError, NotFoundError, ValidationError


@pytest.fixture(params=["azurite", "fake"])
def store(request, unique_name):
    if request.param == "azurite":
        blobs = AzureBlobStore.from_connection_string(request.getfixturevalue("azurite").connection_string)
    else:
        blobs = FakeBlobStore()
    blobs.ensure_container(unique_name)
    blobs.ensure_container(unique_name)  # twice: already there is fine
    return blobs, unique_name


def test_round_trip_with_info(store, tmp_path):
    blobs, container = store
    info = blobs.upload(container, "job-1/frames/shot_0001.png", b"\x89PNG", content_type="image/png")
    assert info.size == 4 and info.etag and not info.etag.startswith('"')
    assert blobs.download(container, "job-1/frames/shot_0001.png") == b"\x89PNG"
    stored = blobs.info(container, "job-1/frames/shot_0001.png")
    assert (stored.size, stored.etag, stored.content_type) == (4, info.etag, "image/png")
    assert stored.last_modified and stored.last_modified.endswith("Z")
    target = tmp_path / "out.png"
    got = blobs.download_to_file(container, "job-1/frames/shot_0001.png", target)
    assert target.read_bytes() == b"\x89PNG" and got.etag == info.etag
    assert blobs.url(container, "job-1/frames/shot_0001.png").endswith(f"/{container}/job-1/frames/shot_0001.png")


def test_nothing_stored_is_overwritten_unless_asked(store, tmp_path):
    blobs, container = store
    first = blobs.upload(container, "a.txt", b"first")
    with pytest.raises(ConflictError):
        blobs.upload(container, "a.txt", b"second")
    source = tmp_path / "f.txt"
    source.write_bytes(b"third")
    with pytest.raises(ConflictError):
        blobs.upload_file(container, "a.txt", source)
    assert blobs.download(container, "a.txt") == b"first"
    replaced = blobs.upload_file(container, "a.txt", source, overwrite=True)
    assert blobs.download(container, "a.txt") == b"third" and replaced.etag != first.etag


def test_max_bytes_caps_downloads_and_leaves_no_partial_file(store, tmp_path):
    blobs, container = store
    blobs.upload(container, "big.bin", b"x" * 2048)
    assert len(blobs.download(container, "big.bin", max_bytes=2048)) == 2048
    with pytest.raises(ValidationError) as err:
        blobs.download(container, "big.bin", max_bytes=2047)
    assert err.value.code == "blob_too_large"
    target = tmp_path / "big.bin"
    with pytest.raises(ValidationError):
        blobs.download_to_file(container, "big.bin", target, max_bytes=100)
    assert list(tmp_path.iterdir()) == []


def test_missing_blobs_and_containers_are_not_found(store, tmp_path):
    blobs, container = store
    with pytest.raises(NotFoundError):
        blobs.download(container, "nope.txt")
    with pytest.raises(NotFoundError):
        blobs.info(container, "nope.txt")
    with pytest.raises(NotFoundError):
        blobs.download_to_file(container, "nope.txt", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(NotFoundError):
        blobs.upload("missing-container", "a.txt", b"x")


def test_list_by_prefix(store):
    blobs, container = store
    for name in ("job-1/frames/a_0001.png", "job-1/frames/a_0002.png", "job-1/logs/t/stdout.txt",
                 "job-10/frames/a_0001.png"):
        blobs.upload(container, name, b"x")
    assert [b.name for b in blobs.list(container, "job-1/frames/")] == [
        "job-1/frames/a_0001.png", "job-1/frames/a_0002.png"]
    assert len(list(blobs.list(container, "job-1"))) == 4
    assert len(list(blobs.list(container))) == 4
    assert all(b.container == container and b.size == 1 for b in blobs.list(container))


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/x", "a\\b", "a//b", "", "./a", "a/", "a\x00b",
                                  "x" * 1025])
def test_names_cannot_escape_their_prefix(store, name):
    blobs, container = store
    with pytest.raises(ValidationError):
        blobs.upload(container, name, b"x")
    with pytest.raises(ValidationError):
        blobs.download(container, name)


def test_bad_container_names_and_prefixes(store):
    blobs, _ = store
    with pytest.raises(ValidationError):
        blobs.ensure_container("Bad_Name")
    with pytest.raises(ValidationError):
        list(blobs.list("renders", "../"))


def test_unreachable_storage_is_transient():
    from shared.errors import TransientError
    from stack.services import azurite_connection_string, free_port

    # Nothing listens on that port; no SDK retries, so it fails fast.
    blobs = AzureBlobStore.from_connection_string(azurite_connection_string(free_port()), retry_total=0)
    with pytest.raises(TransientError):
        blobs.info("scenes", "a.zip")
