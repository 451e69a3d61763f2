"""Folder submissions by content: hash every file, upload only the assets the store lacks.

Hashes are SHA-256 (what the server and the nodes check), computed in parallel and kept in a
local cache keyed on the file's absolute path, size and mtime, so an unchanged folder is
re-hashed in the time it takes to stat it. Missing assets go up in parallel 8 MiB blocks
behind one progress bar, each committed (verified by the server) as soon as it is whole, so
a submit that was interrupted resumes where it stopped: what was committed is not missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from renderctl.bundling import BundleRejected, folder_problems
from renderctl.client import Api
from renderctl.transfer import upload_file
from shared.assets import MAX_QUERY_ASSETS, parse_manifest
from shared.bundle import MANIFEST_MAX_BYTES, MANIFEST_NAME, BundleLimits
from shared.errors import ValidationError
from shared.job_spec import manifest_from_json

HASH_WORKERS = min(8, os.cpu_count() or 2)
UPLOAD_WORKERS = 4   # assets at once; each also sends its blocks in parallel
READ_CHUNK = 1024 * 1024
CACHE_ENV = "RENDERCTL_CACHE_DIR"


def cache_path() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                     os.path.expanduser("~/.cache"), "renderctl")
    return Path(root) / "hashes.sqlite"


class HashCache:
    """(absolute path, size, mtime in ns) → SHA-256, in SQLite: a changed file misses, as it must."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, "
                         "mtime_ns INTEGER, sha256 TEXT)")

    def get(self, path: str, size: int, mtime_ns: int) -> str | None:
        row = self._db.execute("SELECT sha256 FROM hashes WHERE path = ? AND size = ? AND mtime_ns = ?",
                               (path, size, mtime_ns)).fetchone()
        return str(row[0]) if row else None

    def put_many(self, rows: Iterable[tuple[str, int, int, str]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class FolderHashes:
    files: dict[str, dict[str, Any]]          # manifest "files": path → {hash, size, mode}
    paths: dict[str, Path]                    # hash → one local file with those bytes
    hashed: int = 0
    cached: int = 0
    hashed_bytes: int = 0
    seconds: float = 0.0


def hash_folder(files: list[tuple[Path, str]], cache: HashCache) -> FolderHashes:
    started = time.monotonic()
    todo: list[tuple[Path, str, os.stat_result]] = []
    result = FolderHashes(files={}, paths={})
    for path, rel in files:
        info = path.stat()
        digest = cache.get(str(path.resolve()), info.st_size, info.st_mtime_ns)
        if digest is None:
            todo.append((path, rel, info))
            continue
        result.cached += 1
        _add(result, path, rel, info, digest)
    with ThreadPoolExecutor(max_workers=HASH_WORKERS) as pool:
        digests = list(pool.map(lambda item: sha256_file(item[0]), todo))
    for (path, rel, info), digest in zip(todo, digests, strict=True):
        _add(result, path, rel, info, digest)
        result.hashed_bytes += info.st_size
    cache.put_many((str(p.resolve()), i.st_size, i.st_mtime_ns, d) for (p, _, i), d in zip(todo, digests, strict=True))
    result.hashed = len(todo)
    result.seconds = time.monotonic() - started
    return result


def _add(result: FolderHashes, path: Path, rel: str, info: os.stat_result, digest: str) -> None:
    result.files[rel] = {"hash": digest, "size": info.st_size, "mode": 0o755 if info.st_mode & 0o111 else 0o644}
    result.paths.setdefault(digest, path)


def read_render_json(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return {}
    if path.stat().st_size > MANIFEST_MAX_BYTES:
        raise BundleRejected([f"{MANIFEST_NAME} is larger than {MANIFEST_MAX_BYTES} bytes"])
    try:
        return manifest_from_json(json.loads(path.read_text("utf-8-sig")))
    except (ValueError, ValidationError) as exc:
        raise BundleRejected([f"{MANIFEST_NAME}: {getattr(exc, 'message', exc)}"]) from None


@dataclass
class AssetUpload:
    """What a folder submission moved: the benchmark and the summary line read it."""

    manifest: dict[str, Any]
    hashes: FolderHashes
    uploaded_bytes: int = 0
    uploaded_assets: int = 0
    skipped_bytes: int = 0
    skipped_assets: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def prepare_manifest(folder: Path, limits: BundleLimits | None = None,
                     cache: HashCache | None = None) -> AssetUpload:
    """The folder's manifest, checked by the pipeline's own rules before anything is sent."""
    limits = limits or BundleLimits()
    files, problems = folder_problems(folder, limits)
    if not files and not problems:
        problems.append("the folder is empty")
    if problems:
        raise BundleRejected(problems[:20] + ([f"and {len(problems) - 20} more"] if len(problems) > 20 else []))
    own = cache is None
    cache = cache or HashCache(cache_path())
    try:
        hashes = hash_folder(files, cache)
    finally:
        if own:
            cache.close()
    manifest = {"files": hashes.files, "render": read_render_json(folder)}
    try:
        parse_manifest(manifest, limits)
    except ValidationError as exc:
        raise BundleRejected([f"{exc.code}: {exc.message}"]) from None
    return AssetUpload(manifest=manifest, hashes=hashes, timings={"hashSeconds": round(hashes.seconds, 3)})


def missing_assets(api: Api, refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """POST /api/assets/missing in batches: each missing asset with its write URL."""
    missing: list[dict[str, Any]] = []
    for start in range(0, len(refs), MAX_QUERY_ASSETS):
        answer = api.call("POST", "assets/missing", body={"assets": refs[start:start + MAX_QUERY_ASSETS]},
                          feature="uploads by content (POST /api/assets/missing)")
        missing += answer["missing"]
    return missing


def upload_assets(api: Api, upload: AssetUpload, console: Console) -> None:
    """Every asset the store lacks, in parallel, committed one by one (which makes reruns resume)."""
    started = time.monotonic()
    sizes = {f["hash"]: f["size"] for f in upload.manifest["files"].values()}
    refs = [{"hash": h, "size": s} for h, s in sorted(sizes.items())]
    missing = missing_assets(api, refs)
    upload.uploaded_assets = len(missing)
    upload.uploaded_bytes = sum(m["size"] for m in missing)
    upload.skipped_assets = len(refs) - len(missing)
    upload.skipped_bytes = sum(sizes.values()) - upload.uploaded_bytes
    with Progress(TextColumn("upload {task.fields[count]} assets"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("upload", total=upload.uploaded_bytes, count=len(missing))
        advance: Callable[[int], None] = lambda n: bar.advance(task, n)  # noqa: E731

        def send(item: dict[str, Any]) -> None:
            upload_file(upload.hashes.paths[item["hash"]], item["uploadUrl"], advance)
            api.call("POST", "assets/commit",
                     body={"hash": item["hash"], "size": item["size"], "blobName": item["blobName"]})

        with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
            for future in [pool.submit(send, item) for item in missing]:
                future.result()
    upload.timings["uploadSeconds"] = round(time.monotonic() - started, 3)

