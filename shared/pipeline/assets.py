"""The asset store: which assets are missing, write URLs, commits verified by the server, and
the jobs that render from a manifest of assets instead of a bundle.

Clients never write an asset's own name. A write URL names a staging blob
(`_staging/<uuid>/<hash>`, create + write only, minutes long); `commit_asset` streams it
through SHA-256 and only bytes whose hash is their name become `sha256/<hash>`, written
once with If-None-Match (never overwritten). So every asset under `sha256/` was verified by
the server, and a client sending other bytes under a hash changes nothing stored.

A manifest job's source is the manifest itself, stored by content as
`manifests/sha256/<hash>.json` in the assets container; its hash is the job's provenance.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared import assets as model
from shared.adapters.blob_sas import WRITE_ONLY, BlobSigner
from shared.bootstrap import Services
from shared.bundle import BundleLimits
from shared.errors import ConflictError, NotFoundError, ValidationError
from shared.job_document import JobSource, JobStatus, normalize_etag
from shared.job_names import manifest_job_name
from shared.job_spec import manifest_from_json
from shared.jobs import update_job
from shared.planning import combine_manifests
from shared.ports import BlobInfo
from shared.tasks import ResourceFile, TaskSpec

Json = dict[str, Any]

STAGING_PREFIX = "_staging/"
UPLOAD_LIFETIME = timedelta(minutes=15)
MANIFEST_KIND = "manifest"
NODE_MANIFEST = "assets.json"        # the task's copy of the manifest, read by materialize.py
MATERIALIZE = "tools/materialize.py"
LOOKUP_THREADS = 16                  # blob HEADs in parallel: a manifest has up to thousands of assets
MAX_REPORTED_MISSING = 1000
MANIFEST_MAX_BYTES = 64 * 1024 * 1024
_STAGING = re.compile(r"^_staging/[0-9a-f]{32}/([0-9a-f]{64})\Z")
_READ = 1024 * 1024


def limits(svc: Services) -> BundleLimits:
    s = svc.settings
    return BundleLimits(max_bytes=s.bundle_max_bytes, max_entries=s.bundle_max_entries,
                        max_unpacked_bytes=s.bundle_max_unpacked_bytes)


def _container(svc: Services) -> str:
    return svc.settings.assets_container


# ---------------------------------------------------------------- what the store holds


class KnownAssets:
    """Assets this process saw stored lately (blob URL → size), so that a client's question, its commit
    and its POST /api/jobs do not each ask the blob service again for every asset of a shot.

    Stored assets never change, but they can be deleted: so entries expire, and the validate step,
    which decides whether a job runs, never uses this and asks the blob service every time."""

    def __init__(self, lifetime_s: float = 120.0, max_entries: int = 200_000) -> None:
        self._lifetime, self._max = lifetime_s, max_entries
        self._seen: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def size(self, url: str) -> int | None:
        with self._lock:
            entry = self._seen.get(url)
            if entry is None or entry[1] < time.monotonic():
                return None
            return entry[0]

    def add(self, url: str, size: int) -> None:
        with self._lock:
            if len(self._seen) >= self._max:
                self._seen.clear()  # simpler than an LRU, and only costs a round of lookups
            self._seen[url] = (size, time.monotonic() + self._lifetime)


KNOWN = KnownAssets()


def _stored(svc: Services, ref: model.AssetRef, *, known: KnownAssets | None = KNOWN) -> bool:
    """Whether the verified asset exists; a stored asset of another size means the client's size lies."""
    url = svc.blobs.url(_container(svc), model.asset_blob(ref.hash))  # names the account too
    size = known.size(url) if known is not None else None
    if size is None:
        try:
            size = svc.blobs.info(_container(svc), model.asset_blob(ref.hash)).size
        except NotFoundError:
            return False
        if known is not None:
            known.add(url, size)
    if size != ref.size:
        raise ValidationError(f"asset {ref.hash} is {size} bytes, not {ref.size}: the size or the hash is "
                              "wrong", code="asset_size_mismatch", field="size", details={"hash": ref.hash})
    return True


