"""What `renderctl submit PATH` uploads: a .blend or .zip as it is, or a folder packed
into a bundle zip. Everything is checked with the pipeline's own bundle rules
(shared.bundle) before a byte is uploaded, and every rejected file is reported at once.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from shared.bundle import MAX_ENTRY_NAME_CHARS, MAX_SEGMENT_BYTES, BundleInfo, BundleLimits, validate_bundle
from shared.errors import ValidationError
from shared.paths import is_safe_relative_path

MAX_REPORTED = 20


class BundleRejected(Exception):
    """The bundle would be refused by the pipeline: problems lists why, file by file."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class PreparedBundle:
    path: Path              # the file to upload
    upload_name: str        # its file name in the upload (".zip" or ".blend")
    info: BundleInfo
    temporary: bool = False
    files: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        if self.temporary:
            self.path.unlink(missing_ok=True)


def _check(path: Path, name: str | None, limits: BundleLimits) -> BundleInfo:
    try:
        return validate_bundle(path, limits, name=name)
    except ValidationError as exc:
        detail = f" ({exc.details})" if exc.details else ""
        raise BundleRejected([f"{exc.code}: {exc.message}{detail}"]) from None


def folder_problems(folder: Path, limits: BundleLimits) -> tuple[list[tuple[Path, str]], list[str]]:
    """(files to pack with their names in the zip, problems the bundle rules would reject)."""
    files: list[tuple[Path, str]] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    total = 0
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for entry in sorted(names) + [d for d in dirs if (Path(root) / d).is_symlink()]:
            path = Path(root) / entry
            rel = path.relative_to(folder).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                problems.append(f"{rel}: a symbolic link (bundles hold only regular files)")
                continue
            if not stat.S_ISREG(mode):
                problems.append(f"{rel}: not a regular file")
                continue
            if not is_safe_relative_path(rel) or any(ord(c) < 32 for c in rel):
                problems.append(f"{rel!r}: a name that cannot be unpacked safely")
            elif len(rel) > MAX_ENTRY_NAME_CHARS or any(len(p.encode()) > MAX_SEGMENT_BYTES for p in rel.split("/")):
                problems.append(f"{rel[:100]}: a name too long to unpack")
            key = rel.casefold()
            if key in seen:
                problems.append(f"{rel}: the same name as {seen[key]} but for case")
            seen[key] = rel
            total += path.stat().st_size
            files.append((path, rel))
    if len(files) > limits.max_entries:
        problems.append(f"{len(files)} files, more than the limit of {limits.max_entries}")
    if total > limits.max_unpacked_bytes:
        problems.append(f"{total} bytes of files, more than the limit of {limits.max_unpacked_bytes}")
    return files, problems


def pack_folder(folder: Path, limits: BundleLimits) -> PreparedBundle:
    files, problems = folder_problems(folder, limits)
    if not files and not problems:
        problems.append("the folder is empty")
    if problems:
        shown = problems[:MAX_REPORTED]
        if len(problems) > len(shown):
            shown.append(f"and {len(problems) - len(shown)} more")
        raise BundleRejected(shown)
    handle, name = tempfile.mkstemp(prefix="renderctl-", suffix=".zip")
    os.close(handle)
    target = Path(name)
    try:
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for path, rel in files:
                archive.write(path, rel)
        info = _check(target, None, limits)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    upload_name = _safe_upload_name(folder.resolve().name, ".zip")
    return PreparedBundle(target, upload_name, info, temporary=True, files=[rel for _, rel in files])


def _safe_upload_name(stem: str, suffix: str) -> str:
    """A file name POST /api/uploads accepts: letters, digits, '.', '_', '-', ' '."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "._- ") else "_" for c in stem)
    cleaned = cleaned.lstrip("._- ")[:190] or "bundle"
    return cleaned + suffix


def prepare(path: Path, limits: BundleLimits | None = None) -> PreparedBundle:
    limits = limits or BundleLimits()
    if path.is_dir():
        return pack_folder(path, limits)
    if not path.is_file():
        raise BundleRejected([f"{path}: no such file or folder"])
    suffix = path.suffix.lower()
    if suffix not in (".zip", ".blend"):
        raise BundleRejected([f"{path.name}: a bundle is a .zip, a .blend or a folder"])
    info = _check(path, path.name, limits)
    return PreparedBundle(path, _safe_upload_name(path.stem, suffix), info)
