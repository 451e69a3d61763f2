"""Where the API is and which key opens it.

The first source that names a URL wins: --api/--key, then RENDER_API_URL/RENDER_API_KEY,
then a profile of ~/.config/renderctl/config.toml (``[profiles.NAME]`` with ``api`` and
``key``; ``default`` unless --profile says otherwise), then a local stack started by
`make up` (its ``.data/stack/stack.json``, looked for from the current folder upwards, or
in RENDER_STACK_DIR).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ConfigError(Exception):
    """No API could be found, or a configuration file is unreadable."""


@dataclass(frozen=True)
class Target:
    api_url: str  # the base URL ending in /api
    key: str = ""
    source: str = ""

    def __repr__(self) -> str:  # the key never appears in output or logs
        return f"Target(api_url={self.api_url!r}, key={'***' if self.key else ''!r}, source={self.source!r})"


def config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "renderctl" / "config.toml"


def _profile(env: Mapping[str, str], name: str | None) -> Target | None:
    path = config_path(env)
    if not path.exists():
        if name:
            raise ConfigError(f"profile {name!r} asked for, but {path} does not exist")
        return None
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not readable TOML: {exc}") from None
    profiles = data.get("profiles") or {}
    wanted = name or "default"
    profile = profiles.get(wanted)
    if profile is None:
        if name:
            raise ConfigError(f"no profile {name!r} in {path} (has: {', '.join(sorted(profiles)) or 'none'})")
        return None
    if not isinstance(profile, dict) or not isinstance(profile.get("api"), str):
        raise ConfigError(f"profile {wanted!r} in {path} needs api = \"https://…/api\"")
    return Target(str(profile["api"]), str(profile.get("key") or ""), f"profile {wanted}")


def _stack_file(env: Mapping[str, str], cwd: Path) -> Path | None:
    if env.get("RENDER_STACK_DIR"):
        return Path(env["RENDER_STACK_DIR"]) / "stack.json"
    for folder in (cwd, *cwd.parents):
        candidate = folder / ".data" / "stack" / "stack.json"
        if candidate.exists():
            return candidate
    return None


def _local_stack(env: Mapping[str, str], cwd: Path) -> Target | None:
    path = _stack_file(env, cwd)
    if path is None or not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
        return Target(f"http://127.0.0.1:{int(info['devhost_port'])}/api", str(info["function_key"]),
                      f"local stack {path.parent}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} does not describe a local stack: {exc}") from None


def resolve(api: str | None, key: str | None, profile: str | None,
            env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Target:
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    found: Target | None = None
    if api:
        found = Target(api, "", "--api")
    elif env.get("RENDER_API_URL") and not profile:
        found = Target(env["RENDER_API_URL"], env.get("RENDER_API_KEY", ""), "RENDER_API_URL")
    else:
        found = _profile(env, profile) or _local_stack(env, cwd)
    if found is None:
        raise ConfigError("no API to talk to: pass --api URL (and --key), set RENDER_API_URL and RENDER_API_KEY, "
                          f"add a profile to {config_path(env)}, or start a local stack with `make up`")
    chosen_key = key if key is not None else (found.key or env.get("RENDER_API_KEY", ""))
    url = found.api_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"the API URL must start with http:// or https:// (got {url!r} from {found.source})")
    host = urlsplit(url).hostname or ""
    if chosen_key and url.startswith("http://") and host not in LOOPBACK:
        raise ConfigError(f"refusing to send the key in clear text to {host}: use https:// (plain http is "
                          "for a local stack on this machine only)")
    return Target(url if url.endswith("/api") else url + "/api", chosen_key, found.source)
