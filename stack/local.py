"""The whole local stack: MariaDB + Azurite, the Cosmos server, localbatch and devhost.

`LocalStack.start()` starts every service on free ports (or the ports asked
for), writes the Functions settings file devhost reads, and records what runs
in `<data dir>/stack.json` so `make down` (or another process) can stop it.
Every key is the stack's own (stack-keys.json, made on first start), and every
file holding one is readable by its owner only.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from localbatch.__main__ import DEFAULT_SLOTS
from stack.mariadb import start_mariadb
from stack.services import (
    AZURITE_KEY,
    COSMOS_KEY,
    ROOT,
    Service,
    ServiceError,
    azurite_connection_string,
    free_port,
    http_ok,
    new_account_key,
    start_azurite,
    start_cosmos,
    stop_process_group,
    write_private,
)

STATE_FILE = "stack.json"
TOPIC_NAME = "render-jobs"


@dataclass
class StackInfo:
    """What a running stack serves; saved as stack.json."""

    data_dir: str
    azurite_port: int
    cosmos_port: int
    localbatch_port: int
    devhost_port: int
    function_key: str
    master_key: str
    eventgrid_key: str
    storage_key: str = AZURITE_KEY
    cosmos_key: str = COSMOS_KEY
    mariadb_port: int = 0
    pids: dict[str, int] = field(default_factory=dict)
    localbatch_key: str = "local-localbatch-key"  # start() sets a generated one
    # The one render node: localbatch's slots and the machine's cores (start() sets them), which
    # give each render task its threads (planning.render_threads); 0 cores leaves them to Blender.
    slots: int = DEFAULT_SLOTS
    node_cores: int = 0

    @property
    def storage_connection_string(self) -> str:
        return azurite_connection_string(self.azurite_port, self.storage_key)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.devhost_port}/api"

    @property
    def devhost_url(self) -> str:
        return f"http://127.0.0.1:{self.devhost_port}"

    @property
    def dashboard_url(self) -> str:
        """The dashboard the app serves (triggers/web_ui.py)."""
        return f"{self.api_url}/ui/"

    @property
    def cosmos_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.cosmos_port}/"

    @property
    def localbatch_url(self) -> str:
        return f"http://127.0.0.1:{self.localbatch_port}"

    @property
    def topic_endpoint(self) -> str:
        return f"{self.devhost_url}/eventgrid/topics/{TOPIC_NAME}/api/events"

    def save(self) -> None:
        write_private(Path(self.data_dir, STATE_FILE), json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, data_dir: Path) -> StackInfo | None:
        path = data_dir / STATE_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))


def app_settings(info: StackInfo, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The Functions app settings for the local stack (the Values of local.settings.json)."""
    conn = info.storage_connection_string
    values = {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": conn,
        "STORAGE_CONNECTION_STRING": conn,
        "STORAGE_ACCOUNT_URL": "",
        "SCENES_CONTAINER": "scenes",
        "RENDERS_CONTAINER": "renders",
        "ASSETS_CONTAINER": "assets",
        "COSMOS_ENDPOINT": info.cosmos_endpoint,
        "COSMOS_KEY": info.cosmos_key,
        "COSMOS_DATABASE": "render",
        "COSMOS_CONTAINER": "jobs",
        "COSMOS_CHUNKS_CONTAINER": "chunks",
        "COSMOS_VERIFY_TLS": "false",
        "RENDER_BACKEND": "local",
        "LOCALBATCH_URL": info.localbatch_url,
        "LOCALBATCH_KEY": info.localbatch_key,
        "BATCH_ACCOUNT_URL": "",
        "BATCH_POOL_ID": "",
        "BATCH_NODE_IDENTITY_ID": "",
        "EVENTGRID_TOPIC_ENDPOINT": info.topic_endpoint,
        "EVENTGRID_TOPIC_KEY": info.eventgrid_key,
        "BUNDLE_MAX_BYTES": str(2 * 1024**3),
        "BUNDLE_MAX_ENTRIES": "10000",
        "BUNDLE_MAX_UNPACKED_BYTES": str(8 * 1024**3),
        "DEFAULT_CHUNK_SIZE": "auto",
        "DEFAULT_MAX_RETRIES": "2",
        "POLL_INTERVAL_SECONDS": "2",
        "TASK_TIMEOUT_SECONDS": "3600",
        "RENDER_THREADS": "0",  # NODE_CORES / TASK_SLOTS_PER_NODE threads per render task
        "NODE_CORES": str(info.node_cores),
        "TARGET_TASK_SECONDS": "300",
        "API_CACHE_SECONDS": "1",  # the polled reads answer from a read at most 1 s old
        "TRUST_APP_SERVICE_AUTH": "false",
        "OUTPUT_URL_LIFETIME_SECONDS": "3600",
        "DEFAULT_STUCK_AFTER_SECONDS": "600",
        "TASK_SLOTS_PER_NODE": str(info.slots),  # localbatch's slots on the one machine
        "NODE_PRICE_PER_HOUR_DEDICATED": "0",
        "NODE_PRICE_PER_HOUR_SPOT": "0",
        "DEVHOST_FUNCTION_KEY": info.function_key,
        "DEVHOST_MASTER_KEY": info.master_key,
        "DEVHOST_EVENTGRID_TOPIC_KEY": info.eventgrid_key,
    }
    values.update(overrides or {})
    return values


