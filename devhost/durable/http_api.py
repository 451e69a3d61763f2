"""The Durable HTTP API under /runtime/webhooks/durabletask, which is also the RPC
endpoint the SDK's DurableOrchestrationClient calls (its rpcBaseUrl points here).
It depends on the runtime; the runtime does not know it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BasicAuth, hdrs, web

from devhost.auth import key_in, key_matches, unauthorized
from devhost.durable import events as E
from devhost.durable.client_binding import RPC_USER, WEBHOOK_PATH, ClientBinding
from devhost.durable.records import Query
from devhost.durable.runtime import ClientError, DurableRuntime

STATUSES = ("Pending", "Running", "Completed", "Failed", "Terminated", "ContinuedAsNew", "Canceled",
            "Suspended")
CONTINUATION = "x-ms-continuation-token"
UNLIMITED = 1 << 62
MAX_BODY = 16 * 1024 * 1024


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, runtime: DurableRuntime, binding: ClientBinding,
               accepted_keys: tuple[str, ...]) -> None:
    """accepted_keys: the extension's system key and the host's master key; every route
    needs one of them, as the durabletask webhook does in Azure."""
    api = _Api(runtime, binding)

    def guarded(handler: Handler) -> Handler:
        async def check(request: web.Request) -> web.StreamResponse:
            if not _has_key(request, accepted_keys):
                return unauthorized()
            return await handler(request)
        return check

    p = WEBHOOK_PATH
    add = app.router.add_route
    add("POST", p + "/orchestrators/{functionName}", guarded(api.start))
    add("POST", p + "/orchestrators/{functionName}/{instanceId}", guarded(api.start))
    for path in (p + "/instances", p + "/instances/"):
        add("GET", path, guarded(api.list))
        add("DELETE", path, guarded(api.purge_by))
    add("GET", p + "/instances/{instanceId}", guarded(api.status))
    add("DELETE", p + "/instances/{instanceId}", guarded(api.purge))
    add("POST", p + "/instances/{instanceId}/raiseEvent/{eventName}", guarded(api.raise_event))
    add("POST", p + "/instances/{instanceId}/terminate", guarded(api.terminate))
    add("POST", p + "/instances/{instanceId}/{operation:rewind|suspend|resume|restart}",
        guarded(api.unsupported))


def _has_key(request: web.Request, accepted: tuple[str, ...]) -> bool:
    if key_in(request, accepted):
        return True
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    if not header.lower().startswith("basic "):
        return False
    try:
        credentials = BasicAuth.decode(header)
    except ValueError:
        return False
    # The SDK client's calls: the system key in rpcBaseUrl's user info (see client_binding.py).
    return credentials.login == RPC_USER and key_matches(credentials.password, accepted)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=headers)


def _error(exc: ClientError) -> web.Response:
    return _json(exc.status, {"Message": str(exc), "ExceptionMessage": str(exc)})


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("true", "1", "yes")


async def _body_json(request: web.Request) -> str | None:
    """The JSON text of a request body. The SDK double-encodes (a JSON string holding JSON
    text); a string that is itself JSON text is taken as that text, as the worker would see it."""
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise ClientError(413, "The request body is too large.")
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ClientError(400, "Only application/json request content is supported") from exc
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except ValueError:
            return json.dumps(value)
    return json.dumps(value)


def _query(request: web.Request) -> Query:
    q = request.query
    try:
        created_from = E.parse_iso(q["createdTimeFrom"]) if q.get("createdTimeFrom") else None
        created_to = E.parse_iso(q["createdTimeTo"]) if q.get("createdTimeTo") else None
    except (ValueError, OverflowError) as exc:
        raise ClientError(400, f"Invalid createdTimeFrom/createdTimeTo: {exc}") from exc
    statuses = None
    if q.get("runtimeStatus"):
        statuses = [s.strip() for s in q["runtimeStatus"].split(",") if s.strip()]
        known = {s.lower(): s for s in STATUSES}
        unknown = [s for s in statuses if s.lower() not in known]
        if unknown:
            raise ClientError(400, f"Unknown runtimeStatus value(s): {', '.join(unknown)}")
        statuses = [known[s.lower()] for s in statuses]
    return Query(created_from, created_to, statuses, q.get("instanceIdPrefix") or None)


class _Api:
    def __init__(self, runtime: DurableRuntime, binding: ClientBinding) -> None:
        self.runtime = runtime
        self.binding = binding

    async def start(self, request: web.Request) -> web.Response:
        try:
            input_json = await _body_json(request)
            instance_id = self.runtime.start_new(request.match_info["functionName"],
                                                 request.match_info.get("instanceId"), input_json,
                                                 request.query.get("version"))
        except ClientError as exc:
            return _error(exc)
        payload = self.binding.management_urls(instance_id)
        if request.query.get("timeout"):
            # createAndWaitOnNewInstancePostUri: wait a while and answer with the output.
            done = await self._wait_done(instance_id, request)
            if done is not None:
                return _json(200, done["output"]) if done["runtimeStatus"] == "Completed" \
                    else _json(200, done)
        return _json(202, payload, {"Location": payload["statusQueryGetUri"], "Retry-After": "10"})

    async def _wait_done(self, instance_id: str, request: web.Request) -> dict[str, Any] | None:
        try:
            timeout = min(float(request.query["timeout"]), 3600.0)
            interval = max(0.05, float(request.query.get("pollingInterval") or 1.0))
        except ValueError:
            return None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            status = self.runtime.get_status(instance_id, show_input=False)
            if status is not None and status["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
                return status
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(interval, remaining))

    async def status(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instanceId"]
        try:
            status = self.runtime.get_status(
                instance_id, show_history=_flag(request, "showHistory", False),
                show_history_output=_flag(request, "showHistoryOutput", False),
                show_input=_flag(request, "showInput", True))
        except ClientError as exc:
            return _error(exc)
        if status is None:
            return _json(404, {"message": f"No instance with ID '{instance_id}' found."})
        runtime_status = status["runtimeStatus"]
        if runtime_status in ("Pending", "Running", "ContinuedAsNew"):
            location = self.binding.management_urls(instance_id)["statusQueryGetUri"]
            return _json(202, status, {"Location": location, "Retry-After": "10"})
        if runtime_status == "Failed" and _flag(request, "returnInternalServerErrorOnFailure", False):
            return _json(500, status)
        return _json(200, status)

    async def list(self, request: web.Request) -> web.Response:
        try:
            query = _query(request)
            # Without top the extension returns every match (the SDK's get_status_all relies on it).
            top = int(request.query.get("top") or UNLIMITED)
            if top <= 0:
                raise ClientError(400, "top must be a positive integer")
            offset = _decode_token(request.headers.get(CONTINUATION))
            statuses, more = self.runtime.list_statuses(query, offset=offset, top=top,
                                                        show_input=_flag(request, "showInput", False))
        except ValueError:
            return _json(400, {"Message": "top must be an integer"})
        except ClientError as exc:
            return _error(exc)
        headers = {CONTINUATION: _encode_token(more)} if more is not None else None
        return _json(200, statuses, headers)

    async def raise_event(self, request: web.Request) -> web.Response:
        try:
            data = await _body_json(request)
            self.runtime.raise_event(request.match_info["instanceId"], request.match_info["eventName"], data)
        except ClientError as exc:
            return _error(exc)
        return web.Response(status=202)

    async def terminate(self, request: web.Request) -> web.Response:
        try:
            self.runtime.terminate(request.match_info["instanceId"], request.query.get("reason"))
        except ClientError as exc:
            return _error(exc)
        return web.Response(status=202)

    async def purge(self, request: web.Request) -> web.Response:
        try:
            deleted = self.runtime.purge(request.match_info["instanceId"])
        except ClientError as exc:
            return _error(exc)
        return _json(200, {"instancesDeleted": deleted})

    async def purge_by(self, request: web.Request) -> web.Response:
        try:
            query = _query(request)
            if query.created_from is None:
                raise ClientError(400, "createdTimeFrom is required to purge instances by filter.")
            deleted = self.runtime.purge_by(query)
        except ClientError as exc:
            return _error(exc)
        if deleted == 0:
            return _json(404, {"instancesDeleted": 0})
        return _json(200, {"instancesDeleted": deleted})

    async def unsupported(self, request: web.Request) -> web.Response:
        operation = request.match_info["operation"]
        return _json(501, {"Message": f"devhost does not support '{operation}'."})


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ClientError(400, "Invalid continuation token.") from exc
    if offset < 0:
        raise ClientError(400, "Invalid continuation token.")
    return offset
