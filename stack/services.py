"""Local stand-ins for Azure services, started as child processes on free ports.

Used by the test fixtures and by `make up`/`make demo`. Each service writes its
log to a file in its data directory, so a failure to start can be explained.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "node_modules" / ".bin"

# The well-known development credentials of Azurite and of the Cosmos emulator: what the
# throwaway services of the tests use; the local stack generates its own (stack/local.py).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="


class ServiceError(RuntimeError):
    """A local service did not start."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_account_key() -> str:
    """A storage account key as Azure makes them: 64 random bytes, base64."""
    return base64.b64encode(secrets.token_bytes(64)).decode()


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (keys, passwords, settings with keys in them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file existed with a wider mode
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def azurite_connection_string(blob_port: int, key: str = AZURITE_KEY) -> str:
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={AZURITE_ACCOUNT};AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{blob_port}/{AZURITE_ACCOUNT};"
    )


@dataclass
class Service:
    """A child process in its own process group, stopped with its children."""

    name: str
    argv: list[str]
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            cwd=ROOT,
            start_new_session=True,
        )
        log.close()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_until(self, probe: object, timeout: float = 60.0) -> None:
        assert callable(probe)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise ServiceError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            if probe():
                return
            time.sleep(0.1)
        self.stop()
        raise ServiceError(f"{self.name} did not become ready in {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        stop_process_group(self.process.pid, timeout)
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        self.process = None


def stop_process_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the group led by pid, then SIGKILL whatever is left after timeout."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        try:
            # Reap the leader if it is our child, so the group can disappear.
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def http_status(url: str, insecure: bool = False) -> int | None:
    """The status the server answers with, or None while nothing answers."""
    context = ssl._create_unverified_context() if insecure else None
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def http_ok(url: str, insecure: bool = False, any_status: bool = True) -> bool:
    """True once the server answers (any status, unless any_status is False)."""
    status = http_status(url, insecure)
    return status is not None and (status < 400 or any_status)


@dataclass
class Azurite(Service):
    port: int = 0
    key: str = AZURITE_KEY

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.port, self.key)

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"


# Azurite's access log (~100 bytes a request) is rotated at this size, keeping this many
# older files: a stack's log stays under ~200 MiB however long it runs, and a reader that
# falls two whole files behind is rare enough to leave to the full listing.
AZURITE_LOG_MAX_BYTES = 64 * 1024 * 1024
AZURITE_LOG_KEEP = 2


def start_azurite(data_dir: Path, port: int | None = None, *, key: str = AZURITE_KEY,
                  database_url: str | None = None, request_log: bool = False,
                  log_max_bytes: int = AZURITE_LOG_MAX_BYTES) -> Azurite:
    """Azurite's blob service; with database_url (stack.mariadb) its metadata is durable.
    With request_log, its access log (one line per request) goes to its log file: devhost's
    blob watcher reads it as a change feed (devhost/request_log.py). stack/log_writer.py
    writes that file and rotates it at log_max_bytes (`azurite.log.1`, `.2`).

    Without one, Azurite keeps its index in memory and saves it every 5 s (a kill -9 loses
    the last seconds' blobs): fine for the tests' throwaway instances, not for the stack.
    Blob data (extents) are fdatasync'ed by Azurite before it answers in both modes.
    """
    port = port or free_port()
    location = data_dir / "azurite"
    location.mkdir(parents=True, exist_ok=True)
    argv = [
        str(NODE_BIN / "azurite-blob"),
        "--blobHost", "127.0.0.1",
        "--blobPort", str(port),
        "--location", str(location),
        "--skipApiVersionCheck",
        "--disableTelemetry",
        *([] if request_log else ["--silent"]),
    ]
    env = {"AZURITE_ACCOUNTS": f"{AZURITE_ACCOUNT}:{key}"}
    if database_url:
        env["AZURITE_DB"] = database_url
    if request_log:
        argv = [sys.executable, "-m", "stack.log_writer", "--path", str(data_dir / "azurite.log"),
                "--max-bytes", str(log_max_bytes), "--keep", str(AZURITE_LOG_KEEP), "--", *argv]
    service = Azurite(name="azurite", argv=argv, data_dir=data_dir, env=env, port=port, key=key)
    service.start()
    service.wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}?comp=list"))
    return service


@dataclass
class CosmosServer(Service):
    port: int = 0
    key: str = COSMOS_KEY

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/"


def start_cosmos(data_dir: Path, port: int | None = None, *, key: str = COSMOS_KEY) -> CosmosServer:
    """The Cosmos-protocol server, with its journal under data_dir so documents survive a restart."""
    port = port or free_port()
    journal = data_dir / "cosmos" / "journal.ndjson"
    journal.parent.mkdir(parents=True, exist_ok=True)
    argv = ["node", str(ROOT / "stack" / "cosmos-server.js"), "--port", str(port), "--journal", str(journal)]
    service = CosmosServer(name="cosmos", argv=argv, data_dir=data_dir, env={"COSMOS_SERVER_KEY": key},
                           port=port, key=key)
    service.start()
    # 503 while it replays its journal; a keyless probe gets 401 once it serves.
    service.wait_until(lambda: http_status(f"https://127.0.0.1:{port}/", insecure=True) == 401)
    return service