def missing_refs(svc: Services, refs: Iterable[model.AssetRef], *,
                 known: KnownAssets | None = KNOWN) -> list[model.AssetRef]:
    refs = list(refs)
    with ThreadPoolExecutor(max_workers=LOOKUP_THREADS) as pool:
        present = list(pool.map(lambda r: _stored(svc, r, known=known), refs))
    return [r for r, here in zip(refs, present, strict=True) if not here]


def find_missing(svc: Services, signer: BlobSigner, body: Any, *, now: datetime | None = None) -> Json:
    """POST /api/assets/missing: the assets the store lacks, each with a write URL for its upload."""
    refs = model.parse_asset_refs(body, limits(svc))
    missing = missing_refs(svc, refs)
    expires_on = (now or datetime.now(UTC)) + UPLOAD_LIFETIME
    expires = expires_on.isoformat(timespec="seconds").replace("+00:00", "Z")
    answers = []
    for ref in missing:
        blob = f"{STAGING_PREFIX}{uuid.uuid4().hex}/{ref.hash}"
        answers.append({**ref.to_json(), "blobName": blob, "expiresOn": expires,
                        "uploadUrl": signer.sign(_container(svc), blob, WRITE_ONLY, expires_on)})
    missing_hashes = {r.hash for r in missing}
    present = [r for r in refs if r.hash not in missing_hashes]
    return {"missing": answers, "present": len(present), "presentBytes": sum(r.size for r in present),
            "container": _container(svc)}


# ---------------------------------------------------------------- commits


def _check_commit(body: Any, limit: int) -> tuple[model.AssetRef, str]:
    if not isinstance(body, dict) or set(body) != {"hash", "size", "blobName"}:
        raise ValidationError("the body must be {\"hash\", \"size\", \"blobName\"}", field="body")
    ref = model.AssetRef(model.check_hash(body["hash"]), model.check_size(body["size"], "size", limit))
    match = _STAGING.match(body["blobName"]) if isinstance(body["blobName"], str) else None
    if match is None or match.group(1) != ref.hash:
        raise ValidationError("blobName must be the upload blob POST /api/assets/missing gave for this hash",
                              field="blobName")
    return ref, body["blobName"]


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_READ):
            digest.update(chunk)
    return digest.hexdigest()


def _delete_quietly(svc: Services, name: str) -> None:
    """Staging blobs go once committed or refused; the lifecycle rule removes any left behind."""
    try:
        svc.blobs.delete(_container(svc), name)
    except NotFoundError:
        pass


def commit_asset(svc: Services, body: Any) -> Json:
    """POST /api/assets/commit: hash the uploaded bytes; store them as sha256/<hash> only if they match.

    The bytes hashed are the bytes stored (downloaded once to a temporary file, then uploaded
    from it), so a client rewriting its staging blob meanwhile cannot slip other bytes in."""
    ref, staging = _check_commit(body, limits(svc).max_unpacked_bytes)
    container, final = _container(svc), model.asset_blob(ref.hash)
    if _stored(svc, ref):
        _delete_quietly(svc, staging)
        return {**ref.to_json(), "stored": True, "verified": model.ALGORITHM, "uploaded": False}
    with tempfile.TemporaryDirectory(prefix="asset-") as tmp:
        path = Path(tmp) / "asset"
        try:
            svc.blobs.download_to_file(container, staging, path, max_bytes=ref.size)
        except NotFoundError:
            raise ValidationError(f"nothing was uploaded to {staging}", code="asset_not_uploaded",
                                  field="blobName") from None
        except ValidationError:  # larger than it claims: max_bytes refused it
            _delete_quietly(svc, staging)
            raise _mismatch(ref, "more bytes than its size") from None
        size, digest = path.stat().st_size, _sha256_of(path)
        if size != ref.size or digest != ref.hash:
            _delete_quietly(svc, staging)
            raise _mismatch(ref, f"{size} bytes with SHA-256 {digest}")
        try:
            svc.blobs.upload_file(container, final, path, overwrite=False)
        except ConflictError:
            pass  # committed concurrently: only this function writes sha256/ names, after the same check
    KNOWN.add(svc.blobs.url(container, final), ref.size)
    _delete_quietly(svc, staging)
    return {**ref.to_json(), "stored": True, "verified": model.ALGORITHM, "uploaded": True}


