"""Start-up configuration: the local.settings.json-shaped settings file, host.json and the keys.

The settings file's "Values" become environment variables before the app is imported,
as Core Tools does; a variable already set in the environment wins (Core Tools logs
"Skipping ... already defined" for the same case).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost.private_files import write_private

log = logging.getLogger("devhost")


class ConfigError(ValueError):
    """A settings, host.json, keys or subscription file that devhost cannot use."""


def read_json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{what} {path} is not valid JSON: {exc}") from exc


def load_settings_file(path: Path | None) -> dict[str, str]:
    """Apply the file's Values to os.environ; return the values actually in effect."""
    if path is None:
        return {}
    document = read_json_file(path, "settings file")
    values = document.get("Values", {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise ConfigError(f"settings file {path}: 'Values' must be an object of strings")
    applied: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(value, str | int | float | bool):
            raise ConfigError(f"settings file {path}: Values.{name} must be a string")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if name in os.environ:
            log.info("Skipping '%s' from settings: already defined in the environment", name)
        else:
            os.environ[name] = text
        applied[name] = os.environ[name]
    return applied


def read_route_prefix(app_dir: Path) -> str:
    """host.json extensions.http.routePrefix; "api" when absent, as in the real host."""
    host_json = app_dir / "host.json"
    if not host_json.exists():
        return "api"
    document = read_json_file(host_json, "host.json")
    prefix = document.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    if not isinstance(prefix, str):
        raise ConfigError("host.json: extensions.http.routePrefix must be a string")
    return prefix.strip("/")


@dataclass(frozen=True)
class Keys:
    """The host's secrets: one function key for every function, the master key,
    the Event Grid and Durable extensions' system keys and the custom topic's access key."""

    function: str
    master: str
    eventgrid_system: str
    eventgrid_topic: str
    durabletask_system: str


# Setting name → Keys field. A key set in the settings/environment is used as is;
# the others are generated once and kept in DATA_DIR/keys.json across restarts.
KEY_SETTINGS = {
    "DEVHOST_FUNCTION_KEY": "function",
    "DEVHOST_MASTER_KEY": "master",
    "DEVHOST_EVENTGRID_SYSTEM_KEY": "eventgrid_system",
    "DEVHOST_EVENTGRID_TOPIC_KEY": "eventgrid_topic",
    "DEVHOST_DURABLETASK_SYSTEM_KEY": "durabletask_system",
}


def load_keys(data_dir: Path) -> Keys:
    path = data_dir / "keys.json"
    stored: dict[str, str] = {}
    if path.exists():
        document = read_json_file(path, "keys file")
        if not isinstance(document, dict):
            raise ConfigError(f"keys file {path} must be a JSON object")
        stored = {k: v for k, v in document.items() if isinstance(v, str) and v}
    changed = False
    values: dict[str, str] = {}
    for setting, field_name in KEY_SETTINGS.items():
        configured = os.environ.get(setting, "").strip()
        if configured:
            values[field_name] = configured
            continue
        if field_name not in stored:
            stored[field_name] = secrets.token_urlsafe(32)
            changed = True
        values[field_name] = stored[field_name]
    if changed:
        write_private(path, json.dumps(stored, indent=2) + "\n")
    return Keys(**values)


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"setting {name}={raw!r} is not a number") from exc
    if value < minimum:
        raise ConfigError(f"setting {name}={raw!r} must be at least {minimum}")
    return value


def env_int(name: str, default: int, minimum: int = 1) -> int:
    value = env_float(name, float(default), float(minimum))
    if value != int(value):
        raise ConfigError(f"setting {name} must be a whole number")
    return int(value)
