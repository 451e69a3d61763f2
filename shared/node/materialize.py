"""Build a task's scene tree from its job's manifest of assets, then start the task runner.

Shipped to nodes beside task_runner.py and run with the node's python3, so it uses only the
standard library:

    python3 materialize.py --task-id chunk-0001 --marker marker.json --manifest assets.json
        --dest bundle [--blob-base URL [--identity-resource-id ID]] [--cache DIR]
        -- python3 task_runner.py ... -- blender -b bundle/shots/shot010.blend ...

The manifest is the job's `{"files": {path: {"hash", "size", "mode"}}, ...}`. Each file ends
up at `--dest/<path>`, read-only, and its bytes are checked against the SHA-256 it is named
by before the render starts (the node trusts no one's hash either):

- a file already at its place (localbatch delivers the files as resource files, because its
  sandboxed tasks have no network) is verified where it lies;
- otherwise the asset comes from the node's cache, `$AZ_BATCH_NODE_SHARED_DIR/assets/sha256/
  <hash>`, downloaded there once per node from `--blob-base/sha256/<hash>` (with the pool's
  managed identity through the instance metadata service, or a SAS in the URL's query) under
  an fcntl lock, into a partial file that is verified, made read-only and renamed into place;
  then hard-linked into the task (copied where a link cannot be made). Two jobs sharing a
  texture download it once per node.

Then RENDER_BUNDLE_DIR is the tree's directory and the command after `--` replaces this
process. If the tree cannot be built, a failed marker is written (task_runner's shape) and
the exit code says why. A summary line `[materialize] {...}` on stderr counts downloads.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import task_runner  # shipped beside this script

ALGORITHM = "sha256"
EXIT_ASSET_MISMATCH = 65  # an asset's bytes are not its hash: retrying cannot help
EXIT_FETCH_FAILED = 74    # the asset store could not be read (another try may succeed)
READ_CHUNK = 1024 * 1024
ATTEMPTS = 4
IMDS = "http://169.254.169.254/metadata/identity/oauth2/token"
STORAGE_RESOURCE = "https://storage.azure.com/"
STORAGE_VERSION = "2021-08-06"
_HASH = re.compile(r"^[0-9a-f]{64}\Z")


class AssetError(Exception):
    """An asset's bytes are wrong, or the manifest is."""


class FetchError(Exception):
    """The asset store could not be read."""


