"""Download and heartbeat URLs, attacked on a real Azurite: a read URL fetches its blob with plain
HTTP and refuses a write, a delete, a list and any other blob; a heartbeat URL writes its one blob
and reads nothing. Azurite checks SAS signatures and permissions as Azure Storage does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient

from shared.adapters.blob_sas import AccountKeySigner, read_url, write_url
from shared.adapters.blob_store import AzureBlobStore
from shared.adapters.fake_chunk_store import FakeChunkStore
from shared.adapters.fake_job_store import FakeJobStore
from shared.bootstrap import Services
from shared.config import Settings
from shared.pipeline import layout, watch_reads
from tests.watch.fakes import WatchedBackend, rendering_job

JOB = "job-sas"


@pytest.fixture
def stack(azurite, unique_name):
    from shared.adapters.fake_event_publisher import RecordingEventPublisher
    from shared.adapters.fake_render_backend import ManualClock

    settings = Settings.from_env({"STORAGE_CONNECTION_STRING": azurite.connection_string,
                                  "COSMOS_ENDPOINT": "https://cosmos.invalid/", "LOCALBATCH_URL": "http://lb.invalid",
                                  "RENDERS_CONTAINER": unique_name, "OUTPUT_URL_LIFETIME_SECONDS": "600"})
    blobs = AzureBlobStore.from_connection_string(azurite.connection_string)
    blobs.ensure_container(unique_name)
    svc = Services(settings=settings, blobs=blobs, jobs=FakeJobStore(),
                   chunks=FakeChunkStore(), backend=WatchedBackend(ManualClock()),
                   events=RecordingEventPublisher())
    rendering_job(svc, JOB)
    return svc, AccountKeySigner(azurite.connection_string)


def service(azurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string)


def other_blob(url: str, name: str) -> str:
    """The same signature, pointed at another blob name."""
    parts = urlsplit(url)
    container = parts.path.split("/")[2]
    return urlunsplit(parts._replace(path=f"/{parts.path.split('/')[1]}/{container}/{name}"))


def _outputs(stack) -> dict[str, dict]:
    svc, signer = stack
    for name, data in (("video.mp4", b"\x00\x00\x00\x18ftypmp42 video"), ("frames/shot_0001.png", b"png"),
                       ("logs/chunk-0001/stdout.txt", b"log"), ("previews/1.jpg", b"jpg")):
        svc.blobs.upload(svc.settings.renders_container, f"{JOB}/{name}", data, overwrite=True)
    answer = watch_reads.outputs(svc, signer, JOB)
    return {f["name"]: f for f in answer["files"]} | {"_expires": answer["expiresOn"]}


def test_a_read_url_fetches_the_video_with_plain_http(stack):
    files = _outputs(stack)
    answer = requests.get(files["video.mp4"]["url"], timeout=10)
    assert answer.status_code == 200 and answer.content == b"\x00\x00\x00\x18ftypmp42 video"
    for name in ("frames/shot_0001.png", "logs/chunk-0001/stdout.txt", "previews/1.jpg"):
        assert requests.get(files[name]["url"], timeout=10).status_code == 200


def test_a_read_url_lives_the_configured_lifetime(stack):
    expires = datetime.fromisoformat(_outputs(stack)["_expires"].replace("Z", "+00:00"))
    assert timedelta(minutes=9) <= expires - datetime.now(UTC) <= timedelta(minutes=11)


def test_a_read_url_refuses_a_write(azurite, stack):
    svc, _ = stack
    url = _outputs(stack)["video.mp4"]["url"]
    answer = requests.put(url, data=b"overwritten", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10)
    assert answer.status_code == 403
    with pytest.raises(HttpResponseError) as refused:
        BlobClient.from_blob_url(url).upload_blob(b"overwritten", overwrite=True)
    assert refused.value.status_code == 403
    stored = service(azurite).get_blob_client(svc.settings.renders_container, f"{JOB}/video.mp4")
    assert stored.download_blob().readall().endswith(b"video")


def test_a_read_url_refuses_a_delete(azurite, stack):
    svc, _ = stack
    url = _outputs(stack)["video.mp4"]["url"]
    assert requests.delete(url, timeout=10).status_code == 403
    assert service(azurite).get_blob_client(svc.settings.renders_container, f"{JOB}/video.mp4").exists()


def test_a_read_url_refuses_a_list(azurite, stack):
    svc, _ = stack
    token = urlsplit(_outputs(stack)["video.mp4"]["url"]).query
    container_url = f"{service(azurite).url}{svc.settings.renders_container}"
    assert requests.get(f"{container_url}?restype=container&comp=list&{token}", timeout=10).status_code == 403
    with pytest.raises(HttpResponseError) as refused:
        list(ContainerClient.from_container_url(f"{container_url}?{token}").list_blobs())
    assert refused.value.status_code == 403


def test_a_read_url_reaches_no_other_blob(stack):
    svc, _ = stack
    svc.blobs.upload(svc.settings.renders_container, f"{JOB}/input/shot.blend", b"the scene", overwrite=True)
    url = _outputs(stack)["frames/shot_0001.png"]["url"]
    for name in (f"{JOB}/input/shot.blend", f"{JOB}/video.mp4", f"{JOB}/frames/shot_0001.png/../../input/shot.blend"):
        assert requests.get(other_blob(url, name), timeout=10).status_code in (403, 404)


def test_an_expired_read_url_is_refused(stack):
    svc, signer = stack
    svc.blobs.upload(svc.settings.renders_container, f"{JOB}/video.mp4", b"v", overwrite=True)
    url, _ = read_url(signer, svc.settings.renders_container, f"{JOB}/video.mp4", timedelta(minutes=1),
                      now=datetime.now(UTC) - timedelta(hours=1))
    assert requests.get(url, timeout=10).status_code == 403


def test_a_heartbeat_url_writes_its_blob_again_and_again_but_reads_and_reaches_nothing_else(azurite, stack):
    svc, signer = stack
    container = svc.settings.renders_container
    blob = layout.heartbeat_blob(JOB, "chunk-0001")
    url = write_url(signer, container, blob, timedelta(minutes=5))
    for body in (b'{"framesDone": [1]}', b'{"framesDone": [1, 2]}'):  # as the node's heartbeat PUTs it
        put = requests.put(url, data=body, headers={"x-ms-blob-type": "BlockBlob"}, timeout=10)
        assert put.status_code == 201
    assert svc.blobs.download(container, blob) == b'{"framesDone": [1, 2]}'
    assert requests.get(url, timeout=10).status_code == 403
    forged = other_blob(url, f"{JOB}/frames/shot_0001.png")
    assert requests.put(forged, data=b"x", headers={"x-ms-blob-type": "BlockBlob"},
                        timeout=10).status_code == 403
    assert not service(azurite).get_blob_client(container, f"{JOB}/frames/shot_0001.png").exists()


def test_a_long_log_is_tailed_by_range_without_reading_it_all(stack, monkeypatch):
    svc, signer = stack
    monkeypatch.setattr(watch_reads, "FULL_READ_MAX", 4096)
    text = "".join(f"line {i:05d}\n" for i in range(20_000)).encode()  # 220 KB
    svc.blobs.upload(svc.settings.renders_container, layout.log_blob(JOB, "chunk-0001", "stdout"), text)

    def no_whole_read(*_: object, **__: object) -> bytes:
        raise AssertionError("the whole log was downloaded")
    monkeypatch.setattr(svc.blobs, "download", no_whole_read)
    answer = watch_reads.task_log(svc, signer, JOB, "chunk-0001", "stdout", "3")
    assert answer["source"] == "log"
    assert answer["text"] == "line 19997\nline 19998\nline 19999\n"
