"""`renderctl submit`: check the bundle, upload it through an upload URL, start one job.

One run makes exactly one job: the upload lands under the API's upload prefix, which the
scenes trigger ignores, and the job comes from the single POST /api/jobs. With
--idempotency-key a rerun finds the job first and uploads nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from renderctl import assets
from renderctl.bundling import BundleRejected, prepare
from renderctl.client import Api, ApiError, CliError, NotSupported
from renderctl.transfer import upload_file
from shared.errors import ValidationError
from shared.job_spec import manifest_from_json

# Submit options the API may not take yet, by body key → the option that sets it.
NEWER_KEYS = {"notBefore": "--at", "paused": "--paused", "frameOrder": "--frame-order"}


@dataclass
class SubmitOptions:
    frames: str | None = None
    chunk_size: int | str | None = None  # frames per task, or "auto"
    fps: float | None = None
    resolution: str | None = None
    samples: int | None = None
    priority: int | None = None
    video: bool | None = None
    at: str | None = None
    paused: bool = False
    frame_order: str | None = None
    name: str | None = None
    idempotency_key: str | None = None
    as_bundle: bool = False  # a folder as one zip instead of by content


def request_body(options: SubmitOptions, bundle_manifest: dict[str, Any]) -> dict[str, Any]:
    """The POST /api/jobs keys the options set (they win over the bundle's render.json)."""
    body: dict[str, Any] = {}
    for key, value in (("frames", options.frames), ("chunkSize", options.chunk_size), ("fps", options.fps),
                       ("resolution", options.resolution), ("samples", options.samples),
                       ("priority", options.priority), ("name", options.name), ("notBefore", options.at),
                       ("frameOrder", options.frame_order)):
        if value is not None:
            body[key] = value
    if options.paused:
        body["paused"] = True
    if options.video is False:
        body["video"] = None
    elif options.video and "video" in bundle_manifest and bundle_manifest["video"] is None:
        body["video"] = {}  # the bundle said no video; --video asks for the default one
    known = {k: v for k, v in body.items() if k not in NEWER_KEYS}
    try:  # the same checks the API makes, before anything is uploaded
        manifest_from_json({**known, "bundle": "check.zip"}, request=True)
    except ValidationError as exc:
        raise CliError(f"bad option: {exc.message}", code=exc.code) from None
    return body


def check_supported(api: Api, body: dict[str, Any]) -> None:
    """Options the API's own description does not list are refused before the upload."""
    wanted = [k for k in body if k in NEWER_KEYS]
    if not wanted:
        return
    try:
        spec = api.call("GET", "openapi.json", feature="its OpenAPI description")
        accepted = set(spec["components"]["schemas"]["SubmitRequest"]["properties"])
    except (NotSupported, KeyError, TypeError):
        accepted = set()
    missing = [NEWER_KEYS[k] for k in wanted if k not in accepted]
    if missing:
        raise NotSupported(f"the API cannot do this yet: {', '.join(missing)} (POST /api/jobs does not take "
                           f"{', '.join(k for k in wanted if NEWER_KEYS[k] in missing)})", code="not_supported")


def existing_job(api: Api, key: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The job a previous run with this Idempotency-Key made, if its options were the same."""
    try:
        job = api.get_job(key)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    previous = {k: v for k, v in (job.get("request") or {}).items()}
    # The API stores the request normalized (frames as a list…): normalize ours the same way.
    ours = manifest_from_json({k: v for k, v in body.items() if k not in NEWER_KEYS}, request=False)
    if previous != ours:
        raise ApiError(409, "idempotency_conflict",
                       f"job {job['id']} exists with other options; use another --idempotency-key")
    return job


def submit(api: Api, path: Path, options: SubmitOptions, console: Console,
           log: Callable[[str], None]) -> tuple[dict[str, Any], bool]:
    """(job document, created): checks, uploads and submits; nothing is uploaded on a bad bundle.

    A folder goes by content (renderctl/assets.py) when the API has the asset routes; a zip, a
    .blend, or a folder for an API without them goes as one bundle."""
    if path.is_dir() and not options.as_bundle:
        try:
            return submit_folder(api, path, options, console, log)
        except NotSupported:
            log("the API has no asset store; sending the folder as one bundle")
    try:
        bundle = prepare(path)
    except BundleRejected as exc:
        raise CliError("the bundle would be rejected, nothing was uploaded:\n  " + "\n  ".join(exc.problems),
                       code="bundle_rejected") from None
    try:
        body = request_body(options, bundle.info.manifest)
        check_supported(api, body)
        job = _submitted_before(api, options, body, log)
        if job is not None:
            return job, False
        upload = api.create_upload(bundle.upload_name)
        size = bundle.path.stat().st_size
        with Progress(TextColumn("upload {task.fields[name]}"), BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task("upload", total=size, name=bundle.upload_name)
            upload_file(bundle.path, upload["uploadUrl"], lambda n: bar.advance(task, n))
        log(f"uploaded {bundle.upload_name} ({size} bytes) as {upload['blobName']}")
        job = api.submit({"bundle": upload["blobName"], **body}, options.idempotency_key)
        return job, True
    finally:
        bundle.cleanup()


def _submitted_before(api: Api, options: SubmitOptions, body: dict[str, Any],
                      log: Callable[[str], None]) -> dict[str, Any] | None:
    """The job an earlier submit with the same idempotency key made, if any (then nothing is uploaded)."""
    if not options.idempotency_key:
        return None
    job = existing_job(api, options.idempotency_key, body)
    if job is not None:
        log(f"{job['id']} was submitted before with this idempotency key; nothing uploaded")
    return job


def submit_folder(api: Api, folder: Path, options: SubmitOptions, console: Console,
                  log: Callable[[str], None]) -> tuple[dict[str, Any], bool]:
    """A folder by content: hash, upload only the assets the store lacks, POST the manifest."""
    started = time.monotonic()
    try:
        upload = assets.prepare_manifest(folder)
    except BundleRejected as exc:
        raise CliError("the folder would be rejected, nothing was uploaded:\n  " + "\n  ".join(exc.problems),
                       code="bundle_rejected") from None
    body = request_body(options, upload.manifest["render"])
    check_supported(api, body)
    job = _submitted_before(api, options, body, log)
    if job is not None:
        return job, False
    hashes = upload.hashes
    log(f"hashed {hashes.hashed} files ({hashes.hashed_bytes} bytes), {hashes.cached} unchanged from the cache, "
        f"in {hashes.seconds:.1f}s")
    assets.upload_assets(api, upload, console)
    log(f"uploaded {upload.uploaded_assets} assets ({upload.uploaded_bytes} bytes); skipped {upload.skipped_assets} "
        f"the store has ({upload.skipped_bytes} bytes) in {time.monotonic() - started:.1f}s")
    job = api.submit({"manifest": upload.manifest, **body}, options.idempotency_key)
    return job, True
