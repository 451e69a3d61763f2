"""The tasks of a manifest job: materialize.py runs first; Azure nodes fetch the assets themselves
(no resource file per asset), localbatch's sandboxed tasks get them delivered."""

from __future__ import annotations

import json

from shared.adapters.fake_blob_store import FakeBlobStore
from shared.adapters.fake_chunk_store import FakeChunkStore
from shared.adapters.fake_event_publisher import RecordingEventPublisher
from shared.adapters.fake_job_store import FakeJobStore
from shared.adapters.fake_render_backend import FakeRenderBackend
from shared.bootstrap import Services
from shared.config import Settings
from shared.frames import FrameSet
from shared.job_document import Chunk
from shared.pipeline import batch_tasks
from shared.planning import SpecDefaults, merge_spec

H1, H2 = "1" * 64, "2" * 64
MANIFEST_BLOB = f"manifests/sha256/{'3' * 64}.json"


def services(**env: str) -> Services:
    settings = Settings.from_env({"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
                                  "COSMOS_ENDPOINT": "https://cosmos.invalid/", "LOCALBATCH_URL": "http://lb.invalid",
                                  **env})
    blobs = FakeBlobStore()
    blobs.ensure_container("assets")
    blobs.upload("assets", MANIFEST_BLOB, json.dumps({"files": {
        "shots/shot.blend": {"hash": H1, "size": 1}, "shots/tex/wood.png": {"hash": H2, "size": 2}}}).encode())
    return Services(settings=settings, blobs=blobs, jobs=FakeJobStore(),
                    chunks=FakeChunkStore(), backend=FakeRenderBackend(),
                    events=RecordingEventPublisher())


DOC = {"id": "job-1", "bundle": {"kind": "manifest", "blendPath": "shots/shot.blend"},
       "input": {"container": "assets", "blob": MANIFEST_BLOB}}


def render_task(svc: Services):
    spec = merge_spec({"frames": "1-2", "resolution": "32x18", "fps": 24}, None, SpecDefaults())
    return batch_tasks.render_task(svc, DOC, spec, Chunk(id="chunk-0001", frames=FrameSet.parse("1-2")),
                                   "chunk-0001")


def test_on_localbatch_each_file_is_delivered_and_materialize_runs_before_the_task_runner():
    task = render_task(services())
    argv = list(task.argv)
    assert argv[:2] == ["python3", "tools/materialize.py"]
    split = argv.index("--")
    assert argv[split + 1:split + 3] == ["python3", "tools/task_runner.py"]
    assert "--bundle" not in argv  # no zip to unpack
    assert "bundle/shots/shot.blend" in argv
    paths = {r.path: r for r in task.resource_files}
    assert paths["assets.json"].blob == MANIFEST_BLOB
    assert paths["bundle/shots/tex/wood.png"].blob == f"sha256/{H2}"
    assert "tools/materialize.py" in paths and "tools/task_runner.py" in paths


def test_on_azure_batch_no_asset_is_a_resource_file_and_the_node_fetches_with_its_identity():
    svc = services(RENDER_BACKEND="azure_batch", BATCH_ACCOUNT_URL="https://b.invalid", BATCH_POOL_ID="p",
                   STORAGE_CONNECTION_STRING="", STORAGE_ACCOUNT_URL="https://acct.blob.invalid",
                   BATCH_NODE_IDENTITY_ID="/subscriptions/x/identity")
    task = render_task(svc)
    assert not [r for r in task.resource_files if r.container == "assets" and r.blob != MANIFEST_BLOB]
    argv = list(task.argv)
    assert argv[argv.index("--blob-base") + 1] == "https://acct.blob.invalid/assets"
    assert argv[argv.index("--identity-resource-id") + 1] == "/subscriptions/x/identity"


def test_a_bundle_job_is_unchanged():
    svc = services()
    doc = {"id": "job-2", "bundle": {"kind": "zip", "blendPath": "shot.blend"},
           "input": {"container": "renders", "blob": "job-2/input/shot.zip"}}
    spec = merge_spec({"frames": "1", "resolution": "32x18", "fps": 24}, None, SpecDefaults())
    task = batch_tasks.render_task(svc, doc, spec, Chunk(id="chunk-0001", frames=FrameSet.parse("1")), "chunk-0001")
    assert task.argv[1] == "tools/task_runner.py" and "--bundle" in task.argv
