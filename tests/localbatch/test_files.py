"""Resource files in, output files out: against Azurite, with paths kept inside the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from localbatch.files import BlobFiles, TaskFileError
from localbatch.launcher import LocalBatchProcess
from shared.adapters.local_batch_backend import LocalBatchBackend
from shared.tasks import OutputFile, ResourceFile, TaskResult, TaskSpec, UploadCondition
from stack.services import Azurite
from tests.contract.render_backend_contract import poll_until_done
from tests.localbatch.helpers import py


def read_blob(blobs: BlobServiceClient, container: str, name: str) -> bytes:
    return bytes(blobs.get_blob_client(container, name).download_blob().readall())


def names(blobs: BlobServiceClient, container: str) -> list[str]:
    return sorted(b.name for b in blobs.get_container_client(container).list_blobs())


def test_resource_files_single_blob_and_prefix(backend: LocalBatchBackend, blobs: BlobServiceClient,
                                               container: str, shared_localbatch: LocalBatchProcess) -> None:
    client = blobs.get_container_client(container)
    client.upload_blob("bundles/sh010/shot.blend", b"BLEND")
    client.upload_blob("bundles/sh010/tex/wood.png", b"PNG")
    client.upload_blob("tools/task_runner.py", b"print('hi')")
    backend.create_job(container)
    backend.add_tasks(container, [TaskSpec(
        id="render",
        argv=py("import pathlib; assert pathlib.Path('scene/bundles/sh010/tex/wood.png').read_bytes() == b'PNG'"),
        resource_files=(ResourceFile(container, "scene", prefix="bundles/sh010/"),
                        ResourceFile(container, "bin/runner.py", blob="tools/task_runner.py")),
        # What the working directory held, uploaded back (a succeeded task's directory is then removed).
        output_files=(OutputFile("scene/**/*", container, "seen/scene/"),
                      OutputFile("bin/*", container, "seen/bin/")))])
    assert poll_until_done(backend, container, 20)["render"].result is TaskResult.SUCCESS
    # As on Batch: a prefix's blobs keep their full names below the resource's path.
    assert read_blob(blobs, container, "seen/scene/bundles/sh010/shot.blend") == b"BLEND"
    assert read_blob(blobs, container, "seen/bin/runner.py") == b"print('hi')"


@pytest.mark.parametrize("resource", [
    ResourceFile("placeholder", "scene.blend", blob="missing.blend"),
    ResourceFile("placeholder", "scene", prefix="nothing-here/"),
])
def test_missing_resource_fails_the_task_with_a_reason(backend: LocalBatchBackend, container: str,
                                                       resource: ResourceFile) -> None:
    resource = ResourceFile(container, resource.path, blob=resource.blob, prefix=resource.prefix)
    backend.create_job(container)
    backend.add_tasks(container, [TaskSpec(id="render", argv=("true",), resource_files=(resource,),
                                           max_retries=2)])
    state = poll_until_done(backend, container, 20)["render"]
    assert state.result is TaskResult.FAILURE
    assert state.failure is not None and state.failure.startswith("resource file not found")
    assert state.exit_code is None and state.retry_count == 0


def test_blob_name_escaping_its_directory_is_rejected(backend: LocalBatchBackend, blobs: BlobServiceClient,
                                                      container: str, shared_localbatch: LocalBatchProcess) -> None:
    # Azurite (like Azure) rejects '..' segments in a URL but stores backslashes as '/',
    # which lists as "assets/../../../escaped.txt".
    blobs.get_container_client(container).upload_blob("assets/..\\..\\..\\escaped.txt", b"x")
    assert names(blobs, container) == ["assets/../../../escaped.txt"]
    backend.create_job(container)
    backend.add_tasks(container, [TaskSpec(id="render", argv=("true",),
                                           resource_files=(ResourceFile(container, "in", prefix="assets/"),))])
    state = poll_until_done(backend, container, 20)["render"]
    assert state.result is TaskResult.FAILURE
    assert state.failure is not None and "escapes the working directory" in state.failure
    assert not list(shared_localbatch.data_dir.rglob("escaped.txt"))


def test_outputs_follow_their_upload_conditions(backend: LocalBatchBackend, blobs: BlobServiceClient,
                                                container: str) -> None:
    make = ("import os, sys; os.makedirs('frames/sub'); [open(p, 'w').write(p) for p in"
            " ('frames/f_0001.png', 'frames/sub/f_0002.png', 'note.txt')]; sys.exit(int(sys.argv[1]))")
    outputs = (OutputFile("frames/**/*.png", container, "JOB/frames/", UploadCondition.SUCCESS),
               OutputFile("note.txt", container, "JOB/failed.txt", UploadCondition.FAILURE),
               OutputFile("../std*.txt", container, "JOB/logs/", UploadCondition.COMPLETION))
    backend.create_job(container)
    backend.add_tasks(container, [
        TaskSpec(id=task_id, argv=(*py(make), code),
                 output_files=tuple(OutputFile(o.pattern, o.container, o.prefix.replace("JOB", task_id),
                                               o.condition) for o in outputs))
        for task_id, code in (("good", "0"), ("bad", "1"))])
    states = poll_until_done(backend, container, 20)
    assert states["good"].result is TaskResult.SUCCESS and states["bad"].result is TaskResult.FAILURE
    assert names(blobs, container) == ["bad/failed.txt", "bad/logs/stderr.txt", "bad/logs/stdout.txt",
                                       "good/frames/f_0001.png", "good/frames/sub/f_0002.png",
                                       "good/logs/stderr.txt", "good/logs/stdout.txt"]
    blob = blobs.get_blob_client(container, "good/frames/sub/f_0002.png")
    assert blob.download_blob().readall() == b"frames/sub/f_0002.png"
    assert blob.get_blob_properties().content_settings.content_type == "image/png"


def test_outputs_upload_in_the_order_listed(azurite: Azurite, container: str, tmp_path: Path) -> None:
    for name in ("b.png", "a.png", "marker.json", "log.txt"):
        (tmp_path / name).write_text(name)
    files = BlobFiles(azurite.connection_string)
    written = files.upload(tmp_path, [OutputFile("*.png", container, "frames/"),
                                      OutputFile("log.txt", container, "logs/"),
                                      OutputFile("marker.json", container, "chunks/c1.json")], succeeded=True)
    assert written == [f"{container}/frames/a.png", f"{container}/frames/b.png",
                       f"{container}/logs/log.txt", f"{container}/chunks/c1.json"]


def test_symlink_out_of_the_working_directory_is_not_uploaded(backend: LocalBatchBackend,
                                                              blobs: BlobServiceClient, container: str) -> None:
    backend.create_job(container)
    backend.add_tasks(container, [TaskSpec(
        id="leak", argv=("ln", "-s", "/etc/hostname", "leak.txt"),
        output_files=(OutputFile("*.txt", container, "out/"),
                      OutputFile("*.none", container, "marker.json")))])
    state = poll_until_done(backend, container, 20)["leak"]
    assert state.result is TaskResult.FAILURE
    assert state.failure is not None and "outside the working directory" in state.failure
    assert names(blobs, container) == []


def test_upload_without_storage_is_a_clear_task_file_error(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_text("a")
    with pytest.raises(TaskFileError, match="storage-connection-string"):
        BlobFiles(None).upload(tmp_path, [OutputFile("*.png", "renders", "x/")], succeeded=True)
