"""Scene-bundle validation: a zip with one .blend (or render.json naming which) plus
assets, or a bare .blend. Reads a local file, never writes it.

A bare .blend is recognized by its first bytes: b"BLENDER" (uncompressed), or the zstd
frame magic 28 B5 2F FD (Blender ≥ 3.0 saves compressed files with zstd; the decompressed
stream must start with b"BLENDER" too, checked when the zstandard module is present).
Older gzip-compressed files are not accepted; re-save them in a current Blender.

Zip entries are checked the way a careful extractor would: names must stay inside the
bundle, no symlinks, no encryption, no duplicates, and every entry is decompressed once
to count its real size and verify its CRC (declared sizes in a zip can lie).
"""

from __future__ import annotations

import bisect
import json
import re
import stat
import struct
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from shared.errors import ValidationError
from shared.job_spec import manifest_from_json
from shared.paths import is_safe_relative_path

BLEND_MAGIC = b"BLENDER"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MANIFEST_NAME = "render.json"
MANIFEST_MAX_BYTES = 1024 * 1024
_READ_CHUNK = 1024 * 1024
_SAFE_BLEND_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,200}\.blend$", re.IGNORECASE)
_MAX_DIRECTORY_ENTRY_BYTES = 4096  # a central-directory record: 46 bytes + name + extra + comment
MAX_ENTRY_NAME_CHARS = 1024        # what a blob name may have; also bounds the depth of folders
MAX_SEGMENT_BYTES = 255            # NAME_MAX on the nodes' file systems


@dataclass(frozen=True)
class BundleLimits:
    max_bytes: int = 2 * 1024**3
    max_entries: int = 10_000
    max_unpacked_bytes: int = 8 * 1024**3