def log(message: str) -> None:
    print(f"[materialize] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the manifest


def read_manifest(path: str) -> list[tuple[str, str, int, int]]:
    """(path, hash, size, mode) of every file, checked again: the node trusts no one's file."""
    try:
        with open(path, encoding="utf-8") as handle:
            files = json.load(handle)["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AssetError(f"cannot read the manifest {path}: {exc}") from exc
    out = []
    for name, entry in sorted(files.items()):
        parts = name.split("/")
        if (not name or name.startswith("/") or "\\" in name or "\0" in name
                or any(p in ("", ".", "..") for p in parts)):
            raise AssetError(f"manifest path escapes the tree: {name!r}")
        digest, size = entry.get("hash"), entry.get("size")
        if not isinstance(digest, str) or not _HASH.match(digest) or not isinstance(size, int) or size < 0:
            raise AssetError(f"manifest entry of {name!r} has a bad hash or size")
        out.append((name, digest, size, 0o555 if int(entry.get("mode") or 0) & 0o111 else 0o444))
    return out


def sha256_file(path: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# ---------------------------------------------------------------- fetching


class Store:
    """GETs of `<blob base>/sha256/<hash>`: a SAS in the base's query, or the node's managed identity."""

    def __init__(self, blob_base: str, identity_resource_id: str | None = None) -> None:
        split = urllib.parse.urlsplit(blob_base)
        self._base = urllib.parse.urlunsplit((split.scheme, split.netloc, split.path.rstrip("/"), "", ""))
        self._query = split.query
        self._identity = identity_resource_id
        self._token: tuple[str, float] | None = None

    def _bearer(self) -> dict[str, str]:
        if self._query:
            return {}
        if self._token is None or self._token[1] < time.time() + 300:
            params = {"api-version": "2018-02-01", "resource": STORAGE_RESOURCE}
            if self._identity:
                params["msi_res_id"] = self._identity
            request = urllib.request.Request(f"{IMDS}?{urllib.parse.urlencode(params)}", headers={"Metadata": "true"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                body = json.load(answer)
            self._token = (body["access_token"], float(body.get("expires_on") or time.time() + 3600))
        return {"Authorization": f"Bearer {self._token[0]}", "x-ms-version": STORAGE_VERSION}

    def url(self, digest: str) -> str:
        url = f"{self._base}/{ALGORITHM}/{digest}"
        return f"{url}?{self._query}" if self._query else url

    def download(self, digest: str, size: int, target: str) -> None:
        """The asset's bytes into target, checked on the way; retried with backoff when the store fails."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                request = urllib.request.Request(self.url(digest), headers=self._bearer())
                with urllib.request.urlopen(request, timeout=60) as answer, open(target, "wb") as out:
                    hasher, written = hashlib.sha256(), 0
                    while chunk := answer.read(READ_CHUNK):
                        written += len(chunk)
                        if written > size:
                            raise AssetError(f"asset {digest} has more than its {size} bytes")
                        hasher.update(chunk)
                        out.write(chunk)
                if written != size or hasher.hexdigest() != digest:
                    raise AssetError(f"asset {digest} downloaded as {written} bytes with SHA-256 "
                                     f"{hasher.hexdigest()}: not the asset it names")
                return
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    raise AssetError(f"asset {digest} is not in the asset store") from None
                error: Exception = exc
                if exc.code < 500 and exc.code not in (408, 429):
                    raise FetchError(f"the asset store refused {digest}: HTTP {exc.code}") from None
            except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
                error = exc
            if attempt < ATTEMPTS:
                time.sleep(min(2 ** attempt, 20))
        raise FetchError(f"cannot download asset {digest} after {ATTEMPTS} attempts: {error}")


# ---------------------------------------------------------------- the node's cache


def cached_asset(store: Store, cache: str, digest: str, size: int) -> tuple[str, bool]:
    """The node's read-only copy of an asset, downloaded now if no task has yet: (path, downloaded)."""
    final = os.path.join(cache, digest)
    with task_runner.locked(os.path.join(cache, f".{digest}.lock")):
        with contextlib.suppress(FileNotFoundError):
            if os.stat(final).st_size == size:
                return final, False
            log(f"cached asset {digest} has the wrong size; fetching it again")
            os.chmod(final, 0o644)
            os.unlink(final)
        for name in os.listdir(cache):
            if name.startswith(f".{digest}.partial-"):
                os.unlink(os.path.join(cache, name))  # left by a task that died mid-download
        fd, partial = tempfile.mkstemp(prefix=f".{digest}.partial-", dir=cache)
        os.close(fd)
        try:
            store.download(digest, size, partial)
            os.chmod(partial, 0o444)
            os.rename(partial, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise
        return final, True


def _place(source: str, target: str, mode: int) -> str:
    """A hard link to the cached asset (or a copy where links cannot be made): 'linked'/'copied'."""
    if os.path.lexists(target):
        if os.path.isdir(target) and not os.path.islink(target):
            raise AssetError(f"cannot place {target}: a folder is there")
        os.unlink(target)
    try:
        os.link(source, target)
        return "linked"
    except OSError:
        shutil.copyfile(source, target)
        os.chmod(target, mode)
        return "copied"


def materialize(files: list[tuple[str, str, int, int]], dest: str, store: Store | None,
                cache: str | None) -> dict[str, Any]:
    """Every file of the manifest at dest/<path>, verified and read-only. Returns counts for the log."""
    counts: dict[str, Any] = {"files": len(files), "verified": 0, "downloaded": 0, "reused": 0, "linked": 0,
                              "copied": 0, "downloadedBytes": 0}
    root = os.path.realpath(dest)
    os.makedirs(root, exist_ok=True)
    for name, digest, size, mode in files:
        target = os.path.join(root, *name.split("/"))
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        if not os.path.realpath(parent).startswith(root + os.sep) and os.path.realpath(parent) != root:
            raise AssetError(f"manifest path escapes the tree: {name!r}")
        if os.path.isfile(target) and not os.path.islink(target) and os.stat(target).st_nlink == 1:
            got, got_size = sha256_file(target)  # delivered as a resource file: check where it lies
            if got != digest or got_size != size:
                raise AssetError(f"{name} is {got_size} bytes with SHA-256 {got}, not the asset {digest}")
            os.chmod(target, mode)
            counts["verified"] += 1
            continue
        if store is None or cache is None:
            raise AssetError(f"{name} was not delivered and no asset store was given")
        source, downloaded = cached_asset(store, cache, digest, size)
        counts["downloaded" if downloaded else "reused"] += 1
        counts["downloadedBytes"] += size if downloaded else 0
        counts[_place(source, target, mode)] += 1
    return counts


def cache_dir(explicit: str | None) -> str:
    root = explicit or os.path.join(os.environ.get(task_runner.SHARED_DIR_ENV) or ".assets-cache",
                                    "assets", ALGORITHM)
    os.makedirs(root, exist_ok=True)
    return root


# ---------------------------------------------------------------- main


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="materialize.py", description="Build a task's tree from its manifest.")
    parser.add_argument("--task-id", required=True)
    parser.add_argument("--marker", required=True, help="where a failed marker goes if the tree cannot be built")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--blob-base", help="the assets container's URL (may carry a SAS query)")
    parser.add_argument("--identity-resource-id", help="the pool's managed identity, for the metadata service")
    parser.add_argument("--cache", help="the node cache (default $AZ_BATCH_NODE_SHARED_DIR/assets/sha256)")
    return task_runner.options_and_command(parser, argv)


def fail(args: argparse.Namespace, code: int, error: str) -> int:
    log(error)
    now = task_runner._now()
    marker: dict[str, Any] = {"taskId": args.task_id, "kind": "materialize", "status": "failed", "frames": [],
                              "exitCode": code, "childExitCode": None, "seconds": 0.0, "startedAt": now,
                              "finishedAt": now, "program": "materialize", "expected": None, "error": error}
    try:
        task_runner.write_marker(args.marker, marker)
    except OSError as exc:
        log(f"cannot write the marker {args.marker}: {exc}")
    return code


def main(argv: list[str]) -> int:
    parsed = task_runner.parse_or_exit_code(parse_args, argv)
    if isinstance(parsed, int):
        return parsed
    args, command = parsed
    started = time.monotonic()
    try:
        files = read_manifest(args.manifest)
        store = Store(args.blob_base, args.identity_resource_id) if args.blob_base else None
        counts = materialize(files, args.dest, store, cache_dir(args.cache) if store else None)
    except AssetError as exc:
        return fail(args, EXIT_ASSET_MISMATCH, f"bad asset: {exc}")
    except (FetchError, OSError) as exc:
        return fail(args, EXIT_FETCH_FAILED, f"cannot build the task's files: {exc}")
    counts["seconds"] = round(time.monotonic() - started, 3)
    log(json.dumps(counts, sort_keys=True))
    env = dict(os.environ, **{task_runner.BUNDLE_DIR_ENV: os.path.realpath(args.dest)})
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        return fail(args, task_runner.EXIT_NOT_FOUND, f"cannot start {command[0]}: {exc}")
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
