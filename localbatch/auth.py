"""The API key, as Batch's Shared Key: every request must carry it, compared in constant time.

Anyone who can call localbatch can run programs on this machine, so no route is
open, /health included. The key is `LOCALBATCH_KEY` when set (the local stack
generates one and gives it to devhost too); otherwise localbatch makes one at
its first start and keeps it in DIR/localbatch.key (mode 0600), so a restart
keeps it.

Bodies must be `application/json`: a web page can POST `text/plain` (or a form)
to 127.0.0.1 without a CORS preflight, so only a content type that needs one is
accepted. No CORS headers are ever sent, so no browser page may read an answer.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

KEY_HEADER = "x-localbatch-key"
KEY_FILE = "localbatch.key"
KEY_ENV = "LOCALBATCH_KEY"
MIN_KEY_LENGTH = 16
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class UnusableKey(ValueError):
    """The configured key is unusable (too short); localbatch refuses to start."""


def load_key(data_dir: Path, configured: str | None) -> str:
    """The configured key, else the one in DIR/localbatch.key, made (0600) if there is none."""
    if configured:
        if len(configured) < MIN_KEY_LENGTH:
            raise UnusableKey(f"{KEY_ENV} must be at least {MIN_KEY_LENGTH} characters")
        return configured
    path = data_dir / KEY_FILE
    try:
        # O_EXCL: never overwrite a key another start already wrote; 0600 from the first byte.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        path.chmod(0o600)
        key = path.read_text().strip()
        if len(key) < MIN_KEY_LENGTH:
            raise UnusableKey(f"{path} holds no usable key (at least {MIN_KEY_LENGTH} characters)") from None
        return key
    key = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def _refuse(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def require_key(key: str) -> Middleware:
    expected = key.encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get(KEY_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return _refuse(401, "unauthorized", f"a valid {KEY_HEADER} header is required")
        # A POST without a body (terminate) may leave the type out; any body must say it is JSON.
        declared = request.body_exists or "Content-Type" in request.headers
        if request.method in BODY_METHODS and declared and request.content_type != "application/json":
            return _refuse(415, "unsupported_media_type", "request bodies must be application/json")
        return await handler(request)

    return check
