"""Starting a job: from a BlobCreated event (artists) or POST /api/jobs (studio systems)."""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df

from shared import names
from shared.bootstrap import Services
from shared.errors import ConflictError, NotFoundError, ValidationError
from shared.job_document import JobSource, SourceKind, job_document, new_job_id, upload_job_id, validate_job_id
from shared.job_names import default_job_name
from shared.job_spec import manifest_from_json
from shared.jobs import create_job_document
from shared.pipeline import assets
from shared.pipeline.runs import not_before
from shared.ports import BlobInfo

log = logging.getLogger(__name__)

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
COMMITTED_APIS = {"PutBlob", "PutBlockList", "CopyBlob", "FlushWithClose"}
SCENE_SUFFIXES = (".zip", ".blend")
# \Z, not $: "$" also matches before a final newline, so "a.zip\n" would read as the blob "a.zip".
_SUBJECT = re.compile(r"^/blobServices/default/containers/([^/]+)/blobs/(.+)\Z", re.DOTALL)
_MARKER = re.compile(r"^([A-Za-z0-9_-]{1,64})/chunks/([A-Za-z0-9_-]{1,64})\.json\Z")


@dataclass(frozen=True)
class BlobEvent:
    container: str
    blob_name: str
    url: str
    etag: str
    api: str
    size: int | None


def parse_blob_created(event_type: str, subject: str, data: Any) -> BlobEvent:
    """The parts of a BlobCreated event the pipeline uses; ValidationError if it is not one."""
    if event_type != BLOB_CREATED:
        raise ValidationError(f"not a BlobCreated event: {event_type!r}", field="eventType")
    match = _SUBJECT.match(subject or "")
    if match is None:
        raise ValidationError(f"subject {subject!r} does not name a blob", field="subject")
    if not isinstance(data, dict):
        raise ValidationError("event data is not an object", field="data")
    url, etag, api = data.get("url"), data.get("eTag"), data.get("api")
    if not isinstance(url, str) or not url or not isinstance(etag, str) or not etag:
        raise ValidationError("event data lacks url or eTag", field="data")
    size = data.get("contentLength")
    return BlobEvent(container=match.group(1), blob_name=match.group(2), url=url, etag=etag,
                     api=str(api or ""), size=size if isinstance(size, int) else None)


def scene_upload_reason_to_skip(event: BlobEvent, scenes_container: str) -> str | None:
    """Why a BlobCreated event is no scene upload for us, or None if it is one."""
    if event.container != scenes_container:
        return f"blob is in container {event.container!r}, not {scenes_container!r}"
    if event.api not in COMMITTED_APIS:
        return f"data.api {event.api!r} does not commit a blob"
    if not event.blob_name.lower().endswith(SCENE_SUFFIXES):
        return "blob is neither a .zip nor a .blend"
    if any(part in ("", ".", "..") for part in event.blob_name.split("/")):
        return "blob name has an empty, '.' or '..' segment"
    if event.blob_name.rsplit("/", 1)[-1].startswith("._"):  # as bundle.py ignores them inside zips
        return "blob is a macOS resource fork (._name), not a bundle"
    return None


def parse_marker(event: BlobEvent, renders_container: str) -> tuple[str, str] | None:
    """(job id, task id) of a completion marker blob, or None for any other blob."""
    if event.container != renders_container:
        return None
    match = _MARKER.match(event.blob_name)
    return (match.group(1), match.group(2)) if match else None


def orchestration_input(svc: Services, job_id: str, source: JobSource, request: dict[str, Any] | None) -> dict:
    return {"jobId": job_id, "source": source.to_json(), "request": request or {},
            "pollSeconds": svc.settings.poll_interval_seconds}


def check_url_names_subject(event: BlobEvent) -> None:
    """ValidationError unless `data.url` names the subject's blob.

    The job records the url and derives its id from it, while it renders the subject's
    blob: an event whose url names another blob would record a forged source. The url's
    path is compared decoded (Event Grid percent-encodes it; the subject is plain)."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(event.url).path)
    if not path.endswith(f"/{event.container}/{event.blob_name}"):
        raise ValidationError(f"data.url {event.url!r} does not name the subject's blob "
                              f"{event.container}/{event.blob_name}", field="data.url")


async def start_upload_job(svc: Services, client: df.DurableOrchestrationClient, event: BlobEvent) -> str | None:
    """Starts the job for an uploaded bundle unless it exists: redelivered events are no-ops.
    Raises ValidationError for an event whose url and subject disagree (no job)."""
    check_url_names_subject(event)
    job_id = upload_job_id(event.url, event.etag)
    status = await client.get_status(job_id)  # the SDK's client is async; the adapters are not
    if getattr(status, "runtime_status", None) is not None:
        log.info("job %s exists (%s); event redelivered", job_id, status.runtime_status)
        return None
    source = JobSource(kind=SourceKind.BLOB, container=event.container, blob_name=event.blob_name,
                       blob_url=event.url, etag=event.etag)
    if not await _start_once(client, job_id, orchestration_input(svc, job_id, source, None)):
        log.info("job %s started concurrently by a duplicate event", job_id)
        return None
    log.info("job %s started for %s/%s", job_id, event.container, event.blob_name)
    return job_id


async def _start_once(client: df.DurableOrchestrationClient, job_id: str, payload: dict[str, Any]) -> bool:
    """Starts the job's orchestration unless it runs already: True if this call started it.

    Two callers may both see no instance and both start one (a duplicate event, two POSTs
    with one Idempotency-Key). The loser gets a plain Exception whose text varies by host
    (409, "already exists", "is running"), so the instance's existence decides, not the text."""
    try:
        await client.start_new(names.RENDER_JOB, job_id, payload)
    except Exception:
        status = await client.get_status(job_id)
        if getattr(status, "runtime_status", None) is not None:
            return False
        raise
    return True


