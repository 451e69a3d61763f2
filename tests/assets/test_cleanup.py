"""Old assets go after N days unused; never one an unfinished job uses, however old it is."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from shared import assets as model
from shared.adapters.fake_blob_store import FakeBlobStore
from shared.adapters.fake_chunk_store import FakeChunkStore
from shared.adapters.fake_event_publisher import RecordingEventPublisher
from shared.adapters.fake_job_store import FakeJobStore
from shared.adapters.fake_render_backend import FakeRenderBackend
from shared.bootstrap import Services
from shared.config import Settings
from shared.job_document import JobSource, SourceKind, job_document
from shared.pipeline.asset_cleanup import clean_old_assets

H = {name: (str(i) * 64) for i, name in enumerate(("running", "recent", "old", "unused"), start=1)}
NOW = datetime(2026, 3, 1, tzinfo=UTC)  # the fake store's blobs date from 2026-01-01


def services() -> Services:
    settings = Settings.from_env({"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
                                  "COSMOS_ENDPOINT": "https://cosmos.invalid/", "LOCALBATCH_URL": "http://lb.invalid"})
    blobs = FakeBlobStore()
    blobs.ensure_container("assets")
    return Services(settings=settings, blobs=blobs, jobs=FakeJobStore(),
                    chunks=FakeChunkStore(), backend=FakeRenderBackend(),
                    events=RecordingEventPublisher())


def add_job(svc: Services, name: str, status: str, finished: str | None) -> str:
    digest = H[name]
    svc.blobs.upload("assets", model.asset_blob(digest), b"x")
    manifest = json.dumps({"files": {"a.blend": {"hash": digest, "size": 1}}, "render": {}}).encode()
    blob = model.manifest_blob(hashlib.sha256(manifest).hexdigest())
    svc.blobs.upload("assets", blob, manifest)
    source = JobSource(kind=SourceKind.HTTP, container="assets", blob_name=blob, blob_url="u", etag="e")
    doc = job_document(f"job-{name}", source, now="2025-06-01T00:00:00.000Z", renders_container="renders")
    doc["status"] = status
    doc["timestamps"]["finishedAt"] = finished
    svc.jobs.create(doc)
    return blob


def test_assets_unused_for_n_days_go_and_those_of_unfinished_or_recent_jobs_stay():
    svc = services()
    running = add_job(svc, "running", "rendering", None)
    recent = add_job(svc, "recent", "completed", "2026-02-20T00:00:00.000Z")
    old = add_job(svc, "old", "completed", "2026-01-10T00:00:00.000Z")
    svc.blobs.upload("assets", model.asset_blob(H["unused"]), b"x")

    dry = clean_old_assets(svc, days=31, now=NOW, dry_run=True)
    assert sorted(dry.deleted) == sorted([model.asset_blob(H["old"]), old, model.asset_blob(H["unused"])])
    assert len(list(svc.blobs.list("assets"))) == 7  # a dry run deletes nothing

    clean_old_assets(svc, days=31, now=NOW)
    left = {b.name for b in svc.blobs.list("assets")}
    assert left == {model.asset_blob(H["running"]), running, model.asset_blob(H["recent"]), recent}

    # With a shorter window the recent job's assets go too; the running job's never do.
    clean_old_assets(svc, days=5, now=NOW)
    assert {b.name for b in svc.blobs.list("assets")} == {model.asset_blob(H["running"]), running}
