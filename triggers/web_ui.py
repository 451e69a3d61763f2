"""GET /api/ui/…: the dashboard's static files from web/ (anonymous: the page holds no data,
every API call it makes carries the function key the user typed in).

Only files that exist under web/ when the app starts, with a known type, are served: the
request path is looked up in that list and never joined onto a folder, so `..`, encoded
dots, backslashes or absolute paths cannot reach anything else.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from shared.config import Settings

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
INDEX = "index.html"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

bp = df.Blueprint()


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


@functools.cache
def static_files(root: Path = WEB_ROOT) -> dict[str, StaticFile]:
    """Every servable file under root by its URL path ("jobs.js", "img/logo.svg")."""
    files: dict[str, StaticFile] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or path.is_symlink() or not path.is_file():
            continue
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type is None:
            continue
        body = path.read_bytes()
        files[relative.as_posix()] = StaticFile(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return files


def storage_origin(settings: Settings) -> str:
    """The blob endpoint's origin: the page uploads bundles to it and shows previews and videos
    from it (through short-lived SAS URLs the API hands out)."""
    url = settings.storage_account_url
    if not url:
        parts = dict(p.split("=", 1) for p in settings.storage_connection_string.split(";") if "=" in p)
        if "BlobEndpoint" in parts:
            url = parts["BlobEndpoint"]
        elif "AccountName" in parts:
            scheme = parts.get("DefaultEndpointsProtocol", "https")
            url = f"{scheme}://{parts['AccountName']}.blob.{parts.get('EndpointSuffix', 'core.windows.net')}"
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.netloc:
        return ""
    return f"{split.scheme}://{split.netloc}"


@functools.cache
def content_security_policy() -> str:
    try:
        origin = storage_origin(Settings.from_env())
    except Exception:  # incomplete settings: the page still works over the API alone
        origin = ""
    storage = f" {origin}" if origin else ""
    return ("default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' blob: data:{storage}; media-src 'self'{storage}; connect-src 'self'{storage}; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


def not_found() -> func.HttpResponse:
    return func.HttpResponse("not found", status_code=404, mimetype="text/plain",
                             headers={"Cache-Control": "no-store", **security_headers()})


def serve(path: str, url: str, if_none_match: str | None) -> func.HttpResponse:
    if not path and not urlsplit(url).path.endswith("/"):
        # /api/ui → /api/ui/, so the page's relative links resolve below ui/.
        return func.HttpResponse(status_code=308, headers={"Location": "ui/", "Cache-Control": "no-store"})
    found = static_files().get(path or INDEX)
    if found is None:
        return not_found()
    # Revalidate every time: no build step fingerprints the file names, and a deploy must show at once.
    headers = {"ETag": found.etag, "Cache-Control": "no-cache", **security_headers()}
    if if_none_match and found.etag in {tag.strip() for tag in if_none_match.split(",")}:
        return func.HttpResponse(status_code=304, headers=headers)
    return func.HttpResponse(found.body, status_code=200, headers={"Content-Type": found.content_type, **headers})


@bp.route(route="ui/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def web_ui(req: func.HttpRequest) -> func.HttpResponse:
    return serve(req.route_params.get("path") or "", req.url, req.headers.get("If-None-Match"))