PRINCIPAL_HEADER = "x-ms-client-principal-name"


def submitter_of(headers: Mapping[str, str], *, trust_app_service_auth: bool) -> str | None:
    """Who submitted a job: the App Service authentication principal, when the app runs behind it.

    Without App Service authentication the principal headers are the caller's own words
    (anyone holding a function key could claim to be anyone), so they are ignored."""
    if not trust_app_service_auth:
        return None
    name = (headers.get(PRINCIPAL_HEADER) or "").strip()
    return name[:256] or None


@dataclass(frozen=True)
class Submitted:
    job: dict[str, Any]
    created: bool


async def submit_http_job(svc: Services, client: df.DurableOrchestrationClient, body: Any, idempotency_key: str | None,
                          submitter: str | None) -> Submitted:
    """POST /api/jobs: validates the body, records the job, starts its orchestration."""
    job_id, source, request, stored, created = await asyncio.to_thread(
        _record_http_job, svc, body, idempotency_key, submitter)
    status = await client.get_status(job_id)
    if getattr(status, "runtime_status", None) is None:
        await _start_once(client, job_id, orchestration_input(svc, job_id, source, request))
    return Submitted(job=stored, created=created)


def _bundle_submission(svc: Services, body: Any) -> tuple[dict[str, Any], str, str, BlobInfo, str]:
    """(request, container, bundle blob, its info, the job's name until its render.json is read)
    of a POST naming a bundle in the scenes container."""
    request = manifest_from_json(body, request=True)
    bundle = request.pop("bundle", None)
    if not isinstance(bundle, str) or not bundle:
        raise ValidationError("bundle (the blob name of a scene bundle in the scenes container) is required",
                              field="bundle")
    if not bundle.lower().endswith(SCENE_SUFFIXES) or any(p in ("", ".", "..") for p in bundle.split("/")):
        raise ValidationError("bundle must be a .zip or .blend blob name without empty or '..' segments",
                              field="bundle")
    container = svc.settings.scenes_container
    try:
        blob = svc.blobs.info(container, bundle)
    except NotFoundError:
        raise ValidationError(f"no blob {bundle!r} in the {container} container", field="bundle") from None
    return request, container, bundle, blob, request.get("name") or default_job_name(bundle)


def _record_http_job(svc: Services, body: Any, idempotency_key: str | None,
                     submitter: str | None) -> tuple[str, JobSource, dict[str, Any], dict[str, Any], bool]:
    """The blocking half of submit_http_job (run in a thread): validate, look up, record."""
    if isinstance(body, dict) and "manifest" in body:  # scene files by content: shared/pipeline/assets.py
        request, container, bundle, blob, name = assets.manifest_submission(svc, body)
    else:
        request, container, bundle, blob, name = _bundle_submission(svc, body)
    not_before(request.get("notBefore"), svc.now())  # an impossible or too distant start is a 400 now
    if idempotency_key is not None:
        # Batch job ids ignore case (the job id is the Batch job id): "Shot1" and "shot1" are one job.
        job_id = validate_job_id(idempotency_key.strip(), field_name="Idempotency-Key").lower()
    else:
        job_id = new_job_id(uuid.uuid4().hex)
    source = JobSource(kind=SourceKind.HTTP, container=container, blob_name=bundle,
                       blob_url=svc.blobs.url(container, bundle), etag=blob.etag, submitter=submitter)
    doc = job_document(job_id, source, now=svc.now(), renders_container=svc.settings.renders_container)
    doc["request"] = request
    doc["name"] = name
    stored, created = create_job_document(svc.jobs, doc)
    # The name is part of the request: the same key with another name is another body (409).
    same_request = stored.get("source", {}).get("blobName") == bundle and stored.get("request") == request
    if not created and not same_request:
        raise ConflictError(f"job {job_id} exists with a different request", code="idempotency_conflict")
    # The same request again still (re)starts its orchestration if the first call died before.
    return job_id, source, request, stored, created
