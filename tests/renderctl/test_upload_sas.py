"""Upload URLs, attacked on Azurite: a SAS for one blob writes that blob and nothing else.

Azurite checks SAS signatures and permissions as Azure Storage does, so these run
against the real signer (AccountKeySigner, the local one) and a real blob service.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient

from shared.adapters.blob_sas import AccountKeySigner
from shared.errors import ValidationError
from shared.pipeline.uploads import UPLOAD_PREFIX, is_upload_blob, issue_upload


@pytest.fixture
def container(azurite, unique_name) -> str:
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(unique_name)
    return unique_name


@pytest.fixture
def signer(azurite) -> AccountKeySigner:
    return AccountKeySigner(azurite.connection_string)


def service(azurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string)


def other_blob_url(url: str, name: str) -> str:
    """The same signature, pointed at another blob of the container."""
    parts = urlsplit(url)
    path = parts.path.rsplit("/", 2)[0] + "/" + name
    return urlunsplit(parts._replace(path=path))


def test_the_upload_url_writes_its_blob_in_blocks(azurite, container, signer):
    upload = issue_upload(signer, container, {"name": "shot010.zip"})
    assert is_upload_blob(upload["blobName"]) and upload["blobName"].startswith(UPLOAD_PREFIX)
    assert upload["blobName"].endswith("/shot010.zip") and upload["container"] == container
    blob = BlobClient.from_blob_url(upload["uploadUrl"])
    blob.stage_block("YQ==", b"first ")
    blob.stage_block("Yg==", b"second")
    blob.commit_block_list(["YQ==", "Yg=="])
    stored = service(azurite).get_blob_client(container, upload["blobName"]).download_blob().readall()
    assert stored == b"first second"


def test_each_upload_gets_a_blob_name_of_its_own(container, signer):
    names = {issue_upload(signer, container, {"name": "same.zip"})["blobName"] for _ in range(5)}
    assert len(names) == 5


def test_the_upload_url_cannot_read_its_own_blob(azurite, container, signer):
    upload = issue_upload(signer, container, {"name": "a.zip"})
    BlobClient.from_blob_url(upload["uploadUrl"]).upload_blob(b"secret")
    answer = requests.get(upload["uploadUrl"], timeout=10)
    assert answer.status_code == 403
    assert b"secret" not in answer.content


def test_the_upload_url_cannot_list_the_container(azurite, container, signer):
    service(azurite).get_blob_client(container, "artist-a/other.zip").upload_blob(b"x")
    upload = issue_upload(signer, container, {"name": "a.zip"})
    token = urlsplit(upload["uploadUrl"]).query
    listing = ContainerClient.from_container_url(f"{service(azurite).url}{container}?{token}")
    with pytest.raises(HttpResponseError) as refused:
        list(listing.list_blobs())
    assert refused.value.status_code == 403


def test_the_upload_url_cannot_write_another_blob_name(azurite, container, signer):
    upload = issue_upload(signer, container, {"name": "a.zip"})
    forged = other_blob_url(upload["uploadUrl"], "artist-a/shot010.zip")
    with pytest.raises(HttpResponseError) as refused:
        BlobClient.from_blob_url(forged).upload_blob(b"overwrite")
    assert refused.value.status_code == 403
    assert not service(azurite).get_blob_client(container, "artist-a/shot010.zip").exists()


def test_the_upload_url_cannot_delete(azurite, container, signer):
    upload = issue_upload(signer, container, {"name": "a.zip"})
    BlobClient.from_blob_url(upload["uploadUrl"]).upload_blob(b"kept")
    with pytest.raises(HttpResponseError) as refused:
        BlobClient.from_blob_url(upload["uploadUrl"]).delete_blob()
    assert refused.value.status_code == 403
    assert service(azurite).get_blob_client(container, upload["blobName"]).exists()


def test_an_expired_upload_url_is_refused(azurite, container, signer):
    past = datetime.now(UTC) - timedelta(hours=1)
    upload = issue_upload(signer, container, {"name": "a.zip"}, now=past, lifetime=timedelta(minutes=15))
    assert datetime.fromisoformat(upload["expiresOn"].replace("Z", "+00:00")) < datetime.now(UTC)
    with pytest.raises(HttpResponseError) as refused:
        BlobClient.from_blob_url(upload["uploadUrl"]).upload_blob(b"late")
    assert refused.value.status_code == 403
    assert not service(azurite).get_blob_client(container, upload["blobName"]).exists()


def test_the_upload_url_lives_minutes(container, signer):
    now = datetime.now(UTC)
    upload = issue_upload(signer, container, {"name": "a.blend"}, now=now)
    expires = datetime.fromisoformat(upload["expiresOn"].replace("Z", "+00:00"))
    assert timedelta(minutes=1) <= expires - now.replace(microsecond=0) <= timedelta(minutes=60)
    assert "sp=cw" in upload["uploadUrl"]  # create + write, nothing more


@pytest.mark.parametrize("body", [
    {"name": "../../renders/x.zip"}, {"name": "a/b.zip"}, {"name": "x.exe"}, {"name": ".zip"},
    {"name": "-rf.blend"}, {"name": "a.zip\n"}, {"name": "a" * 300 + ".zip"}, {"name": 5}, {},
    {"name": "a.zip", "blobName": "artist-a/shot010.zip"}, ["a.zip"],
])
def test_a_hostile_upload_request_gets_a_clear_error_and_no_url(container, signer, body):
    with pytest.raises(ValidationError) as refused:
        issue_upload(signer, container, body)
    assert refused.value.field in ("name", "body", "blobName")


def test_the_signer_follows_the_storage_settings(azurite):
    from shared.adapters.blob_sas import UserDelegationSigner, signer_from_settings
    from shared.config import Settings

    base = {"COSMOS_ENDPOINT": "https://cosmos", "LOCALBATCH_URL": "http://batch"}
    keyed = Settings.from_env({**base, "STORAGE_CONNECTION_STRING": azurite.connection_string})
    assert isinstance(signer_from_settings(keyed), AccountKeySigner)
    # In Azure there is no account key: the app's identity gets a user delegation key instead.
    identity = Settings.from_env({**base, "STORAGE_ACCOUNT_URL": "https://account.blob.core.windows.net"})
    assert isinstance(signer_from_settings(identity), UserDelegationSigner)


def test_a_connection_string_without_an_account_key_cannot_sign():
    with pytest.raises(ValueError, match="no account key"):
        AccountKeySigner("BlobEndpoint=https://account.blob.core.windows.net/;SharedAccessSignature=sv=x")
