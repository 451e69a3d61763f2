"""POST /runtime/webhooks/eventgrid?functionName=NAME: the Event Grid extension's
endpoint. It answers the subscription validation handshake (and the CloudEvents
OPTIONS abuse-protection check) and invokes the function once per event."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from devhost.auth import authorized, unauthorized
from devhost.eventgrid_schema import VALIDATION_EVENT, PayloadError, parse_events, to_binding, wants_cloud_event
from devhost.indexing import EVENTGRID_TRIGGER, FunctionInfo
from devhost.invocation import Invoker
from devhost.settings import Keys

log = logging.getLogger("devhost")


class EventGridFunctions:
    def __init__(self, functions: list[FunctionInfo], keys: Keys, invoker: Invoker) -> None:
        self.functions = {f.name.lower(): f for f in functions if f.trigger_type == EVENTGRID_TRIGGER}
        self.keys = keys
        self.invoker = invoker

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/runtime/webhooks/eventgrid", self.handle)
        app.router.add_route("OPTIONS", "/runtime/webhooks/eventgrid", self.handle_options)

    def find(self, name: str) -> FunctionInfo | None:
        return self.functions.get(name.lower())

    async def deliver(self, function_name: str, event: dict[str, Any], schema: str = "eventgrid") -> None:
        """Invoke the function with one event; raises what the function raised."""
        fn = self.find(function_name)
        if fn is None:
            raise LookupError(f"no Event Grid function named {function_name!r}")
        if fn.unsupported:
            raise RuntimeError(f"devhost cannot run {fn.name}: " + "; ".join(fn.unsupported))
        binding = to_binding(event, schema, wants_cloud_event(fn.callable, fn.trigger_name))
        await self.invoker.invoke(fn, binding, reason=f"EventGrid trigger fired (id={event.get('id')})")

    async def handle_options(self, request: web.Request) -> web.Response:
        if not authorized(request, self.keys, "system"):
            return unauthorized()
        origin = request.headers.get("WebHook-Request-Origin", "*")
        return web.Response(status=200, headers={"WebHook-Allowed-Origin": origin,
                                                 "WebHook-Allowed-Rate": "*", "Allow": "POST, OPTIONS"})

    async def handle(self, request: web.Request) -> web.Response:
        if not authorized(request, self.keys, "system"):
            return unauthorized()
        name = request.query.get("functionName", "")
        if not name:
            return web.json_response({"error": "the functionName query parameter is required"}, status=400)
        fn = self.find(name)
        if fn is None:
            return web.json_response({"error": f"no Event Grid triggered function named {name!r}"}, status=404)
        kind = request.headers.get("aeg-event-type", "")
        if kind.lower() == "unsubscribe":
            return web.Response(status=202)
        try:
            schema, events = parse_events(await request.read(), request.headers.get("content-type", ""))
        except PayloadError as exc:
            return web.json_response({"error": f"malformed Event Grid payload: {exc}"}, status=400)
        validation = [e for e in events if e.get("eventType") == VALIDATION_EVENT]
        if kind.lower() == "subscriptionvalidation" or validation:
            code = (validation[0].get("data") or {}).get("validationCode") if validation else None
            if not isinstance(code, str) or not code:
                return web.json_response({"error": "a SubscriptionValidationEvent with data.validationCode "
                                          "is required"}, status=400)
            log.info("Answered the subscription validation handshake for %s", fn.name)
            return web.json_response({"validationResponse": code})
        for event in events:
            try:
                await self.deliver(fn.name, event, schema)
            except Exception as exc:
                # Event Grid retries the delivery on any 5xx.
                return web.json_response({"error": f"Functions.{fn.name} failed for event {event.get('id')}: "
                                          f"{type(exc).__name__}"}, status=500)
        return web.Response(status=202)
