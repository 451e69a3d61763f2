"""Scene files stored by content: the asset manifest a job renders from, and its checks (pure).

A manifest maps each relative path of the artist's folder to the SHA-256 of its bytes:

    {"files": {"shots/shot010.blend": {"hash": "<64 hex>", "size": 123, "mode": 420}, ...},
     "render": {render.json keys}}

Every asset lives once in the assets container as `sha256/<hash>`, written only by the
server after it hashed the bytes itself, so a manifest freezes a job's inputs: what the
artist's folder holds later never changes what the job renders. Paths follow the rules of
zip entries in shared/bundle.py (no `..`, no absolute names, no names equal but for case,
no file that is also a folder, names short enough to unpack) and the same limits on count
and total size. SHA-256 because the nodes' scripts are standard-library only and hashlib's
SHA-256 uses the CPU's SHA extensions (see the README for the measured rate).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from shared.bundle import MAX_ENTRY_NAME_CHARS, MAX_SEGMENT_BYTES, BundleLimits
from shared.errors import ValidationError
from shared.job_spec import manifest_from_json
from shared.paths import is_safe_relative_path

ALGORITHM = "sha256"
ASSET_PREFIX = f"{ALGORITHM}/"
MANIFEST_PREFIX = f"manifests/{ALGORITHM}/"
MAX_QUERY_ASSETS = 1000  # hashes per POST /api/assets/missing (the client sends batches)
_HASH = re.compile(r"^[0-9a-f]{64}\Z")
_MODES = (0o644, 0o755)  # what a node gives a materialized file: readable, executable or not


@dataclass(frozen=True)
class AssetRef:
    """One asset as the client names it: its SHA-256 and size."""

    hash: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"hash": self.hash, "size": self.size}


@dataclass(frozen=True)
class ManifestFile:
    path: str
    hash: str
    size: int
    mode: int = 0o644

    def to_json(self) -> dict[str, Any]:
        return {"hash": self.hash, "size": self.size, "mode": self.mode}


@dataclass(frozen=True)
class AssetManifest:
    files: tuple[ManifestFile, ...]   # sorted by path
    render: dict[str, Any]            # validated render.json keys

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def assets(self) -> list[AssetRef]:
        """Each distinct asset once (two paths may share one), sorted by hash."""
        seen = {f.hash: f.size for f in self.files}
        return [AssetRef(h, s) for h, s in sorted(seen.items())]

    def to_json(self) -> dict[str, Any]:
        return {"files": {f.path: f.to_json() for f in self.files}, "render": dict(self.render)}

    def canonical_bytes(self) -> bytes:
        """The manifest as stored: sorted keys, no spaces, so one manifest has one hash."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> str:
        """The manifest's SHA-256: the job's provenance of what it rendered from."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    def blend_path(self, choice: str | None = None) -> str:
        """The .blend to render: `choice` (request, then render.json), else the only one."""
        wanted = choice or self.render.get("blend")
        paths = {f.path for f in self.files}
        if wanted:
            if wanted not in paths or not wanted.lower().endswith(".blend"):
                raise ValidationError(f"the blend {wanted!r} is not a .blend of the manifest",
                                      code="manifest_invalid", field="blend")
            return str(wanted)
        blends = sorted(p for p in paths if _is_blend(p))
        if not blends:
            raise _fail("bundle_no_blend", "the manifest holds no .blend file")
        if len(blends) > 1:
            raise _fail("bundle_ambiguous_blend", f"the manifest holds {len(blends)} .blend files; name one with "
                        "\"blend\"", blends=blends[:20])
        return blends[0]


def asset_blob(digest: str) -> str:
    """The blob name of an asset in the assets container."""
    return ASSET_PREFIX + check_hash(digest)


def manifest_blob(digest: str) -> str:
    return f"{MANIFEST_PREFIX}{check_hash(digest)}.json"


def _fail(code: str, message: str, field: str = "manifest", **details: Any) -> ValidationError:
    return ValidationError(message, code=code, field=field, details=details or None)


def _is_blend(path: str) -> bool:
    pure = PurePosixPath(path)
    return pure.suffix.lower() == ".blend" and not pure.name.startswith("._") and "__MACOSX" not in pure.parts


def check_hash(value: Any, field: str = "hash") -> str:
    """64 lower-case hex digits: anything else (upper case, other lengths) is refused, not mended."""
    if not isinstance(value, str) or not _HASH.match(value):
        raise _fail("invalid_input", f"{field} must be a SHA-256 as 64 lower-case hex digits", field=field)
    return value


def check_size(value: Any, field: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail("invalid_input", f"{field} must be a non-negative integer (bytes)", field=field)
    if value > limit:
        raise _fail("bundle_too_large", f"{field} is {value} bytes, the limit is {limit}", field=field)
    return value


def check_path(path: Any) -> str:
    """A manifest path passes what a zip entry must (shared/bundle.py)."""
    if not isinstance(path, str) or not is_safe_relative_path(path) or any(ord(c) < 32 for c in path):
        raise _fail("bundle_unsafe_path", f"path {str(path)[:200]!r} would escape the job's folder",
                    field="manifest.files", entry=str(path)[:300])
    if len(path) > MAX_ENTRY_NAME_CHARS or any(len(p.encode()) > MAX_SEGMENT_BYTES for p in path.split("/")):
        raise _fail("bundle_unsafe_path", f"path {path[:100]!r}… is too long to unpack", field="manifest.files",
                    entry=path[:300])
    return path


def _check_mode(value: Any, field: str) -> int:
    if value is None:
        return 0o644
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o7777:
        raise _fail("invalid_input", f"{field} must be a file mode (an integer such as 420 for 0644)", field=field)
    return 0o755 if value & 0o111 else 0o644  # nodes keep only "executable or not"


def parse_asset_refs(body: Any, limits: BundleLimits) -> list[AssetRef]:
    """The body of POST /api/assets/missing: {"assets": [{"hash", "size"}, ...]}."""
    if not isinstance(body, Mapping) or set(body) != {"assets"} or not isinstance(body["assets"], list):
        raise _fail("invalid_input", "the body must be {\"assets\": [{\"hash\", \"size\"}, ...]}", field="assets")
    items = body["assets"]
    if len(items) > MAX_QUERY_ASSETS:
        raise _fail("invalid_input", f"at most {MAX_QUERY_ASSETS} assets per request", field="assets")
    refs: dict[str, AssetRef] = {}
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or set(item) != {"hash", "size"}:
            raise _fail("invalid_input", "each asset is {\"hash\", \"size\"}", field=f"assets[{i}]")
        ref = AssetRef(check_hash(item["hash"], f"assets[{i}].hash"),
                       check_size(item["size"], f"assets[{i}].size", limits.max_unpacked_bytes))
        if refs.get(ref.hash, ref) != ref:
            raise _fail("invalid_input", f"asset {ref.hash} is listed with two sizes", field=f"assets[{i}].size")
        refs[ref.hash] = ref
    return list(refs.values())


def parse_manifest(raw: Any, limits: BundleLimits) -> AssetManifest:
    """A manifest from outside, checked whole; ValidationError naming the first problem."""
    if not isinstance(raw, Mapping) or not set(raw) <= {"files", "render"} or not isinstance(raw.get("files"),
                                                                                             Mapping):
        raise _fail("manifest_invalid", "manifest must be {\"files\": {path: {hash, size, mode}}, \"render\": {...}}")
    entries = raw["files"]
    if not entries:
        raise _fail("bundle_no_blend", "the manifest lists no files")
    if len(entries) > limits.max_entries:
        raise _fail("bundle_too_many_entries", f"the manifest lists {len(entries)} files, the limit is "
                    f"{limits.max_entries}", count=len(entries), limit=limits.max_entries)
    files: list[ManifestFile] = []
    seen: set[str] = set()
    sizes: dict[str, int] = {}
    total = 0
    for path, entry in entries.items():
        check_path(path)
        field = f"manifest.files[{path[:100]!r}]"
        if not isinstance(entry, Mapping) or not {"hash", "size"} <= set(entry) <= {"hash", "size", "mode"}:
            raise _fail("manifest_invalid", "each file is {hash, size, mode?}", field=field)
        key = path.casefold()  # as bundle.py: names equal but for case overwrite each other on some disks
        if key in seen:
            raise _fail("bundle_unsafe_path", f"path {path!r} appears more than once (names equal but for case)",
                        field=field, entry=path)
        seen.add(key)
        file = ManifestFile(path, check_hash(entry["hash"], f"{field}.hash"),
                            check_size(entry["size"], f"{field}.size", limits.max_unpacked_bytes),
                            _check_mode(entry.get("mode"), f"{field}.mode"))
        if sizes.setdefault(file.hash, file.size) != file.size:
            raise _fail("invalid_input", f"asset {file.hash} is listed with two sizes", field=f"{field}.size")
        total += file.size
        if total > limits.max_unpacked_bytes:
            raise _fail("bundle_too_large", f"the manifest's files add up to more than {limits.max_unpacked_bytes} "
                        "bytes", limit=limits.max_unpacked_bytes)
        files.append(file)
    _check_no_file_is_a_folder(seen)
    render = manifest_from_json(raw.get("render") or {})
    manifest = AssetManifest(files=tuple(sorted(files, key=lambda f: f.path)), render=render)
    manifest.blend_path()
    return manifest


def _check_no_file_is_a_folder(keys_seen: set[str]) -> None:
    """A file "a" and a file "a/b": one of them cannot be written."""
    keys = sorted(keys_seen)
    for key in keys:
        i = bisect.bisect_left(keys, key + "/")
        if i < len(keys) and keys[i].startswith(key + "/"):
            raise _fail("bundle_unsafe_path", f"path {key!r} is a file and also a folder of other files",
                        field="manifest.files", entry=key)

