"""HTTP triggers: route matching, the key check, func.HttpRequest in and
func.HttpResponse (or str/bytes/JSON/None) out, as the Python worker converts them."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import azure.functions as func
from aiohttp import web
from azure.functions.http import HttpRequest, HttpResponseConverter
from multidict import CIMultiDict

from devhost.auth import authorized, unauthorized
from devhost.indexing import FunctionInfo
from devhost.invocation import Invoker
from devhost.routing import Route, compile_route, precedence_key
from devhost.settings import ConfigError, Keys

log = logging.getLogger("devhost")

# Headers aiohttp computes itself; a function's value for them would conflict.
HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


@dataclass
class HttpRoute:
    function: FunctionInfo
    route: Route


def build_routes(functions: list[FunctionInfo]) -> list[HttpRoute]:
    routes = []
    for fn in functions:
        if fn.route is None:
            continue
        try:
            routes.append(HttpRoute(fn, compile_route(fn.route)))
        except ConfigError as exc:
            raise ConfigError(f"function {fn.name}: route {fn.route!r}: {exc}") from exc
    return sorted(routes, key=lambda r: precedence_key(r.route))


def _join(pairs: Any, sep: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        out[name] = f"{out[name]}{sep}{value}" if name in out else value
    return out


def _body(content_type: str, raw: bytes) -> tuple[str, str | bytes]:
    """The host sends octet-stream/multipart bodies (and anything not UTF-8) as bytes,
    others as a string, JSON-typed when the content type says so."""
    mime = content_type.split(";")[0].strip().lower()
    if not raw or mime == "application/octet-stream" or mime.startswith("multipart/"):
        return "bytes", raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes", raw
    return ("json" if mime.endswith("json") else "string"), text


def to_http_request(request: web.Request, raw_body: bytes, route_params: dict[str, str]) -> HttpRequest:
    body_type, body = _body(request.headers.get("content-type", ""), raw_body)
    return HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=_join(request.headers.items(), ", "),
        params=_join(request.query.items(), ","),
        route_params=route_params,
        body_type=body_type,
        body=body,
    )


def to_web_response(result: Any) -> web.Response:
    if result is None:
        return web.Response(status=204)
    if isinstance(result, func.HttpResponse):
        datum = HttpResponseConverter.encode(result, expected_type=None).value
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in datum["headers"].items():
            if name.lower() not in HOP_HEADERS:
                headers.add(name, value.value)
        for cookie in datum["cookies"] or []:
            for morsel in cookie.values():
                headers.add("Set-Cookie", morsel.OutputString())
        return web.Response(status=int(datum["status_code"].value), headers=headers,
                            body=datum["body"].value or b"")
    if isinstance(result, str):
        return web.Response(text=result, content_type="text/plain", charset="utf-8")
    if isinstance(result, bytes | bytearray):
        return web.Response(body=bytes(result), content_type="application/octet-stream")
    return web.Response(text=json.dumps(result, default=str), content_type="application/json")


_ENCODED_SLASH = re.compile("%2f", re.IGNORECASE)


def routing_path(raw_path: str) -> str:
    """The request path as the Functions host (ASP.NET Core) routes it: percent-decoded,
    except an encoded slash, which stays `%2F` inside its segment. So `jobs/a%2Fb` is one
    segment whose route value is `a%2Fb`, never two segments or a value holding '/'."""
    return "/".join(unquote(_ENCODED_SLASH.sub("%252F", segment), errors="replace")
                    for segment in raw_path.split("/"))


class HttpFunctions:
    def __init__(self, routes: list[HttpRoute], route_prefix: str, keys: Keys, invoker: Invoker) -> None:
        self.routes = routes
        self.prefix = f"/{route_prefix}" if route_prefix else ""
        self.keys = keys
        self.invoker = invoker

    def owns(self, path: str) -> bool:
        return not self.prefix or path == self.prefix or path.startswith(self.prefix + "/")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = routing_path(request.raw_path.split("?", 1)[0])
        if not self.owns(path):
            raise web.HTTPNotFound()
        relative = path[len(self.prefix):].strip("/")
        matched = [(r, params) for r in self.routes if (params := r.route.match(relative)) is not None]
        if not matched:
            return web.json_response({"error": f"no function serves {path}"}, status=404)
        for candidate, params in matched:
            fn = candidate.function
            if request.method in fn.methods or (request.method == "HEAD" and "GET" in fn.methods):
                return await self._call(request, fn, params)
        allowed = sorted({m for r, _ in matched for m in r.function.methods})
        return web.json_response({"error": f"method {request.method} not allowed"}, status=405,
                                 headers={"Allow": ", ".join(allowed)})

    async def _call(self, request: web.Request, fn: FunctionInfo, params: dict[str, str]) -> web.StreamResponse:
        if not authorized(request, self.keys, fn.auth_level):
            return unauthorized()
        if fn.unsupported:
            return web.json_response({"error": f"devhost cannot run {fn.name}: "
                                      + "; ".join(fn.unsupported) + " not supported"}, status=501)
        http_request = to_http_request(request, await request.read(), params)
        try:
            result = await self.invoker.invoke(fn, http_request, reason="This function was programmatically "
                                               f"called via the host APIs. ({request.method} {request.path})")
        except Exception:
            return web.json_response({"error": f"Exception while executing function: Functions.{fn.name}"},
                                     status=500)
        try:
            return to_web_response(result)
        except Exception:
            log.exception("Functions.%s returned a value that is not an HTTP response", fn.name)
            return web.json_response({"error": f"Functions.{fn.name} returned an invalid response"},
                                     status=500)
