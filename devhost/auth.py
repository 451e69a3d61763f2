"""Key checks as the Functions host does them: a key arrives in the `code` query
parameter or the `x-functions-key` header; the master key opens everything."""

from __future__ import annotations

import secrets

from aiohttp import web

from devhost.settings import Keys


def provided_key(request: web.Request) -> str:
    return request.headers.get("x-functions-key") or request.query.get("code", "")


def _same(a: str, b: str) -> bool:
    return bool(a) and secrets.compare_digest(a.encode(), b.encode())


def key_matches(key: str, accepted: tuple[str, ...]) -> bool:
    return any(_same(key, candidate) for candidate in accepted if candidate)


def key_in(request: web.Request, accepted: tuple[str, ...]) -> bool:
    return key_matches(provided_key(request), accepted)


def authorized(request: web.Request, keys: Keys, level: str) -> bool:
    """level: anonymous | function | admin | system (the Event Grid extension's key)."""
    if level == "anonymous":
        return True
    key = provided_key(request)
    if _same(key, keys.master):
        return True
    if level == "function":
        return _same(key, keys.function)
    if level == "system":
        return _same(key, keys.eventgrid_system)
    return False


def unauthorized() -> web.Response:
    return web.json_response({"error": "a valid key is required (query 'code' or header 'x-functions-key')"},
                             status=401)
