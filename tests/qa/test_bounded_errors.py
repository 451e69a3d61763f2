"""Errors built from outside input stay small: they land in the job document (Cosmos items
are at most 2 MB), and a job whose failure cannot be written stays 'validating' forever."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from shared.bundle import validate_bundle
from shared.errors import ValidationError
from shared.job_spec import manifest_from_json
from tests.pipeline.test_pipeline_steps import BLEND, bundle_zip, functions, make_services, run_upload

__all__ = ["functions"]  # the module-scoped fixture the replayed orchestration needs


def test_a_manifest_with_thousands_of_unknown_keys_makes_a_small_error():
    with pytest.raises(ValidationError) as err:
        manifest_from_json({f"key{i}": 1 for i in range(60_000)})
    body = json.dumps(err.value.to_json())
    assert len(body) < 10_000
    assert err.value.details["errorCount"] == 60_000
    assert "and 59980 more" in err.value.message


def test_a_huge_unknown_key_is_cut_short_in_the_error():
    with pytest.raises(ValidationError) as err:
        manifest_from_json({"x" * 900_000: 1})
    assert len(json.dumps(err.value.to_json())) < 2_000


def _zip_with_manifest(tmp_path, raw: bytes):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("shot.blend", BLEND)
        archive.writestr("render.json", raw)
    path = tmp_path / "bundle.zip"
    path.write_bytes(buffer.getvalue())
    return path


def test_a_render_json_nested_too_deeply_is_a_manifest_error_not_a_corrupt_zip(tmp_path):
    with pytest.raises(ValidationError) as err:
        validate_bundle(_zip_with_manifest(tmp_path, b"[" * 200_000 + b"]" * 200_000))
    assert err.value.code == "manifest_invalid"


def test_a_job_whose_every_chunk_fails_records_a_bounded_error(functions):
    fail = tuple(f"chunk-{n:04d}" for n in range(1, 301))
    svc = make_services(fail_ids=fail)
    manifest = {"frames": "1-300", "fps": 24, "resolution": "64x36", "chunkSize": 1, "maxRetries": 0,
                "video": None}
    job_id, _ = run_upload(functions, svc, bundle_zip(manifest))
    doc = svc.jobs.get(job_id)
    assert doc["status"] == "failed" and doc["error"]["code"] == "frames_failed"
    assert doc["error"]["details"]["chunkCount"] == 300
    assert len(doc["error"]["details"]["chunks"]) == 50
    assert "(and 250 more chunks)" in doc["error"]["message"]
    assert len(json.dumps(doc["error"])) < 20_000
