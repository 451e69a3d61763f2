"""The devhost composition root: settings → keys → the app's functions → the HTTP
server (HTTP triggers, Event Grid webhook, custom topics, admin API, Durable APIs)
→ the blob watcher; and a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from devhost.auth import authorized, unauthorized
from devhost.eventgrid_webhook import EventGridFunctions
from devhost.http_functions import HttpFunctions, build_routes
from devhost.indexing import (
    DURABLE_TRIGGERS,
    EVENTGRID_TRIGGER,
    HTTP_TRIGGER,
    FunctionInfo,
    import_function_app,
    index_functions,
)
from devhost.invocation import Invoker
from devhost.private_files import private_dir
from devhost.settings import ConfigError, Keys, env_float, env_int, load_keys, load_settings_file, read_route_prefix
from devhost.subscriptions import Subscription, load_subscriptions
from devhost.topics import Topics, TopicStore

if TYPE_CHECKING:
    from devhost.blob_state import WatcherState
    from devhost.blob_watcher import BlobWatcher
    from devhost.durable import DurableExtension

log = logging.getLogger("devhost")

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit


@dataclass(frozen=True)
class HostOptions:
    app_dir: Path
    port: int
    data_dir: Path
    settings: Path | None = None
    eventgrid_config: Path | None = None
    max_concurrent_activities: int = 4
    bind: str = "127.0.0.1"


class DevHost:
    def __init__(self, options: HostOptions) -> None:
        self.options = options
        # The URL clients (and the durable client's management URLs) use to reach devhost.
        public = "127.0.0.1" if options.bind in ("0.0.0.0", "::", "") else options.bind
        self.base_url = f"http://{public}:{options.port}"
        self.functions: list[FunctionInfo] = []
        self.keys: Keys | None = None
        self.durable: DurableExtension | None = None
        self.watcher: BlobWatcher | None = None
        self.watcher_state: WatcherState | None = None
        self.topic_store: TopicStore | None = None
        self.runner: web.AppRunner | None = None
        self.subscriptions: list[Subscription] = []
        self.executor = ThreadPoolExecutor(
            max_workers=env_int("PYTHON_THREADPOOL_THREAD_COUNT", min(32, (os.cpu_count() or 1) + 4)),
            thread_name_prefix="function")

    # --- loading (before the event loop serves) -------------------------------------------------
    def load(self) -> None:
        opts = self.options
        load_settings_file(opts.settings)
        private_dir(opts.data_dir)
        self.keys = load_keys(opts.data_dir)
        self.route_prefix = read_route_prefix(opts.app_dir)
        # The real worker runs with the app root as its working directory.
        os.chdir(opts.app_dir)
        self.functions = index_functions(import_function_app(opts.app_dir))
        self.routes = build_routes(self.functions)  # bad route templates fail here, before serving
        if opts.eventgrid_config is not None:
            self.subscriptions = load_subscriptions(opts.eventgrid_config)
            check_targets(self.subscriptions, self.functions)

    def needs_durable(self) -> bool:
        return any(f.trigger_type in DURABLE_TRIGGERS or f.durable_client_names for f in self.functions)

    # --- serving -----------------------------------------------------------------------------
    async def start(self) -> None:
        assert self.keys is not None
        keys, opts = self.keys, self.options
        if self.needs_durable():
            from devhost.durable import DurableExtension

            self.durable = DurableExtension([f.raw for f in self.functions], data_dir=opts.data_dir,
                                            base_url=self.base_url, system_key=keys.durabletask_system,
                                            master_key=keys.master,
                                            max_concurrent_activities=opts.max_concurrent_activities)
        invoker = Invoker(opts.app_dir, self.executor,
                          self.durable.client_binding_json if self.durable is not None else None)
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/admin/host/ping", self._ping)
        app.router.add_get("/admin/host/status", self._status)
        app.router.add_get("/admin/functions", self._functions)
        self.eventgrid = EventGridFunctions(self.functions, keys, invoker)
        self.eventgrid.add_routes(app)
        resource_prefix = (f"/subscriptions/{os.environ.get('DEVHOST_AZURE_SUBSCRIPTION_ID', _ZERO_ID)}"
                           f"/resourceGroups/{os.environ.get('DEVHOST_RESOURCE_GROUP', 'devhost')}")
        self.topic_store = TopicStore(opts.data_dir / "eventgrid-topics.sqlite")
        Topics(self.topic_store, keys, resource_prefix).add_routes(app)
        if self.durable is not None:
            self.durable.add_routes(app)
        self.http = HttpFunctions(self.routes, self.route_prefix, keys, invoker)
        # Last: the HTTP triggers. [\s\S] rather than '.': a decoded %0A must reach the
        # routing too (and get the host's 404), not aiohttp's own.
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.http.handle)

        # In-flight requests get a few seconds to finish when devhost stops (aiohttp waits twice).
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self.runner.setup()
        await web.TCPSite(self.runner, opts.bind, opts.port, reuse_address=True).start()
        if self.durable is not None:
            await self.durable.start()
        self.watcher = self._build_watcher()
        if self.watcher is not None:
            await self.watcher.start()
        self._print_banner()

    def _build_watcher(self) -> BlobWatcher | None:
        if not self.subscriptions:
            return None
        # Imported only when needed: the storage SDK is the slowest import of all.
        from devhost.blob_state import WatcherState
        from devhost.blob_watcher import BlobWatcher, WatcherOptions

        setting = os.environ.get("DEVHOST_BLOB_CONNECTION_SETTING", "AzureWebJobsStorage")
        connection = os.environ.get(setting, "").strip()
        if not connection:
            raise ConfigError(f"the event grid config has subscriptions, but the setting {setting!r} holds no "
                              "storage connection string for the blob watcher")
        existing = os.environ.get("DEVHOST_BLOB_EXISTING", "ignore").strip().lower()
        if existing not in ("ignore", "deliver"):
            raise ConfigError("DEVHOST_BLOB_EXISTING must be 'ignore' or 'deliver'")
        options = WatcherOptions(
            connection_string=connection,
            poll_interval=env_float("DEVHOST_BLOB_POLL_INTERVAL", 0.5, 0.01),
            max_attempts=env_int("DEVHOST_EVENTGRID_MAX_ATTEMPTS", 30),
            retry_base=env_float("DEVHOST_EVENTGRID_RETRY_SECONDS", 10.0),
            retry_max=env_float("DEVHOST_EVENTGRID_RETRY_MAX_SECONDS", 600.0),
            deliver_existing=existing == "deliver",
            azure_subscription_id=os.environ.get("DEVHOST_AZURE_SUBSCRIPTION_ID", _ZERO_ID),
            resource_group=os.environ.get("DEVHOST_RESOURCE_GROUP", "devhost"),
            request_log=Path(feed) if (feed := os.environ.get("DEVHOST_BLOB_REQUEST_LOG", "").strip()) else None,
            full_listing_interval=env_float("DEVHOST_BLOB_FULL_LISTING_SECONDS", 60.0, 0.1),
        )
        self.watcher_state = WatcherState(self.options.data_dir / "eventgrid.sqlite")
        return BlobWatcher(self.subscriptions, options, self.watcher_state, self.eventgrid.deliver,
                           self.options.data_dir / "deadletter")

    async def stop(self) -> None:
        started = time.monotonic()
        if self.watcher is not None:
            await self.watcher.stop()
        if self.durable is not None:
            await self.durable.stop()
        log.info("stop: watcher and durable runtime stopped after %.1fs", time.monotonic() - started)
        if self.runner is not None:
            await self.runner.cleanup()
        log.info("stop: HTTP server stopped after %.1fs", time.monotonic() - started)
        self.executor.shutdown(wait=False, cancel_futures=True)
        for store in (self.watcher_state, self.topic_store):
            if store is not None:
                store.close()

    # --- admin API ---------------------------------------------------------------------------
    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _status(self, request: web.Request) -> web.Response:
        assert self.keys is not None
        if not authorized(request, self.keys, "admin"):
            return unauthorized()
        body: dict[str, Any] = {"state": "Running", "functions": [f.summary() for f in self.functions]}
        if self.watcher_state is not None:
            body["eventGridDeliveries"] = self.watcher_state.counts()
        return web.json_response(body)

    async def _functions(self, request: web.Request) -> web.Response:
        assert self.keys is not None
        if not authorized(request, self.keys, "admin"):
            return unauthorized()
        return web.json_response([f.summary() for f in self.functions])

    # --- start-up output ---------------------------------------------------------------------
    def _print_banner(self) -> None:
        assert self.keys is not None
        url, keys = self.base_url, self.keys
        lines = [f"devhost: app {self.options.app_dir} ({len(self.functions)} functions), "
                 f"data dir {self.options.data_dir}", "Functions:"]
        for fn in self.functions:
            if fn.trigger_type == HTTP_TRIGGER:
                route = f"/{self.route_prefix}/{fn.route}" if self.route_prefix else f"/{fn.route}"
                lines.append(f"  {fn.name}: httpTrigger [{','.join(fn.methods)}] {url}{route} "
                             f"(authLevel {fn.auth_level})")
            elif fn.trigger_type == EVENTGRID_TRIGGER:
                lines.append(f"  {fn.name}: eventGridTrigger POST {url}/runtime/webhooks/eventgrid"
                             f"?functionName={fn.name}")
            else:
                lines.append(f"  {fn.name}: {fn.trigger_type}")
            if fn.unsupported:
                lines.append(f"    not runnable here: {'; '.join(fn.unsupported)} not supported")
        lines += [
            "Keys (DATA_DIR/keys.json unless set in the settings):",
            f"  function key (DEVHOST_FUNCTION_KEY): {keys.function}",
            f"  master key (DEVHOST_MASTER_KEY): {keys.master}",
            f"  Event Grid system key (DEVHOST_EVENTGRID_SYSTEM_KEY): {keys.eventgrid_system}",
            f"  Durable system key (DEVHOST_DURABLETASK_SYSTEM_KEY): {keys.durabletask_system}",
            f"Event Grid topics: POST {url}/eventgrid/topics/<topic>/api/events "
            f"(aeg-sas-key, DEVHOST_EVENTGRID_TOPIC_KEY): {keys.eventgrid_topic}",
        ]
        if self.watcher is not None:
            scopes = ", ".join(f"{c} ({', '.join(repr(p) for p in ps) if ps != [''] else 'all'})"
                               for c, ps in self.watcher.scopes.items())
            lines.append(f"Blob watcher: {self.watcher.cadence()} in {scopes}; "
                         f"subscriptions {', '.join(s.name + '→' + s.function_name for s in self.subscriptions)}")
        lines.append(f"devhost ready on {url}")
        print("\n".join(lines), flush=True)


_ZERO_ID = "00000000-0000-0000-0000-000000000000"


def check_targets(subscriptions: list[Subscription], functions: list[FunctionInfo]) -> None:
    names = {f.name.lower() for f in functions if f.trigger_type == EVENTGRID_TRIGGER}
    for sub in subscriptions:
        if sub.function_name.lower() not in names:
            raise ConfigError(f"subscription {sub.name!r}: the app has no Event Grid triggered "
                              f"function named {sub.function_name!r}")


async def serve(host: DevHost) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await host.start()
        await stop.wait()
        log.info("devhost stopping")
    finally:
        await host.stop()
    return 0


def run(options: HostOptions) -> int:
    logging.basicConfig(level=os.environ.get("DEVHOST_LOG_LEVEL", "INFO").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The SDKs log every HTTP request at INFO; the host's own lines are what matter here.
    logging.getLogger("azure").setLevel(logging.WARNING)
    host = DevHost(options)
    try:
        host.load()
        code = asyncio.run(serve(host))
    except ConfigError as exc:
        print(f"devhost: {exc}", file=sys.stderr, flush=True)
        return 2
    deadline = time.monotonic() + 1.0
    for thread in threading.enumerate():
        if thread is not threading.main_thread():
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    if stuck:
        # A sync function still running would keep the interpreter from exiting; the
        # Functions host does not wait for it either.
        log.warning("devhost exiting with function threads still running: %s", ", ".join(stuck))
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    return code