def _mismatch(ref: model.AssetRef, what: str) -> ValidationError:
    return ValidationError(f"the upload for {ref.hash} is {what}, not the asset it names; nothing was stored",
                           code="asset_hash_mismatch", field="hash", details={"hash": ref.hash})


# ---------------------------------------------------------------- submitting a manifest job


def manifest_submission(svc: Services, body: dict[str, Any]) -> tuple[Json, str, str, BlobInfo, str]:
    """POST /api/jobs with {"manifest": ...}: (request, container, manifest blob, its info, job name).

    Every asset must be in the store: otherwise 400 listing the missing ones. The manifest is
    stored by its own hash, so the same manifest submitted twice is one blob (and, with one
    Idempotency-Key, one job)."""
    rest = {k: v for k, v in body.items() if k != "manifest"}
    if "bundle" in rest:
        raise ValidationError("give either a bundle or a manifest, not both", field="bundle")
    request = manifest_from_json(rest)
    manifest = model.parse_manifest(body["manifest"], limits(svc))
    blend = manifest.blend_path(request.get("blend"))
    missing = missing_refs(svc, manifest.assets())
    if missing:
        raise ValidationError(f"{len(missing)} assets of the manifest are not in the store; upload them first",
                              code="assets_missing", field="manifest",
                              details={"missing": [r.to_json() for r in missing[:MAX_REPORTED_MISSING]],
                                       "missingCount": len(missing)})
    container, name = _container(svc), model.manifest_blob(manifest.digest())
    try:
        info = svc.blobs.upload(container, name, manifest.canonical_bytes(), overwrite=False,
                                content_type="application/json")
    except ConflictError:
        info = svc.blobs.info(container, name)  # the same bytes: the name is their hash
    job_name = request.get("name") or manifest.render.get("name") or manifest_job_name(blend)
    return request, container, name, info, job_name


def is_manifest_source(svc: Services, source: JobSource) -> bool:
    return source.container == _container(svc) and source.blob_name.startswith(model.MANIFEST_PREFIX)


# ---------------------------------------------------------------- validating a manifest job


def _error(code: str, message: str, details: Any = None) -> Json:
    return {"ok": False, "error": {"code": code, "message": message, "details": details}}


