"""JobStore on azure-cosmos: endpoint + key (local server) or DefaultAzureCredential (Azure).

Documents are partitioned by /id. replace() is conditional on the etag read
(If-Match), so concurrent writers see ConflictError and redo (shared.jobs.update_job).
list() pages newest first with the SDK's continuation token, passed through opaquely.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos import exceptions as cosmos_errors

from shared.adapters.retry import cosmos_options
from shared.errors import ConflictError, NotFoundError, PermanentError, TransientError, ValidationError
from shared.job_document import JobStatus
from shared.ports import JobDocument

MAX_TOP = 1000
MAX_CONTINUATION_CHARS = 16_384
_TRANSIENT_STATUS = {408, 410, 429, 449, 500, 502, 503, 504}


def map_error(exc: AzureError, what: str) -> Exception:
    if isinstance(exc, cosmos_errors.CosmosResourceExistsError):
        return ConflictError(f"{what}: already exists")
    if isinstance(exc, cosmos_errors.CosmosAccessConditionFailedError):
        return ConflictError(f"{what}: changed since it was read")
    if isinstance(exc, cosmos_errors.CosmosResourceNotFoundError):
        return NotFoundError(f"{what}: not found")
    if isinstance(exc, cosmos_errors.CosmosClientTimeoutError | ServiceRequestError | ServiceResponseError):
        return TransientError(f"{what}: Cosmos DB unreachable: {exc}")
    if isinstance(exc, ClientAuthenticationError):
        return PermanentError(f"{what}: not authorized", code="unauthorized")
    if isinstance(exc, cosmos_errors.CosmosHttpResponseError):
        status = exc.status_code
        if status == 412:
            return ConflictError(f"{what}: changed since it was read")
        if status == 409:
            return ConflictError(f"{what}: already exists")
        if status in _TRANSIENT_STATUS:
            return TransientError(f"{what}: Cosmos DB busy ({status})")
        if status in (401, 403):
            return PermanentError(f"{what}: not authorized ({status})", code="unauthorized")
        return PermanentError(f"{what}: Cosmos DB refused ({status}): {exc.message}")
    return TransientError(f"{what}: {exc}")


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    try:
        yield
    except AzureError as exc:
        raise map_error(exc, what) from exc


def _bad_continuation() -> ValidationError:
    # Cosmos DB answers 400 for a token it did not hand out; the API maps this code to 400 too.
    return ValidationError("bad continuation token", field="continuationToken", code="invalid_continuation_token")


def _body(doc: JobDocument) -> JobDocument:
    """What we send: the document without the server's system properties."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def cosmos_client(settings: Any, **client_options: Any) -> CosmosClient:
    """The client reads the account on construction, so even this can fail (mapped)."""
    credential: Any = settings.cosmos_key
    if not credential:
        from azure.identity import DefaultAzureCredential
        credential = DefaultAzureCredential()
    if not settings.cosmos_verify_tls:
        # Only the local server's self-signed certificate is ever unverified; say so once, not per request.
        import warnings

        import urllib3

        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    with _mapped(f"connect to Cosmos DB at {settings.cosmos_endpoint}"):
        return CosmosClient(settings.cosmos_endpoint, credential=credential,
                            connection_verify=settings.cosmos_verify_tls,
                            **cosmos_options(settings.cosmos_endpoint, client_options))


def ensure_cosmos_container(settings: Any, client: CosmosClient | None = None) -> ContainerProxy:
    """Create the database, the jobs container (partition key /id) and the chunk pages'
    container (/jobId) if missing; start-up only. Returns the jobs container.

    Reads first: in Azure, infra creates them and the app's identity holds a data-plane
    role only, which may read a container's metadata but not create databases.
    """
    client = client or cosmos_client(settings)
    _ensure(client, settings.cosmos_database, settings.cosmos_chunks_container, "/jobId")
    return _ensure(client, settings.cosmos_database, settings.cosmos_container, "/id")


