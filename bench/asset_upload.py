"""Asset uploads by content: submit a generated folder (200 files, 500 MB), change one 5 MB file,
submit again, on the local stack (renderctl's own code against Azurite and devhost).

Reported: bytes uploaded by each submit, hashing time with a cold and a warm cache, and each
submit's total time (hash, ask which assets are missing, upload, commit, POST /api/jobs).
Targets: the second submit uploads at most 1.05x the changed bytes and takes at most 10% of the
first's time. The folder's .blend is a stand-in, so each job fails at its inspect task; the
benchmark measures the submit, not the render.

    python -m bench.asset_upload [--smoke]     # --smoke: a few small files, seconds
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench.common import Report, main, run_guarded
from renderctl import assets
from renderctl.client import Api
from renderctl.config import Target

NAME = "asset_upload"
TITLE = "Asset uploads by content (second submit of a changed folder)"
FULL = {"files": 200, "total": 500 * 1024 * 1024, "changed": 5 * 1024 * 1024}
SMOKE = {"files": 6, "total": 3 * 1024 * 1024, "changed": 512 * 1024}
UPLOAD_RATIO_TARGET = 1.05
TIME_RATIO_TARGET = 0.10


def make_folder(root: Path, files: int, total: int, changed: int) -> Path:
    """One stand-in .blend, one file of `changed` bytes (the one edited later), the rest equal shares."""
    folder = root / "shot"
    (folder / "textures").mkdir(parents=True)
    (folder / "shot.blend").write_bytes(b"BLENDER-v500" + os.urandom(4096))
    (folder / "textures" / "changed.exr").write_bytes(os.urandom(changed))
    rest = files - 2
    share = (total - changed) // rest
    for i in range(rest):
        sub = folder / "cache" / f"{i % 10:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"frame_{i:04d}.bin").write_bytes(os.urandom(share))
    return folder


def submit(api: Api, folder: Path, cache: assets.HashCache) -> tuple[assets.AssetUpload, float]:
    started = time.monotonic()
    upload = assets.prepare_manifest(folder, cache=cache)
    assets.upload_assets(api, upload, Console(file=sys.stderr, quiet=True))
    api.submit({"manifest": upload.manifest, "video": None}, None)
    return upload, time.monotonic() - started


def body(report: Report, sizes: dict[str, int]) -> None:
    from stack.local import LocalStack

    with tempfile.TemporaryDirectory(prefix="bench-assets-") as tmp, LocalStack(Path(tmp) / "stack") as info:
        folder = make_folder(Path(tmp), sizes["files"], sizes["total"], sizes["changed"])
        api = Api(Target(api_url=info.api_url, key=info.function_key, source="bench"))
        cache = assets.HashCache(Path(tmp) / "hashes.sqlite")
        first, first_s = submit(api, folder, cache)
        (folder / "textures" / "changed.exr").write_bytes(os.urandom(sizes["changed"]))
        second, second_s = submit(api, folder, cache)
        # Hashing alone, warm: nothing changed since the second submit.
        warm = assets.prepare_manifest(folder, cache=cache).hashes
        cache.close()
        total = sum(f["size"] for f in first.manifest["files"].values())
        report.add("files", len(first.manifest["files"]), "")
        report.add("folder size", round(total / 1e6, 2), "MB")
        report.add("first submit uploaded", round(first.uploaded_bytes / 1e6, 2), "MB")
        report.add("second submit uploaded / changed bytes", round(second.uploaded_bytes / sizes["changed"], 3), "x",
                   "<=", UPLOAD_RATIO_TARGET)
        report.add("second submit bytes skipped", round(second.skipped_bytes / 1e6, 2), "MB")
        report.add("hashing, cold cache", round(first.hashes.seconds, 3), "s")
        report.add("hashing rate, cold", round(first.hashes.hashed_bytes / 1e6 / max(first.hashes.seconds, 1e-6)),
                   "MB/s")
        report.add("hashing, warm cache (one file changed)", round(second.hashes.seconds, 3), "s")
        report.add("hashing, warm cache (nothing changed)", round(warm.seconds, 3), "s")
        report.add("first submit", round(first_s, 2), "s")
        report.add("second submit", round(second_s, 2), "s")
        report.add("second / first submit time", round(second_s / first_s, 3), "x", "<=", TIME_RATIO_TARGET)
        report.details = {"sizes": sizes, "first": first.timings, "second": second.timings}
        report.notes.append("hashing is SHA-256 (hashlib, with the CPU's SHA extensions where it has them) over "
                            f"{assets.HASH_WORKERS} threads; uploads are 8 MiB blocks, {assets.UPLOAD_WORKERS} "
                            "assets at a time, each committed (hashed again by the server) when whole")


def run(smoke: bool = False) -> Report:
    return run_guarded(NAME, TITLE, lambda report: body(report, SMOKE if smoke else FULL))


if __name__ == "__main__":
    raise SystemExit(main(run))