def validate_manifest_job(svc: Services, job_id: str, doc: Json) -> Json:
    """The validate step of a manifest job: the manifest and every asset still there, as submitted.

    Returns the validate step's result; records on the job what validate_bundle records for a
    bundle (`bundle`, `manifest`, `input`) plus `provenance.manifestHash`."""
    source = JobSource.from_json(doc["source"])
    try:
        raw = svc.blobs.download(source.container, source.blob_name, max_bytes=MANIFEST_MAX_BYTES)
        info = svc.blobs.info(source.container, source.blob_name)
    except NotFoundError:
        return _error("asset_missing", "the job's manifest is no longer in the asset store")
    digest = hashlib.sha256(raw).hexdigest()
    if source.blob_name != model.manifest_blob(digest):
        return _error("asset_hash_mismatch", "the job's stored manifest does not match its hash")
    try:
        manifest = model.parse_manifest(json.loads(raw), limits(svc))
        request = doc.get("request") or {}
        blend = manifest.blend_path(request.get("blend"))
        missing = missing_refs(svc, manifest.assets(), known=None)  # asks the store itself: this decides
    except ValidationError as exc:
        code = "asset_hash_mismatch" if exc.code == "asset_size_mismatch" else exc.code
        return {"ok": False, "error": {**exc.to_json(), "code": code}}
    if missing:
        return _error("asset_missing", f"{len(missing)} assets of the job were deleted from the store before it ran",
                      {"missing": [r.to_json() for r in missing[:MAX_REPORTED_MISSING]],
                       "missingCount": len(missing)})
    paths = [f.path for f in manifest.files if f.path != blend]
    bundle = {"kind": MANIFEST_KIND, "blendPath": blend, "manifest": manifest.render,
              "entryCount": len(manifest.files), "unpackedBytes": manifest.total_bytes,
              "assets": paths[:200], "assetCount": len(paths)}
    combined = combine_manifests(request, manifest.render)

    def record(d: Json) -> None:
        if JobStatus(d["status"]).is_terminal:
            return
        d["bundle"] = bundle
        d["manifest"] = combined
        d["input"] = {"container": source.container, "blob": source.blob_name,
                      "eTag": normalize_etag(info.etag), "size": info.size}
        d.setdefault("provenance", {})["manifestHash"] = digest
    update_job(svc.jobs, job_id, record)
    return {"ok": True, "kind": MANIFEST_KIND, "blendPath": blend}


# ---------------------------------------------------------------- tasks of a manifest job


def is_manifest_job(doc: Json) -> bool:
    return (doc.get("bundle") or {}).get("kind") == MANIFEST_KIND


def manifest_bundle(doc: Json, bundle_dir: str) -> tuple[ResourceFile, str, None]:
    """What batch_tasks._bundle gives for a manifest job: the manifest file, the .blend's path."""
    source = doc["input"]
    return (ResourceFile(container=source["container"], blob=source["blob"], path=NODE_MANIFEST),
            f"{bundle_dir}/{doc['bundle']['blendPath']}", None)


def materialize_argv(svc: Services, task_id: str, marker: str, bundle_dir: str) -> list[str]:
    """`python3 tools/materialize.py ... --` before the task runner's own command line.

    On Azure Batch the node fetches each asset itself, once per node, with the pool's managed
    identity; localbatch's tasks have no network, so localbatch delivers the files (see
    asset_resource_files) and the script verifies and freezes them."""
    argv = ["python3", MATERIALIZE, "--task-id", task_id, "--marker", marker, "--manifest", NODE_MANIFEST,
            "--dest", bundle_dir]
    if svc.settings.render_backend == "azure_batch":
        argv += ["--blob-base", f"{svc.settings.storage_account_url.rstrip('/')}/{_container(svc)}"]
        if svc.settings.batch_node_identity_id:
            argv += ["--identity-resource-id", svc.settings.batch_node_identity_id]
    return [*argv, "--"]


def asset_resource_files(svc: Services, doc: Json, bundle_dir: str) -> tuple[ResourceFile, ...]:
    """localbatch only: each file of the manifest as a resource file below the bundle directory.
    Azure Batch tasks get none (the node fetches from its cache), so no task needs thousands."""
    if svc.settings.render_backend == "azure_batch":
        return ()
    source = doc["input"]
    raw = json.loads(svc.blobs.download(source["container"], source["blob"], max_bytes=MANIFEST_MAX_BYTES))
    return tuple(ResourceFile(container=_container(svc), blob=model.asset_blob(entry["hash"]),
                              path=f"{bundle_dir}/{path}") for path, entry in sorted(raw["files"].items()))


def with_assets(svc: Services, doc: Json, spec: TaskSpec, *, marker: str, bundle_dir: str) -> TaskSpec:
    """A task of a manifest job materializes the job's tree before the task runner starts."""
    if not is_manifest_job(doc):
        return spec
    delivered = asset_resource_files(svc, doc, bundle_dir)
    return replace(spec, argv=(*materialize_argv(svc, spec.id, marker, bundle_dir), *spec.argv),
                   resource_files=(*spec.resource_files, *delivered))
