"""The asset store on Azurite, attacked: other bytes under a hash, write URLs aimed at stored assets,
manifests naming assets the store lacks, assets deleted before a job validates."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from shared.assets import asset_blob
from shared.errors import NotFoundError, ValidationError
from shared.job_document import JobSource, SourceKind, job_document
from shared.jobs import create_job_document
from shared.pipeline import assets, steps, submission
from tests.assets.conftest import Store, sha
from tests.qa.fakes import FakeDurableClient

BLEND = b"BLENDER-v500 not really a scene, but bytes with a hash"
TEXTURE = b"\x89PNG texture bytes" * 100


def test_a_missing_asset_gets_a_write_url_and_once_committed_is_present(store: Store):
    answer = store.upload(TEXTURE)
    assert answer == {"hash": sha(TEXTURE), "size": len(TEXTURE), "stored": True, "verified": "sha256",
                      "uploaded": True}
    assert store.blobs.download(store.container, asset_blob(sha(TEXTURE))) == TEXTURE
    again = assets.find_missing(store.svc, store.signer, {"assets": [{"hash": sha(TEXTURE), "size": len(TEXTURE)}]})
    assert again["missing"] == [] and again["present"] == 1 and again["presentBytes"] == len(TEXTURE)
    # the staging blob is gone once committed
    assert [b.name for b in store.blobs.list(store.container, "_staging/")] == []


def test_other_bytes_under_a_hash_are_refused_and_nothing_is_stored(store: Store):
    with pytest.raises(ValidationError) as caught:
        store.upload(b"not the texture" * 10, claimed=sha(TEXTURE), size=150)
    assert caught.value.code == "asset_hash_mismatch"
    with pytest.raises(NotFoundError):
        store.blobs.info(store.container, asset_blob(sha(TEXTURE)))
    assert [b.name for b in store.blobs.list(store.container, "_staging/")] == []


def test_a_mismatch_against_a_stored_asset_leaves_it_untouched(store: Store):
    store.upload(TEXTURE)
    before = store.blobs.info(store.container, asset_blob(sha(TEXTURE)))
    ref = {"hash": sha(TEXTURE), "size": len(TEXTURE)}
    # The attacker stages garbage by hand under a fresh upload name and commits it: the store has the
    # verified asset, so the commit answers "stored" without reading the staged bytes; the asset stays.
    staging = f"_staging/{'0' * 32}/{ref['hash']}"
    store.blobs.upload(store.container, staging, b"evil" * (len(TEXTURE) // 4))
    answer = assets.commit_asset(store.svc, {**ref, "blobName": staging})
    assert answer["uploaded"] is False
    after = store.blobs.info(store.container, asset_blob(sha(TEXTURE)))
    assert after.etag == before.etag
    assert store.blobs.download(store.container, asset_blob(sha(TEXTURE))) == TEXTURE


def test_a_write_url_cannot_be_pointed_at_the_assets_own_name(store: Store):
    store.upload(TEXTURE)
    evil = b"x" * len(TEXTURE)
    answer = assets.find_missing(store.svc, store.signer, {"assets": [{"hash": sha(evil), "size": len(evil)}]})
    url = answer["missing"][0]["uploadUrl"]
    parts = urlsplit(url)
    container_path = parts.path.split("/_staging/")[0]
    aimed = urlunsplit(parts._replace(path=f"{container_path}/sha256/{sha(TEXTURE)}"))
    put = requests.put(aimed, data=evil, headers={"x-ms-blob-type": "BlockBlob"}, timeout=30)
    assert put.status_code == 403
    assert store.blobs.download(store.container, asset_blob(sha(TEXTURE))) == TEXTURE


def test_a_commit_larger_than_its_size_or_never_uploaded_is_refused(store: Store):
    with pytest.raises(ValidationError) as caught:
        store.upload(TEXTURE, size=len(TEXTURE) - 1)
    assert caught.value.code == "asset_hash_mismatch"
    with pytest.raises(ValidationError) as caught:
        assets.commit_asset(store.svc, {"hash": sha(BLEND), "size": len(BLEND),
                                        "blobName": f"_staging/{'1' * 32}/{sha(BLEND)}"})
    assert caught.value.code == "asset_not_uploaded"
    for blob in (f"_staging/{'1' * 32}/{sha(TEXTURE)}", f"sha256/{sha(BLEND)}", f"../{sha(BLEND)}"):
        with pytest.raises(ValidationError) as caught:
            assets.commit_asset(store.svc, {"hash": sha(BLEND), "size": len(BLEND), "blobName": blob})
        assert caught.value.field == "blobName"


def test_a_size_that_lies_about_a_stored_asset_is_refused(store: Store):
    store.upload(TEXTURE)
    with pytest.raises(ValidationError) as caught:
        assets.find_missing(store.svc, store.signer, {"assets": [{"hash": sha(TEXTURE), "size": 5}]})
    assert caught.value.code == "asset_size_mismatch"


def manifest_body(**render: object) -> dict:
    return {"manifest": {"files": {"shots/shot.blend": {"hash": sha(BLEND), "size": len(BLEND)},
                                   "shots/tex/wood.png": {"hash": sha(TEXTURE), "size": len(TEXTURE)}},
                         "render": dict(render)}, "frames": "1-2"}


def test_a_manifest_naming_assets_the_store_lacks_is_refused_listing_them(store: Store):
    store.upload(BLEND)
    with pytest.raises(ValidationError) as caught:
        assets.manifest_submission(store.svc, manifest_body())
    assert caught.value.code == "assets_missing"
    assert caught.value.details == {"missing": [{"hash": sha(TEXTURE), "size": len(TEXTURE)}], "missingCount": 1}


def test_a_manifest_and_a_bundle_together_are_refused(store: Store):
    with pytest.raises(ValidationError) as caught:
        assets.manifest_submission(store.svc, {**manifest_body(), "bundle": "a.zip"})
    assert caught.value.field == "bundle"


def test_a_manifest_submission_takes_the_steering_keys_and_refuses_a_start_too_far_ahead(store: Store):
    store.upload(BLEND)
    store.upload(TEXTURE)
    steering = {"stuckAfterSeconds": 900, "maxCost": 12.5, "frameOrder": "preview", "paused": True}
    request, *_ = assets.manifest_submission(store.svc, {**manifest_body(), **steering})
    assert {k: request[k] for k in steering} == steering
    for i, not_before in enumerate(("2099-01-01T00:00:00Z", "2026-02-30T10:00:00Z")):
        key = f"manifest-not-before-{i}"
        with pytest.raises(ValidationError) as caught:
            asyncio.run(submission.submit_http_job(store.svc, FakeDurableClient(),
                                                   {**manifest_body(), "notBefore": not_before}, key, None))
        assert caught.value.field == "notBefore", not_before
        with pytest.raises(NotFoundError):  # nothing recorded
            store.svc.jobs.get(key)


def submitted_job(store: Store, job_id: str) -> str:
    request, container, name, info, _job_name = assets.manifest_submission(store.svc, manifest_body(fps=12))
    source = JobSource(kind=SourceKind.HTTP, container=container, blob_name=name,
                       blob_url=store.blobs.url(container, name), etag=info.etag)
    doc = job_document(job_id, source, now=store.svc.now(), renders_container=store.svc.settings.renders_container)
    doc["request"] = request
    create_job_document(store.svc.jobs, doc)
    return name


def test_a_manifest_job_validates_and_records_its_manifest_hash(store: Store, unique_name):
    store.upload(BLEND)
    store.upload(TEXTURE)
    name = submitted_job(store, unique_name)
    result = steps.validate_bundle_step(store.svc, {"jobId": unique_name})
    assert result == {"ok": True, "kind": "manifest", "blendPath": "shots/shot.blend"}
    doc = store.svc.jobs.get(unique_name)
    digest = name.rsplit("/", 1)[1].removesuffix(".json")
    assert doc["provenance"]["manifestHash"] == digest
    assert doc["manifest"] == {"frames": "1-2", "fps": 12.0}
    assert doc["bundle"]["assets"] == ["shots/tex/wood.png"] and doc["bundle"]["unpackedBytes"] == 54 + 1800
    assert doc["input"]["blob"] == name


def test_an_asset_deleted_before_validation_fails_the_job_with_asset_missing(store: Store, unique_name):
    store.upload(BLEND)
    store.upload(TEXTURE)
    submitted_job(store, unique_name)
    store.blobs.delete(store.container, asset_blob(sha(TEXTURE)))
    result = steps.validate_bundle_step(store.svc, {"jobId": unique_name})
    assert result["ok"] is False and result["error"]["code"] == "asset_missing"
    assert result["error"]["details"]["missing"] == [{"hash": sha(TEXTURE), "size": len(TEXTURE)}]
    # the other asset stays
    assert store.blobs.download(store.container, asset_blob(sha(BLEND))) == BLEND


def test_an_asset_replaced_behind_the_stores_back_fails_the_job_with_asset_hash_mismatch(store: Store, unique_name):
    store.upload(BLEND)
    store.upload(TEXTURE)
    submitted_job(store, unique_name)
    store.blobs.upload(store.container, asset_blob(sha(TEXTURE)), b"short", overwrite=True)
    result = steps.validate_bundle_step(store.svc, {"jobId": unique_name})
    assert result["ok"] is False and result["error"]["code"] == "asset_hash_mismatch"
