"""Retry policies for the SDK clients: quick for the local stack's services, the SDKs' own for Azure.

A local service (Azurite, the Cosmos server, devhost's topic) that restarts is back within a
second or two, and nothing else shares it; the SDKs' defaults are tuned for a shared cloud
service that may throttle (the storage SDK waits ~15 s before its first retry). So against a
loopback endpoint every client retries every 0.5 s for 10 s at most (then the adapters raise
TransientError and the orchestration's own retry takes over), and against Azure it keeps the
SDK's exponential backoff, which is what Azure's throttling guidance asks for. One policy
could not be right for both: 0.5 s steps would hammer a throttled account, and 15 s first
waits make a local restart look like a 15 s outage.

A caller that passes any retry option of its own (tests: retry_total=0) gets exactly those.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Any

from azure.storage.blob import LinearRetry

LOCAL_RETRY_INTERVAL_S = 0.5
LOCAL_RETRY_ATTEMPTS = 20  # 10 s in all: a restart of any local service fits, a dead one fails fast enough


def is_local(url: str) -> bool:
    """True for an endpoint on this machine (loopback), the only place the local policies apply."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def blob_endpoint(connection_string: str) -> str:
    """The blob endpoint a storage connection string names ('' for an Azure account by name)."""
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    if parts.get("UseDevelopmentStorage", "").lower() == "true":
        return "http://127.0.0.1:10000/devstoreaccount1"
    return parts.get("BlobEndpoint", "")


def _chosen_by_caller(options: dict[str, Any]) -> bool:
    return any(key.startswith("retry") for key in options)


def storage_options(endpoint: str, options: dict[str, Any]) -> dict[str, Any]:
    if _chosen_by_caller(options) or not is_local(endpoint):
        return options
    # retry_connect/read default to 3 whatever retry_total says: a restart needs more.
    # backoff is annotated int but used as a float number of seconds (time.sleep).
    policy = LinearRetry(backoff=LOCAL_RETRY_INTERVAL_S,  # type: ignore[arg-type]
                         retry_total=LOCAL_RETRY_ATTEMPTS, random_jitter_range=0,
                         retry_connect=LOCAL_RETRY_ATTEMPTS, retry_read=LOCAL_RETRY_ATTEMPTS)
    return {"retry_policy": policy, "connection_timeout": 5, **options}


def cosmos_options(endpoint: str, options: dict[str, Any]) -> dict[str, Any]:
    if _chosen_by_caller(options) or not is_local(endpoint):
        return options
    # Fixed waits of retry_backoff_factor seconds between connection attempts.
    return {"retry_total": LOCAL_RETRY_ATTEMPTS, "retry_connect": LOCAL_RETRY_ATTEMPTS,
            "retry_read": LOCAL_RETRY_ATTEMPTS, "retry_backoff_factor": LOCAL_RETRY_INTERVAL_S,
            "retry_backoff_max": 1, "connection_timeout": 5, **options}


def core_options(endpoint: str, options: dict[str, Any]) -> dict[str, Any]:
    """azure-core's RetryPolicy (Event Grid): backoff_factor * 2^(n-1), capped at backoff_max.

    It retries no POST after a connection error by default; publishing one is safe to repeat
    (each event has its id, and Event Grid delivers at least once anyway).
    """
    if _chosen_by_caller(options) or not is_local(endpoint):
        return options
    return {"retry_on_methods": frozenset({"POST", "GET", "HEAD", "PUT", "DELETE", "OPTIONS"}),
            "retry_total": LOCAL_RETRY_ATTEMPTS, "retry_connect": LOCAL_RETRY_ATTEMPTS,
            "retry_read": LOCAL_RETRY_ATTEMPTS, "retry_backoff_factor": LOCAL_RETRY_INTERVAL_S / 2,
            "retry_backoff_max": LOCAL_RETRY_INTERVAL_S, "connection_timeout": 5, **options}
