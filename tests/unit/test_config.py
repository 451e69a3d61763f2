"""Settings.from_env: defaults, parsing, and errors that name the key."""

from __future__ import annotations

import pytest

from shared.config import GIB, Settings
from shared.errors import ValidationError

LOCAL = {
    "STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
    "COSMOS_ENDPOINT": "https://127.0.0.1:8081/",
    "COSMOS_KEY": "key",
    "LOCALBATCH_URL": "http://127.0.0.1:7071",
}


def test_local_settings_with_defaults():
    settings = Settings.from_env(LOCAL)
    assert settings.scenes_container == "scenes" and settings.renders_container == "renders"
    assert settings.cosmos_database == "render" and settings.cosmos_container == "jobs"
    assert settings.cosmos_verify_tls is True and settings.render_backend == "local"
    assert settings.bundle_max_bytes == 2 * GIB and settings.bundle_max_unpacked_bytes == 8 * GIB
    # No chunkSize in a job: the pipeline sizes its chunks (issue #15's "auto" default).
    assert (settings.bundle_max_entries, settings.default_chunk_size, settings.default_max_retries) == (
        10000, None, 2)
    assert (settings.target_task_seconds, settings.node_cores) == (300, 0)
    assert (settings.poll_interval_seconds, settings.task_timeout_seconds, settings.render_threads) == (
        30, 3600, 0)
    assert not settings.uses_storage_identity and not settings.uses_cosmos_identity
    assert not settings.publishes_events


def test_azure_settings_use_identities():
    settings = Settings.from_env({
        "STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net", "COSMOS_ENDPOINT": "https://c:443/",
        "RENDER_BACKEND": "azure_batch", "BATCH_ACCOUNT_URL": "https://b.westeurope.batch.azure.com",
        "BATCH_POOL_ID": "render", "EVENTGRID_TOPIC_ENDPOINT": "https://t.eventgrid.azure.net/api/events",
        "COSMOS_VERIFY_TLS": "no", "RENDER_THREADS": "8",
    })
    assert settings.uses_storage_identity and settings.uses_cosmos_identity and settings.publishes_events
    assert settings.render_backend == "azure_batch" and settings.cosmos_verify_tls is False
    assert settings.render_threads == 8


def test_env_keys_lists_every_key_once():
    keys = Settings.env_keys()
    assert len(keys) == len(set(keys)) == 36
    assert {"STORAGE_CONNECTION_STRING", "RENDER_THREADS", "TRUST_APP_SERVICE_AUTH", "LOCALBATCH_KEY",
            "EVENTGRID_TOPIC_KEY",
            "BATCH_NODE_IDENTITY_ID"} <= set(keys)


def test_only_listed_keys_are_read():
    seen: list[str] = []

    class Spy(dict):
        def get(self, key, default=None):
            seen.append(key)
            return super().get(key, default)

    Settings.from_env(Spy(LOCAL))
    assert set(seen) == set(Settings.env_keys())


@pytest.mark.parametrize(("key", "value"), [
    ("BUNDLE_MAX_BYTES", "lots"), ("BUNDLE_MAX_ENTRIES", "0"), ("DEFAULT_CHUNK_SIZE", "-1"),
    ("DEFAULT_MAX_RETRIES", "11"), ("POLL_INTERVAL_SECONDS", "1.5"), ("TASK_TIMEOUT_SECONDS", "5"),
    ("RENDER_THREADS", "many"), ("COSMOS_VERIFY_TLS", "maybe"), ("RENDER_BACKEND", "kubernetes"),
    ("SCENES_CONTAINER", "Scenes"), ("RENDERS_CONTAINER", "r"), ("COSMOS_ENDPOINT", "localhost:8081"),
    ("RENDERS_CONTAINER", "scenes"), ("DEFAULT_CHUNK_SIZE", "0"), ("DEFAULT_CHUNK_SIZE", "automatic"),
    ("TARGET_TASK_SECONDS", "5"), ("NODE_CORES", "-2"),
])
def test_invalid_values_name_the_key(key, value):
    with pytest.raises(ValidationError) as err:
        Settings.from_env({**LOCAL, key: value})
    assert err.value.field == key and key in err.value.message


@pytest.mark.parametrize(("env", "missing"), [
    ({k: v for k, v in LOCAL.items() if k != "LOCALBATCH_URL"}, "LOCALBATCH_URL"),
    ({k: v for k, v in LOCAL.items() if k != "COSMOS_ENDPOINT"}, "COSMOS_ENDPOINT"),
    ({k: v for k, v in LOCAL.items() if k != "STORAGE_CONNECTION_STRING"}, "STORAGE_ACCOUNT_URL"),
    ({**LOCAL, "RENDER_BACKEND": "azure_batch"}, "BATCH_ACCOUNT_URL"),
    ({**LOCAL, "RENDER_BACKEND": "azure_batch", "BATCH_ACCOUNT_URL": "https://b"}, "BATCH_POOL_ID"),
])
def test_the_chosen_backend_needs_its_keys(env, missing):
    with pytest.raises(ValidationError) as err:
        Settings.from_env(env)
    assert err.value.field == missing


def test_blank_values_mean_the_default():
    assert Settings.from_env({**LOCAL, "DEFAULT_CHUNK_SIZE": "  "}).default_chunk_size is None


def test_a_studio_may_keep_a_fixed_default_chunk_size():
    assert Settings.from_env({**LOCAL, "DEFAULT_CHUNK_SIZE": "12"}).default_chunk_size == 12
    assert Settings.from_env({**LOCAL, "DEFAULT_CHUNK_SIZE": "Auto"}).default_chunk_size is None
