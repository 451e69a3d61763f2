"""Settings.from_env(): the only place in the project that reads environment variables.

Every key, its default and its parser live in one table (_KEYS), so Settings.env_keys()
and the infra checks that parse it stay true. Errors name the key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import ValidationError

GIB = 1024**3
BACKENDS = ("local", "azure_batch")


def _text(value: str) -> str:
    return value.strip()


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value.strip().replace("_", ""))
        except ValueError:
            raise ValueError("must be an integer") from None
        if not low <= number <= high:
            raise ValueError(f"must be within {low}..{high}")
        return number
    return parse


def _chunk_size(value: str) -> int | None:
    """`auto` (None: the pipeline sizes chunks from probe renders) or a number of frames."""
    if value.strip().lower() == "auto":
        return None
    return _int(1, 10_000)(value)


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError("must be a number of seconds") from None
        if not low <= number <= high:  # also refuses nan and inf
            raise ValueError(f"must be within {low:g}..{high:g}")
        return number
    return parse


def _price(value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError("must be a number") from None
    if not 0 <= number <= 100_000:  # also refuses nan and inf
        raise ValueError("must be within 0..100000 (a price per node-hour)")
    return number


def _container(value: str) -> str:
    name = value.strip()
    # Azure container names: 3-63 lowercase letters, digits and single hyphens.
    if not (3 <= len(name) <= 63 and name.replace("-", "").isalnum() and name == name.lower()
            and name[0].isalnum() and name[-1].isalnum() and "--" not in name and name.isascii()):
        raise ValueError("must be a valid container name (3-63 lowercase letters, digits, hyphens)")
    return name


def _backend(value: str) -> str:
    name = value.strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"must be one of {', '.join(BACKENDS)}")
    return name


def _url(value: str) -> str:
    url = value.strip()
    if url and not url.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return url


# key → (field name, default, parser). Defaults are strings, parsed like any value.
_KEYS: dict[str, tuple[str, str, Callable[[str], Any]]] = {
    "STORAGE_CONNECTION_STRING": ("storage_connection_string", "", _text),
    "STORAGE_ACCOUNT_URL": ("storage_account_url", "", _url),
    "SCENES_CONTAINER": ("scenes_container", "scenes", _container),
    "RENDERS_CONTAINER": ("renders_container", "renders", _container),
    "ASSETS_CONTAINER": ("assets_container", "assets", _container),  # scene files by content
    "COSMOS_ENDPOINT": ("cosmos_endpoint", "", _url),
    "COSMOS_KEY": ("cosmos_key", "", _text),
    "COSMOS_DATABASE": ("cosmos_database", "render", _text),
    "COSMOS_CONTAINER": ("cosmos_container", "jobs", _text),
    # A job's chunks, in pages of shared.chunk_pages.PAGE_SIZE (partition key /jobId).
    "COSMOS_CHUNKS_CONTAINER": ("cosmos_chunks_container", "chunks", _text),
    "COSMOS_VERIFY_TLS": ("cosmos_verify_tls", "true", _bool),
    "RENDER_BACKEND": ("render_backend", "local", _backend),
    "LOCALBATCH_URL": ("localbatch_url", "", _url),
    "LOCALBATCH_KEY": ("localbatch_key", "", _text),  # localbatch's API key (its x-localbatch-key)
    "BATCH_ACCOUNT_URL": ("batch_account_url", "", _url),
    "BATCH_POOL_ID": ("batch_pool_id", "", _text),
    "BATCH_NODE_IDENTITY_ID": ("batch_node_identity_id", "", _text),
    "EVENTGRID_TOPIC_ENDPOINT": ("eventgrid_topic_endpoint", "", _url),
    "EVENTGRID_TOPIC_KEY": ("eventgrid_topic_key", "", _text),
    "BUNDLE_MAX_BYTES": ("bundle_max_bytes", str(2 * GIB), _int(1, 1024 * GIB)),
    "BUNDLE_MAX_ENTRIES": ("bundle_max_entries", "10000", _int(1, 10_000_000)),
    "BUNDLE_MAX_UNPACKED_BYTES": ("bundle_max_unpacked_bytes", str(8 * GIB), _int(1, 4096 * GIB)),
    # A job without chunkSize: `auto` sizes its chunks from probe renders (planning.size_chunks).
    "DEFAULT_CHUNK_SIZE": ("default_chunk_size", "auto", _chunk_size),
    # What an automatically sized chunk aims to take on its node (Deadline's targetRuntimeSeconds).
    "TARGET_TASK_SECONDS": ("target_task_seconds", "300", _int(10, 86_400)),
    # How long GET /api/jobs and /api/jobs/{jobId} may answer from a recent read (0: never);
    # this host's own writes drop those answers at once (shared/pipeline/answer_cache.py).
    "API_CACHE_SECONDS": ("api_cache_seconds", "1", _seconds(0, 10)),
    "DEFAULT_MAX_RETRIES": ("default_max_retries", "2", _int(0, 10)),
    "POLL_INTERVAL_SECONDS": ("poll_interval_seconds", "30", _int(1, 86_400)),
    "TASK_TIMEOUT_SECONDS": ("task_timeout_seconds", "3600", _int(60, 7 * 86_400)),
    # Blender's -t per render task; 0: NODE_CORES / TASK_SLOTS_PER_NODE (planning.render_threads).
    "RENDER_THREADS": ("render_threads", "0", _int(0, 1024)),
    # CPU cores of a render node (the VM size's vCPUs; localbatch's machine); 0: unknown, Blender decides.
    "NODE_CORES": ("node_cores", "0", _int(0, 4096)),
    # Only App Service authentication (Easy Auth) strips client-sent x-ms-client-principal-*
    # headers; without it they are whatever the caller wrote, so they name no submitter.
    "TRUST_APP_SERVICE_AUTH": ("trust_app_service_auth", "false", _bool),
    # Watching a job (shared/pipeline/watching.py and watch_reads.py).
    # Read URLs of GET /api/jobs/{id}/outputs; a user delegation SAS lives at most 7 days.
    "OUTPUT_URL_LIFETIME_SECONDS": ("output_url_lifetime_seconds", "3600", _int(60, 7 * 86_400)),
    # A task with no new frame for this long is stopped as stuck (at least; a job may say more).
    "DEFAULT_STUCK_AFTER_SECONDS": ("default_stuck_after_seconds", "600", _int(60, 7 * 86_400)),
    # Tasks that share one node (Batch's taskSlotsPerNode, localbatch's slots): a task's cost share,
    # its threads, and how many probes an automatically sized job starts with.
    "TASK_SLOTS_PER_NODE": ("task_slots_per_node", "1", _int(1, 256)),
    # Prices per node-hour for the cost estimate (0: no estimate); Spot nodes are Batch's low-priority.
    "NODE_PRICE_PER_HOUR_DEDICATED": ("node_price_per_hour_dedicated", "0", _price),
    "NODE_PRICE_PER_HOUR_SPOT": ("node_price_per_hour_spot", "0", _price),
}


@dataclass(frozen=True)
class Settings:
    storage_connection_string: str
    storage_account_url: str
    scenes_container: str
    renders_container: str
    assets_container: str
    cosmos_endpoint: str
    cosmos_key: str
    cosmos_database: str
    cosmos_container: str
    cosmos_chunks_container: str
    cosmos_verify_tls: bool
    render_backend: str
    localbatch_url: str
    localbatch_key: str
    batch_account_url: str
    batch_pool_id: str
    batch_node_identity_id: str
    eventgrid_topic_endpoint: str
    eventgrid_topic_key: str
    bundle_max_bytes: int
    bundle_max_entries: int
    bundle_max_unpacked_bytes: int
    default_chunk_size: int | None
    target_task_seconds: int
    api_cache_seconds: float
    default_max_retries: int
    poll_interval_seconds: int
    task_timeout_seconds: int
    render_threads: int
    node_cores: int
    trust_app_service_auth: bool
    output_url_lifetime_seconds: int
    default_stuck_after_seconds: int
    task_slots_per_node: int
    node_price_per_hour_dedicated: float
    node_price_per_hour_spot: float

    @staticmethod
    def env_keys() -> tuple[str, ...]:
        return tuple(_KEYS)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every key; raise ValidationError(field=<KEY>) on the first bad one."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for key, (name, default, parse) in _KEYS.items():
            raw = source.get(key)
            raw = default if raw is None or raw.strip() == "" else raw
            try:
                values[name] = parse(raw)
            except ValueError as exc:
                raise ValidationError(f"{key}: {exc}", field=key, code="invalid_setting") from None
        settings = cls(**values)
        settings._check_combinations()
        return settings

    @property
    def uses_storage_identity(self) -> bool:
        return not self.storage_connection_string

    @property
    def uses_cosmos_identity(self) -> bool:
        return not self.cosmos_key

    @property
    def publishes_events(self) -> bool:
        """Outbound lifecycle events are optional: no topic endpoint, no events."""
        return bool(self.eventgrid_topic_endpoint)

    def _check_combinations(self) -> None:
        def require(key: str, why: str) -> None:
            name = _KEYS[key][0]
            if not getattr(self, name):
                raise ValidationError(f"{key} is required {why}", field=key, code="invalid_setting")

        if not self.storage_connection_string:
            require("STORAGE_ACCOUNT_URL", "when STORAGE_CONNECTION_STRING is empty")
        require("COSMOS_ENDPOINT", "to store job documents")
        if self.render_backend == "local":
            require("LOCALBATCH_URL", "when RENDER_BACKEND=local")
        else:
            require("BATCH_ACCOUNT_URL", "when RENDER_BACKEND=azure_batch")
            require("BATCH_POOL_ID", "when RENDER_BACKEND=azure_batch")
        if self.scenes_container == self.renders_container:
            raise ValidationError("SCENES_CONTAINER and RENDERS_CONTAINER must differ",
                                  field="RENDERS_CONTAINER", code="invalid_setting")
        if self.cosmos_chunks_container == self.cosmos_container:
            raise ValidationError("COSMOS_CHUNKS_CONTAINER must differ from COSMOS_CONTAINER",
                                  field="COSMOS_CHUNKS_CONTAINER", code="invalid_setting")
        if self.assets_container in (self.scenes_container, self.renders_container):
            raise ValidationError("ASSETS_CONTAINER must differ from SCENES_CONTAINER and RENDERS_CONTAINER",
                                  field="ASSETS_CONTAINER", code="invalid_setting")
