"""Old assets: remove what no job has used for N days (default 31, as Flamenco's Shaman does).

An asset or manifest is kept while any job that is not finished uses it (queued, validating,
rendering, paused…, however old), or a job finished less than N days ago used it; otherwise it
goes once it is N days old itself. Jobs are read again just before anything is deleted, so a
job submitted while the cleanup ran keeps its assets too; one submitted in the moment between
that second read and the delete fails with `asset_missing` rather than rendering something else.

    python -m shared.pipeline.asset_cleanup [--days 31] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared import assets as model
from shared.bootstrap import Services
from shared.errors import NotFoundError
from shared.job_document import JobSource, JobStatus
from shared.pipeline.assets import MANIFEST_MAX_BYTES, is_manifest_source

log = logging.getLogger(__name__)
DEFAULT_DAYS = 31


@dataclass
class Cleanup:
    kept: int = 0
    deleted: list[str] = field(default_factory=list)


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def referenced(svc: Services, cutoff: datetime) -> set[str]:
    """Blob names (assets and manifests) that unfinished jobs, or jobs finished after cutoff, use."""
    names: set[str] = set()
    token: str | None = None
    while True:
        page, token = svc.jobs.list(top=200, continuation=token)
        for doc in page:
            source = JobSource.from_json(doc["source"])
            if not is_manifest_source(svc, source):
                continue
            finished = _when((doc.get("timestamps") or {}).get("finishedAt") or
                             (doc.get("timestamps") or {}).get("updatedAt"))
            if JobStatus(doc["status"]).is_terminal and finished is not None and finished < cutoff:
                continue
            names.add(source.blob_name)
            try:
                raw = json.loads(svc.blobs.download(source.container, source.blob_name, max_bytes=MANIFEST_MAX_BYTES))
            except NotFoundError:
                continue
            names.update(model.asset_blob(entry["hash"]) for entry in raw["files"].values())
        if not token:
            return names


def clean_old_assets(svc: Services, *, days: int = DEFAULT_DAYS, now: datetime | None = None,
                     dry_run: bool = False) -> Cleanup:
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    container = svc.settings.assets_container
    keep = referenced(svc, cutoff)
    old = [b.name for prefix in (model.ASSET_PREFIX, model.MANIFEST_PREFIX) for b in svc.blobs.list(container, prefix)
           if b.name not in keep and (_when(b.last_modified) or cutoff) < cutoff]
    keep |= referenced(svc, cutoff)  # jobs submitted while the listing ran
    result = Cleanup()
    for name in old:
        if name in keep:
            result.kept += 1
            continue
        if not dry_run:
            try:
                svc.blobs.delete(container, name)
            except NotFoundError:
                pass
        result.deleted.append(name)
    log.info("asset cleanup: %d deleted%s, %d kept for jobs submitted meanwhile", len(result.deleted),
             " (dry run)" if dry_run else "", result.kept)
    return result


def main(argv: list[str] | None = None) -> int:
    from shared.bootstrap import services

    parser = argparse.ArgumentParser(prog="python -m shared.pipeline.asset_cleanup")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="unused for this many days (default 31)")
    parser.add_argument("--dry-run", action="store_true", help="list what would go, delete nothing")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    result = clean_old_assets(services(), days=args.days, dry_run=args.dry_run)
    for name in result.deleted:
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