class LocalStack:
    """Starts and stops the four local services as one."""

    def __init__(self, data_dir: Path, *, ports: dict[str, int] | None = None,
                 settings_overrides: dict[str, str] | None = None, slots: int | None = None,
                 localbatch_args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir.resolve()
        self.ports = ports or {}
        self.settings_overrides = settings_overrides or {}
        self.slots = slots
        self.localbatch_args = localbatch_args  # e.g. ("--no-pin-cpus",) for a benchmark's comparison
        self.services: dict[str, Service] = {}
        self.info: StackInfo | None = None

    def _port(self, name: str) -> int:
        return self.ports.get(name) or free_port()

    def start(self) -> StackInfo:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        keys = self._keys()
        try:
            mariadb = start_mariadb(self.data_dir, self.ports.get("mariadb"))
            self.services["mariadb"] = mariadb
            azurite = start_azurite(self.data_dir, self._port("azurite"), key=keys["storage"],
                                    database_url=mariadb.url, request_log=True)
            self.services["azurite"] = azurite
            cosmos = start_cosmos(self.data_dir, self._port("cosmos"), key=keys["cosmos"])
            self.services["cosmos"] = cosmos
            info = StackInfo(
                data_dir=str(self.data_dir), azurite_port=azurite.port, cosmos_port=cosmos.port,
                localbatch_port=self._port("localbatch"), devhost_port=self._port("devhost"),
                function_key=keys["function"], master_key=keys["master"], eventgrid_key=keys["eventgrid"],
                localbatch_key=keys["localbatch"],
                storage_key=keys["storage"], cosmos_key=keys["cosmos"], mariadb_port=mariadb.port,
                slots=self.slots or DEFAULT_SLOTS, node_cores=len(os.sched_getaffinity(0)),  # the usable cores
            )
            self.info = info
            settings = app_settings(info, self.settings_overrides)
            settings_path = self.data_dir / "local.settings.json"
            write_private(settings_path, json.dumps({"IsEncrypted": False, "Values": settings}, indent=2))
            self._prepare_storage(settings, info.devhost_url)
            self._start_localbatch(info)
            self._start_devhost(info, settings_path)
            info.pids = {name: s.process.pid for name, s in self.services.items() if s.process}
            info.save()
            return info
        except BaseException:
            self.stop()
            raise

    def _keys(self) -> dict[str, str]:
        """The stack's keys, made once per data directory (and any missing one added)."""
        path = self.data_dir / "stack-keys.json"
        keys: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        for name in ("function", "master", "eventgrid", "localbatch"):
            keys.setdefault(name, secrets.token_urlsafe(24))
        for name in ("storage", "cosmos"):  # account keys: base64, as Azure's
            keys.setdefault(name, new_account_key())
        write_private(path, json.dumps(keys))
        return keys

    def _prepare_storage(self, settings: dict[str, str], app_origin: str) -> None:
        """What infra creates in Azure: the containers, the blob service's CORS rule for the
        dashboard's uploads from the app's origin, and the Cosmos database, before any event."""
        from azure.storage.blob import BlobServiceClient

        from shared.adapters.blob_store import AzureBlobStore
        from shared.adapters.cosmos_job_store import ensure_cosmos_container
        from shared.config import Settings
        from stack.cors import allow_dashboard_uploads

        app = Settings.from_env(settings)
        blobs = AzureBlobStore.from_settings(app)
        for name in (app.scenes_container, app.renders_container, app.assets_container):
            blobs.ensure_container(name)
        allow_dashboard_uploads(BlobServiceClient.from_connection_string(app.storage_connection_string), app_origin)
        ensure_cosmos_container(app)

    def _start_localbatch(self, info: StackInfo) -> None:
        argv = [sys.executable, "-m", "localbatch", "--data-dir", str(self.data_dir / "localbatch"),
                "--port", str(info.localbatch_port),
                "--storage-connection-string", info.storage_connection_string]
        if self.slots:
            argv += ["--slots", str(self.slots)]
        argv += self.localbatch_args
        service = Service(name="localbatch", argv=argv, data_dir=self.data_dir,
                          env={"LOCALBATCH_KEY": info.localbatch_key})
        service.start()
        self.services["localbatch"] = service
        service.wait_until(lambda: http_ok(info.localbatch_url + "/health"), timeout=60)

    def _start_devhost(self, info: StackInfo, settings_path: Path) -> None:
        argv = [sys.executable, "-m", "devhost", "--app-dir", str(ROOT), "--port", str(info.devhost_port),
                "--data-dir", str(self.data_dir / "devhost"), "--settings", str(settings_path),
                "--eventgrid-config", str(ROOT / "devhost.eventgrid.json")]
        # Azurite's request log is the blob watcher's change feed: markers are events within
        # ~0.1 s however many blobs `renders` holds (devhost/README.md, "Finding new blobs").
        azurite = self.services.get("azurite")
        feed = {"DEVHOST_BLOB_REQUEST_LOG": str(azurite.log_path)} if azurite is not None else {}
        service = Service(name="devhost", argv=argv, data_dir=self.data_dir, env=feed)
        service.start()
        self.services["devhost"] = service
        service.wait_until(lambda: http_ok(info.devhost_url + "/admin/host/ping", any_status=False),
                           timeout=120)

    def stop(self) -> None:
        # devhost first, so nothing new reaches localbatch or the stores while they stop
        for name in ("devhost", "localbatch", "cosmos", "azurite", "mariadb"):
            service = self.services.pop(name, None)
            if service is not None:
                service.stop()
        state = self.data_dir / STATE_FILE
        if state.exists():
            state.unlink()

    def __enter__(self) -> StackInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_recorded(data_dir: Path) -> list[str]:
    """Stops a stack started by another process (make up), from its stack.json."""
    info = StackInfo.load(data_dir)
    if info is None:
        return []
    stopped = []
    for name in ("devhost", "localbatch", "cosmos", "azurite", "mariadb"):
        pid = info.pids.get(name)
        if pid:
            stop_process_group(pid)
            stopped.append(name)
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped


def api_request(info: StackInfo, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, Any]:
    """A call to the pipeline's HTTP API with the function key; (status, decoded JSON or text)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{info.api_url}{path}", data=data, method=method,
        headers={"x-functions-key": info.function_key, "content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_for(predicate: Any, timeout: float, interval: float = 0.5, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


__all__ = ["LocalStack", "ServiceError", "StackInfo", "api_request", "app_settings", "stop_recorded",
           "wait_for"]
