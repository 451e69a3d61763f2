"""The POST body's "blend" (which .blend of a zip to render) was accepted and then ignored:
the bundle's render.json (or the ambiguity error) decided instead."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

from shared.pipeline import steps, submission
from tests.pipeline.test_pipeline_steps import BLEND
from tests.qa.fakes import FakeDurableClient, make_services


def _two_blends(manifest: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("shots/a.blend", BLEND)
        archive.writestr("shots/b.blend", BLEND)
        if manifest is not None:
            archive.writestr("render.json", json.dumps(manifest))
    return buffer.getvalue()


def _validated(bundle: bytes, body: dict) -> dict:
    svc = make_services()
    svc.blobs.upload("scenes", "multi.zip", bundle)
    job = asyncio.run(submission.submit_http_job(svc, FakeDurableClient(), {"bundle": "multi.zip", **body},
                                                 None, "qa")).job
    result = steps.validate_bundle_step(svc, {"jobId": job["id"]})
    return {"result": result, "doc": svc.jobs.get(job["id"])}


def test_the_requested_blend_is_rendered_when_the_zip_holds_several():
    out = _validated(_two_blends(), {"blend": "shots/b.blend"})
    assert out["result"]["ok"], out["result"]
    assert out["doc"]["bundle"]["blendPath"] == "shots/b.blend"


def test_the_requested_blend_wins_over_render_json():
    out = _validated(_two_blends({"blend": "shots/a.blend"}), {"blend": "shots/b.blend"})
    assert out["doc"]["bundle"]["blendPath"] == "shots/b.blend"
    assert out["doc"]["manifest"]["blend"] == "shots/b.blend"  # what the job says is what it renders


def test_a_requested_blend_missing_from_the_zip_fails_the_job_naming_blend():
    out = _validated(_two_blends(), {"blend": "shots/c.blend"})
    assert not out["result"]["ok"]
    assert out["result"]["error"]["field"] == "blend"
