"""Short-lived SAS URLs for one blob each: upload URLs, read URLs for a job's outputs, and the
write URL a render task PUTs its heartbeat to.

Two signers behind one small interface: locally the SAS is signed with the storage
account key from the connection string (Azurite's); in Azure with a user delegation
key that the app's managed identity obtains, so no account key exists anywhere.
A SAS names exactly one blob (signed resource "b"), so it cannot list, nor reach any
other name; the permissions given are the only ones it carries.
"""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from azure.core.exceptions import AzureError
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, UserDelegationKey, generate_blob_sas

from shared.adapters.blob_store import check_blob_name, check_container
from shared.errors import TransientError

# Clocks of client, app and storage differ by seconds to minutes: start the SAS a little early.
CLOCK_SKEW = timedelta(minutes=5)
# A user delegation key lives up to 7 days; one is reused for this long, then renewed.
DELEGATION_KEY_LIFETIME = timedelta(hours=6)


class BlobSigner(Protocol):
    """Signs a URL for one blob that allows exactly `permission` until `expires_on`."""

    def sign(self, container: str, blob_name: str, permission: BlobSasPermissions,
             expires_on: datetime) -> str: ...


WRITE_ONLY = BlobSasPermissions(create=True, write=True)  # PutBlob, PutBlock, PutBlockList; no read/list/delete
READ_ONLY = BlobSasPermissions(read=True)  # GetBlob and its properties; no write, delete or list


class AccountKeySigner:
    """Signs with the account key of a connection string (Azurite, or a keyed account)."""

    def __init__(self, connection_string: str) -> None:
        self._service = BlobServiceClient.from_connection_string(connection_string)
        credential: Any = self._service.credential
        self._key = getattr(credential, "account_key", None)
        if not self._key:
            raise ValueError("the storage connection string has no account key to sign with")

    def sign(self, container: str, blob_name: str, permission: BlobSasPermissions,
             expires_on: datetime) -> str:
        blob = self._service.get_blob_client(check_container(container), check_blob_name(blob_name))
        token = generate_blob_sas(blob.account_name or "", container, blob_name, account_key=self._key,
                                  permission=permission, expiry=expires_on,
                                  start=datetime.now(UTC) - CLOCK_SKEW)
        return f"{blob.url}?{token}"


class UserDelegationSigner:
    """Signs with a user delegation key obtained through the app's managed identity."""

    def __init__(self, account_url: str, credential: Any) -> None:
        self._service = BlobServiceClient(account_url, credential=credential)
        self._lock = threading.Lock()
        self._key: UserDelegationKey | None = None
        self._key_expires = datetime.min.replace(tzinfo=UTC)

    def _delegation_key(self, needed_until: datetime) -> UserDelegationKey:
        with self._lock:
            if self._key is None or self._key_expires < needed_until:
                start = datetime.now(UTC) - CLOCK_SKEW
                expiry = max(needed_until, datetime.now(UTC) + DELEGATION_KEY_LIFETIME)
                try:
                    self._key = self._service.get_user_delegation_key(start, expiry)
                except AzureError as exc:
                    raise TransientError(f"could not get a user delegation key: {exc}") from exc
                self._key_expires = expiry
            return self._key

    def sign(self, container: str, blob_name: str, permission: BlobSasPermissions,
             expires_on: datetime) -> str:
        blob = self._service.get_blob_client(check_container(container), check_blob_name(blob_name))
        token = generate_blob_sas(blob.account_name or "", container, blob_name,
                                  user_delegation_key=self._delegation_key(expires_on),
                                  permission=permission, expiry=expires_on,
                                  start=datetime.now(UTC) - CLOCK_SKEW)
        return f"{blob.url}?{token}"


def signer_from_settings(settings: Any) -> BlobSigner:
    """The account key when the connection string has one; the managed identity otherwise."""
    if settings.storage_connection_string:
        return AccountKeySigner(settings.storage_connection_string)
    from azure.identity import DefaultAzureCredential

    return UserDelegationSigner(settings.storage_account_url, DefaultAzureCredential())


@functools.cache
def cached_signer(settings: Any) -> BlobSigner:
    """One signer per process and settings (a user delegation key is reused for hours)."""
    return signer_from_settings(settings)


def read_url(signer: BlobSigner, container: str, blob_name: str, lifetime: timedelta,
             *, now: datetime | None = None) -> tuple[str, str]:
    """(URL, expiresOn) reading one blob until now + lifetime: no write, no list, no other blob."""
    expires_on = (now or datetime.now(UTC)) + lifetime
    return signer.sign(container, blob_name, READ_ONLY, expires_on), iso_time(expires_on)


def write_url(signer: BlobSigner, container: str, blob_name: str, lifetime: timedelta,
              *, now: datetime | None = None) -> str:
    """A URL that creates or overwrites one blob (a task's heartbeat) until now + lifetime."""
    return signer.sign(container, blob_name, WRITE_ONLY, (now or datetime.now(UTC)) + lifetime)


def iso_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_blob_range(url: str, offset: int, length: int) -> bytes:
    """`length` bytes from `offset` of the blob a read SAS URL names (a log's tail without
    downloading all of it; the BlobStore port reads whole blobs)."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import BlobClient

    from shared.errors import NotFoundError

    try:
        return BlobClient.from_blob_url(url).download_blob(offset=offset, length=length).readall()
    except ResourceNotFoundError as exc:
        raise NotFoundError("the blob is not there") from exc
    except AzureError as exc:
        raise TransientError(f"could not read the blob: {type(exc).__name__}") from exc