def _ensure(client: CosmosClient, database_name: str, name: str, partition_key: str) -> ContainerProxy:
    what = f"ensure {database_name}/{name}"
    container = client.get_database_client(database_name).get_container_client(name)
    try:
        with _mapped(what):
            container.read()
        return container
    except NotFoundError:
        pass
    with _mapped(what):
        database = client.create_database_if_not_exists(database_name)
        return database.create_container_if_not_exists(name, partition_key=PartitionKey(path=partition_key))


def container_of(settings: Any, name: str, client: CosmosClient | None = None,
                 **client_options: Any) -> ContainerProxy:
    """A container of the app's database, on the client given or a new one."""
    client = client or cosmos_client(settings, **client_options)
    return client.get_database_client(settings.cosmos_database).get_container_client(name)


class CosmosJobStore:
    def __init__(self, container: ContainerProxy) -> None:
        self._container = container

    @classmethod
    def from_settings(cls, settings: Any, client: CosmosClient | None = None,
                      **client_options: Any) -> CosmosJobStore:
        """client_options go to the SDK client (e.g. retry_total=0 in tests)."""
        return cls(container_of(settings, settings.cosmos_container, client, **client_options))

    def create(self, doc: JobDocument) -> JobDocument:
        with _mapped(f"create job {doc.get('id')}"):
            return dict(self._container.create_item(_body(doc)))

    def get(self, job_id: str) -> JobDocument:
        with _mapped(f"job {job_id}"):
            return dict(self._container.read_item(job_id, partition_key=job_id))

    def replace(self, doc: JobDocument, *, etag: str) -> JobDocument:
        job_id = doc["id"]
        with _mapped(f"replace job {job_id}"):
            return dict(self._container.replace_item(job_id, _body(doc), etag=etag,
                                                     match_condition=MatchConditions.IfNotModified))

    def list(self, *, status: str | None = None, top: int = 50, continuation: str | None = None,
             name_prefix: str | None = None) -> tuple[list[JobDocument], str | None]:
        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
            raise ValidationError(f"top must be 1..{MAX_TOP}", field="top")
        # The token travels in an HTTP header: a control character would fail there, not as bad input.
        if continuation is not None and (not continuation or len(continuation) > MAX_CONTINUATION_CHARS
                                         or not (continuation.isascii() and continuation.isprintable())):
            raise _bad_continuation()
        conditions: list[str] = []
        parameters: list[dict[str, Any]] = []
        if status is not None:
            try:
                status = JobStatus(status).value
            except ValueError:
                raise ValidationError(f"unknown status {status!r}", field="status") from None
            conditions.append("c.status = @status")
            parameters.append({"name": "@status", "value": status})
        if name_prefix is not None:  # a parameter, never query text; STARTSWITH uses the range index
            conditions.append("STARTSWITH(c.name, @namePrefix, true)")  # ignoring case: "Shot010" finds "shot010"
            parameters.append({"name": "@namePrefix", "value": name_prefix})
        query = "SELECT * FROM c" + (" WHERE " + " AND ".join(conditions) if conditions else "")
        query += " ORDER BY c.timestamps.createdAt DESC"
        with _mapped("list jobs"):
            try:
                pages: Any = self._container.query_items(query, parameters=parameters,
                                                         enable_cross_partition_query=True,
                                                         max_item_count=top).by_page(continuation)
                for page in pages:
                    items = [dict(item) for item in page]
                    token = pages.continuation_token
                    if items or not token:  # Cosmos may return an empty page that still has a token
                        return items, token
            except cosmos_errors.CosmosHttpResponseError as exc:
                if exc.status_code == 400 and continuation is not None:
                    raise _bad_continuation() from exc
                raise
            except (ValueError, TypeError) as exc:  # the SDK parses some tokens itself
                raise _bad_continuation() from exc
        return [], None

    def ping(self) -> None:
        with _mapped("ping Cosmos DB"):
            self._container.read()

    def delete(self, job_id: str) -> None:
        """Delete one job document (retention tools and tests); missing → NotFoundError."""
        with _mapped(f"delete job {job_id}"):
            self._container.delete_item(job_id, partition_key=job_id)