@dataclass(frozen=True)
class BundleInfo:
    kind: str                    # "zip" or "blend"
    blend_path: str              # the .blend inside the bundle (its own name for a bare .blend)
    manifest: dict[str, Any]     # validated render.json fields (empty if none)
    entry_count: int
    unpacked_bytes: int
    assets: tuple[str, ...] = ()  # file entries other than the .blend and render.json

    def to_json(self, max_assets: int | None = None) -> dict[str, Any]:
        """max_assets bounds the list when the result crosses an orchestration boundary."""
        assets = list(self.assets if max_assets is None else self.assets[:max_assets])
        return {"kind": self.kind, "blendPath": self.blend_path, "manifest": dict(self.manifest),
                "entryCount": self.entry_count, "unpackedBytes": self.unpacked_bytes,
                "assets": assets, "assetCount": len(self.assets)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BundleInfo:
        return cls(kind=data["kind"], blend_path=data["blendPath"], manifest=dict(data.get("manifest") or {}),
                   entry_count=int(data["entryCount"]), unpacked_bytes=int(data["unpackedBytes"]),
                   assets=tuple(data.get("assets") or ()))


def _fail(code: str, message: str, **details: Any) -> ValidationError:
    return ValidationError(message, code=code, field="bundle", details=details or None)


def validate_bundle(path: Path, limits: BundleLimits | None = None, *, name: str | None = None,
                    blend: str | None = None) -> BundleInfo:
    """Check the bundle at path; `name` is its blob name (used for a bare .blend's path);
    `blend` is the POST body's choice of .blend in a zip, which wins over render.json's."""
    limits = limits or BundleLimits()
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise _fail("bundle_too_large", f"bundle is {size} bytes, the limit is {limits.max_bytes}",
                    size=size, limit=limits.max_bytes)
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(BLEND_MAGIC) or head.startswith(ZSTD_MAGIC):
        _check_blend_head(head, lambda: path.open("rb"), "the bundle")
        blend_name = PurePosixPath(name).name if name else path.name
        if not _SAFE_BLEND_NAME.match(blend_name):  # e.g. "-x.blend" would read as a Blender option
            blend_name = "scene.blend"
        return BundleInfo(kind="blend", blend_path=blend_name, manifest={}, entry_count=1,
                          unpacked_bytes=size)
    if not zipfile.is_zipfile(path):
        if head.startswith(b"PK\x03\x04"):  # starts like a zip, but its directory is missing
            raise _fail("bundle_corrupt", "the zip is truncated or corrupt (no central directory)")
        raise _fail("bundle_not_zip_or_blend", "the bundle is neither a zip nor a .blend file")
    return _validate_zip(path, limits, blend)


def _check_blend_head(head: bytes, open_stream: Callable[[], IO[bytes]], what: str) -> None:
    """For zstd, peek into the stream too: every .zst file starts with the same magic."""
    if head.startswith(BLEND_MAGIC):
        return
    if not head.startswith(ZSTD_MAGIC):
        raise _fail("bundle_blend_invalid", f"{what} is not a .blend file")
    try:
        import zstandard
    except ImportError:  # the magic is all we can check
        return
    try:
        with open_stream() as stream:
            inner = zstandard.ZstdDecompressor().stream_reader(stream).read(len(BLEND_MAGIC))
    except zstandard.ZstdError as exc:
        raise _fail("bundle_corrupt", f"{what} is zstd data that does not decompress: {exc}") from None
    if inner != BLEND_MAGIC:
        raise _fail("bundle_blend_invalid", f"{what} is zstd-compressed but not a .blend file")


def _precheck_directory(path: Path, limits: BundleLimits) -> None:
    """Refuse a huge central directory before zipfile parses all of it into memory.

    Reads the end-of-central-directory record (zipfile's own reader; private, so
    skipped if it ever goes away). Both the entry count and the directory's size
    are bounded, since a crafted record can understate either one alone.
    """
    end_record = getattr(zipfile, "_EndRecData", None)
    if end_record is None:
        return
    with path.open("rb") as handle:
        record = end_record(handle)
    if not record:
        return
    entries, directory_bytes = record[4], record[5]  # zipfile's _ECD_ENTRIES_TOTAL, _ECD_SIZE
    if entries > limits.max_entries or directory_bytes > limits.max_entries * _MAX_DIRECTORY_ENTRY_BYTES:
        raise _fail("bundle_too_many_entries", f"the zip has {entries} entries, the limit is "
                    f"{limits.max_entries}", entries=entries, limit=limits.max_entries)
    # The count can lie while the size stays under its bound: 40 MB of 47-byte records is
    # 800,000 entries, which zipfile would parse (seconds, hundreds of MB) before we count
    # them. Walk the records themselves, stopping one past the limit.
    start = record[9] - directory_bytes  # _ECD_LOCATION: where the end record sits
    if record[0] == b"PK\x06\x06":  # zip64: its end record (56 bytes) and locator (20) come first
        start -= 56 + 20
    if start < 0:
        return  # zipfile will call it corrupt
    with path.open("rb") as handle:
        handle.seek(start)
        directory = handle.read(directory_bytes)
    count = _count_directory_records(directory, limits.max_entries + 1)
    if count > limits.max_entries:
        raise _fail("bundle_too_many_entries", f"the zip has more than {limits.max_entries} entries",
                    limit=limits.max_entries)


def _count_directory_records(directory: bytes, stop: int) -> int:
    """Central-directory records (46 bytes + name + extra + comment each), counted up to stop."""
    count = pos = 0
    while count < stop and directory.startswith(b"PK\x01\x02", pos) and pos + 46 <= len(directory):
        name, extra, comment = struct.unpack_from("<3H", directory, pos + 28)
        pos += 46 + name + extra + comment
        count += 1
    return count


def _validate_zip(path: Path, limits: BundleLimits, blend: str | None = None) -> BundleInfo:
    _precheck_directory(path, limits)
    try:
        with zipfile.ZipFile(path) as archive:
            return _validate_archive(archive, limits, blend)
    except zipfile.BadZipFile as exc:
        raise _fail("bundle_corrupt", f"the zip is corrupt: {exc}") from None
    except (EOFError, OSError, RuntimeError, ValueError, NotImplementedError) as exc:
        # zipfile reports truncated data, bad headers and unknown methods in these
        if isinstance(exc, NotImplementedError):
            raise _fail("bundle_corrupt", f"the zip uses an unsupported compression method: {exc}") from None
        raise _fail("bundle_corrupt", f"the zip cannot be read: {exc}") from None


def _validate_archive(archive: zipfile.ZipFile, limits: BundleLimits, choice: str | None = None) -> BundleInfo:
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise _fail("bundle_too_many_entries", f"the zip has {len(infos)} entries, the limit is "
                    f"{limits.max_entries}", entries=len(infos), limit=limits.max_entries)
    seen: set[str] = set()
    files: list[zipfile.ZipInfo] = []
    declared = 0
    for info in infos:
        _check_entry(info, seen)
        if not info.is_dir():
            files.append(info)
            declared += info.file_size
    _check_no_file_is_a_folder(files, seen)
    if declared > limits.max_unpacked_bytes:
        raise _too_large_unpacked(declared, limits)
    if not files:
        raise _fail("bundle_no_blend", "the zip holds no files")
    manifest, base = _read_manifest(archive, files)
    blend = _choose_blend(files, {**manifest, "blend": choice} if choice else manifest, base)
    unpacked = _verify_contents(archive, files, limits)
    with archive.open(blend) as stream:
        head = stream.read(8)
    _check_blend_head(head, lambda: archive.open(blend), blend.filename)
    assets = tuple(sorted(f.filename for f in files
                          if f.filename not in (blend.filename, _join(base, MANIFEST_NAME))))
    return BundleInfo(kind="zip", blend_path=blend.filename, manifest=manifest, entry_count=len(infos),
                      unpacked_bytes=unpacked, assets=assets)


def _check_entry(info: zipfile.ZipInfo, seen: set[str]) -> None:
    name = info.filename
    plain = name[:-1] if info.is_dir() else name
    # zipfile cuts names at NUL and maps "\\" only on Windows: check the raw name too.
    raw = getattr(info, "orig_filename", name)
    raw_plain = raw[:-1] if raw.endswith("/") else raw
    if not is_safe_relative_path(raw_plain) or not is_safe_relative_path(plain):
        raise _fail("bundle_unsafe_path", f"entry {raw!r} would escape the bundle", entry=raw)
    if len(plain) > MAX_ENTRY_NAME_CHARS or any(len(p.encode()) > MAX_SEGMENT_BYTES for p in plain.split("/")):
        raise _fail("bundle_unsafe_path", f"entry {name[:100]!r}… has a name too long to unpack", entry=name[:300])
    mode = info.external_attr >> 16  # Unix mode bits, whatever system claims to have made it
    if stat.S_ISLNK(mode):
        raise _fail("bundle_unsafe_path", f"entry {name!r} is a symbolic link", entry=name)
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # FIFOs, devices: the node refuses them
        raise _fail("bundle_unsafe_path", f"entry {name!r} is not a regular file or folder", entry=name)
    if info.flag_bits & 0x1:
        raise _fail("bundle_encrypted", f"entry {name!r} is encrypted", entry=name)
    # casefold, as the node's unpacker does ("straße" == "STRASSE"): on some file systems these
    # would overwrite each other.
    key = plain.casefold()
    if key in seen:
        raise _fail("bundle_unsafe_path", f"entry {name!r} appears more than once", entry=name)
    seen.add(key)


def _check_no_file_is_a_folder(files: list[zipfile.ZipInfo], seen: set[str]) -> None:
    """A file "a" and an entry "a/b": one of them cannot be unpacked."""
    keys = sorted(seen)
    for info in files:
        folder = info.filename.casefold() + "/"
        i = bisect.bisect_left(keys, folder)  # the entries below "a/" sort right after it
        if i < len(keys) and keys[i].startswith(folder):
            raise _fail("bundle_unsafe_path", f"entry {info.filename!r} is a file and also a folder of "
                        "other entries", entry=info.filename)


def _read_manifest(archive: zipfile.ZipFile, files: list[zipfile.ZipInfo]) -> tuple[dict[str, Any], str]:
    """render.json at the root, or inside the single top-level folder everything sits in."""
    base = _single_top_folder(files)
    by_name = {f.filename: f for f in files}
    info = by_name.get(MANIFEST_NAME) or (by_name.get(_join(base, MANIFEST_NAME)) if base else None)
    if info is None:
        return {}, ""
    base = str(PurePosixPath(info.filename).parent) if "/" in info.filename else ""
    if info.file_size > MANIFEST_MAX_BYTES:
        raise _fail("manifest_invalid", f"{info.filename} is larger than {MANIFEST_MAX_BYTES} bytes")
    with archive.open(info) as stream:
        raw = stream.read(MANIFEST_MAX_BYTES + 1)
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail("manifest_invalid", f"{info.filename} is not valid JSON: {exc}") from None
    except RecursionError:  # "[[[[…": not a corrupt zip, a bad render.json
        raise _fail("manifest_invalid", f"{info.filename} is nested too deeply") from None
    return manifest_from_json(data), base


def _single_top_folder(files: list[zipfile.ZipInfo]) -> str:
    tops = {f.filename.split("/", 1)[0] for f in files}
    if len(tops) == 1 and all("/" in f.filename for f in files):
        return tops.pop()
    return ""


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def _is_blend(name: str) -> bool:
    pure = PurePosixPath(name)
    # macOS resource forks (__MACOSX/, ._x.blend) are not scenes.
    return (pure.suffix.lower() == ".blend" and not pure.name.startswith("._")
            and "__MACOSX" not in pure.parts)


def _choose_blend(files: list[zipfile.ZipInfo], manifest: dict[str, Any], base: str) -> zipfile.ZipInfo:
    blends = [f for f in files if _is_blend(f.filename)]
    if "blend" in manifest:
        wanted = _join(base, manifest["blend"])
        chosen = next((f for f in files if f.filename == wanted), None)
        if chosen is None:
            raise ValidationError(f"the blend {manifest['blend']!r} (named by render.json or the request) "
                                  "is not in the bundle",
                                  code="manifest_invalid", field="blend")
        return chosen
    if not blends:
        raise _fail("bundle_no_blend", "the zip holds no .blend file")
    if len(blends) > 1:
        names = sorted(f.filename for f in blends)
        raise _fail("bundle_ambiguous_blend", f"the zip holds {len(blends)} .blend files; name one with "
                    f"\"blend\" in render.json", blends=names[:20])
    return blends[0]


def _verify_contents(archive: zipfile.ZipFile, files: list[zipfile.ZipInfo], limits: BundleLimits) -> int:
    """Decompress everything once: real sizes count against the limit, CRCs are checked."""
    total = 0
    for info in files:
        with archive.open(info) as stream:
            while chunk := stream.read(_READ_CHUNK):
                total += len(chunk)
                if total > limits.max_unpacked_bytes:
                    raise _too_large_unpacked(total, limits)
    return total


def _too_large_unpacked(size: int, limits: BundleLimits) -> ValidationError:
    return _fail("bundle_too_large", f"the zip unpacks to more than {limits.max_unpacked_bytes} bytes",
                 unpacked=size, limit=limits.max_unpacked_bytes)
