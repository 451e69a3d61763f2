"""Moving bytes: a bundle up to a SAS URL in parallel blocks, outputs down in parallel.

Uploads use Put Block + Put Block List through azure-storage-blob on the one-blob URL
the API handed out; the URL carries its own signature, so no key is involved.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from renderctl.client import CliError

BLOCK_SIZE = 8 * 1024 * 1024
WORKERS = 4

Progress = Callable[[int], None]  # called with bytes just moved


def _block_id(index: int) -> str:
    return base64.b64encode(f"{index:08d}".encode()).decode()


def upload_file(path: Path, sas_url: str, advance: Progress, *, block_size: int = BLOCK_SIZE,
                workers: int = WORKERS) -> None:
    # Imported here: the storage SDK takes a second or two to import, which every other command
    # (jobs, wait, logs in a script's loop) would pay for nothing.
    from azure.core.exceptions import AzureError
    from azure.storage.blob import BlobBlock, BlobClient

    size = path.stat().st_size
    blob = BlobClient.from_blob_url(sas_url)
    count = max(1, -(-size // block_size))

    def put(index: int) -> None:
        with path.open("rb") as stream:
            stream.seek(index * block_size)
            data = stream.read(block_size)
        blob.stage_block(_block_id(index), data, length=len(data))
        advance(len(data))

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(put, range(count)))
        blob.commit_block_list([BlobBlock(block_id=_block_id(i)) for i in range(count)])
    except AzureError as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise CliError(f"the upload failed: {reason} (the upload URL may have expired; run submit again)",
                       code="upload_failed") from None


@dataclass(frozen=True)
class RemoteFile:
    name: str   # relative path under the download folder
    url: str    # a short-lived read URL
    size: int | None


def is_complete(local: Path, remote: RemoteFile) -> bool:
    return local.exists() and remote.size is not None and local.stat().st_size == remote.size


def download_files(files: Iterable[RemoteFile], folder: Path, advance: Progress,
                   *, workers: int = WORKERS) -> tuple[list[str], list[str]]:
    """(downloaded, skipped): files already there with the right size are skipped."""
    todo: list[tuple[RemoteFile, Path]] = []
    skipped: list[str] = []
    for remote in files:
        local = (folder / remote.name).resolve()
        if not local.is_relative_to(folder.resolve()):
            raise CliError(f"the API named an output outside the download folder: {remote.name!r}",
                           code="unsafe_output_name")
        if is_complete(local, remote):
            skipped.append(remote.name)
        else:
            todo.append((remote, local))

    def fetch(item: tuple[RemoteFile, Path]) -> str:
        remote, local = item
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(local.name + ".part")
        try:
            with requests.get(remote.url, stream=True, timeout=(5, 60)) as response:
                response.raise_for_status()
                with partial.open("wb") as out:
                    for chunk in response.iter_content(1024 * 1024):
                        out.write(chunk)
                        advance(len(chunk))
        except requests.RequestException as exc:
            partial.unlink(missing_ok=True)
            raise CliError(f"downloading {remote.name} failed: {type(exc).__name__}", code="download_failed") from None
        os.replace(partial, local)  # a file is there only once it is whole
        return remote.name

    with ThreadPoolExecutor(max_workers=workers) as pool:
        downloaded = list(pool.map(fetch, todo))
    return downloaded, skipped
