"""A local HTTP server that answers the Azure Batch data-plane REST API (2025-06-01).

Enough of it to test shared.adapters.azure_batch_backend for real, over HTTP,
with the real azure-batch SDK: jobs (create, get, update, terminate), task
collections, tasks (list with paging and $select, get) and task counts here;
job disable/enable, node scheduling and task files in server_control.py. Each
request is checked as the service would check it (api-version, an Authorization
header, content type, the JSON body's REST shape) and answered with the
service's status codes, headers and error bodies. Tasks "run" by simulation
(tests/batchrest/simulation.py). Every request is recorded, so tests and
benchmarks can count requests, their sizes and how many overlapped.

Start it with `BatchRestServer().start()` or `running_server()` (a background
thread with its own event loop, on a free port) and `stop()` it; tests use the
`batch_server` fixture, `python -m tests.batchrest.server` serves by hand.
Test controls: `fail_next` (error answers), `fail_next_tasks` (per-task server
errors), `delay` (hold requests so overlap shows), `records()`, `job()`,
`nodes()` (a pool's simulated nodes), `write_task_file()` (what a task wrote).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from stack.services import free_port
from tests.batchrest import auth as shared_key
from tests.batchrest import server_control, shapes
from tests.batchrest.errors import BatchError, refuse_ended_job
from tests.batchrest.nodes import Node
from tests.batchrest.simulation import Job, Store, Task, iso, now

API_VERSION = "2025-06-01"
MAX_TASKS_PER_COLLECTION = 100
MAX_BODY_BYTES = 1024 * 1024
PAGE_SIZE = 1000  # Batch's default and maximum for list operations
JSON_ODATA = "application/json;odata=minimalmetadata"


BODY = web.RequestKey("body", bytes)
TASK_COUNT = web.RequestKey("task_count", int)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_STATE_FILTER = re.compile(r"^state eq '(active|preparing|running|completed)'$")


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    size: int              # request body bytes
    task_count: int | None  # tasks in an addtaskcollection body
    status: int
    started: float         # time.monotonic()
    finished: float
    in_flight: int         # requests being handled when this one arrived, itself included
    body: bytes = b""       # the request body as sent
    headers: tuple[tuple[str, str], ...] = ()  # the request headers as sent


@dataclass
class Fault:
    remaining: int
    status: int
    code: str
    path_contains: str | None


class BatchRestServer:
    def __init__(self, *, account: str = "testaccount", key: str | None = shared_key.TEST_KEY,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        """`key`: the account key Shared Key signatures are checked with (None: not checked)."""
        self.account = account
        self.key = key
        self.max_body_bytes = max_body_bytes
        self.store = Store()
        self.port = 0
        self._records: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._delays: dict[str, float] = {}
        self._task_faults = 0
        self._in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- controls for tests -------------------------------------------------

    def fail_next(self, count: int, *, status: int = 503, code: str = "ServerBusy",
                  path_contains: str | None = None) -> None:
        """Answer the next `count` requests (whose path contains `path_contains`) with an error."""
        with self.store.lock:
            self._faults.append(Fault(count, status, code, path_contains))

    def fail_next_tasks(self, count: int) -> None:
        """Answer the next `count` tasks of task collections with a per-task server error."""
        with self.store.lock:
            self._task_faults += count

    def delay(self, path_suffix: str, seconds: float) -> None:
        """Hold requests whose path ends with `path_suffix` this long (to make overlap visible)."""
        self._delays[path_suffix] = seconds

    def records(self) -> list[RequestRecord]:
        with self.store.lock:
            return list(self._records)

    def clear_records(self) -> None:
        with self.store.lock:
            self._records.clear()

    def job(self, job_id: str) -> Job:
        with self.store.lock:
            return self.store.jobs[job_id]

    def task_body(self, job_id: str, task_id: str) -> dict[str, Any]:
        with self.store.lock:
            return dict(self.store.jobs[job_id].tasks[task_id].body)

    def nodes(self, pool_id: str) -> list[Node]:
        """The pool's nodes (the pool exists once a job names it, or from this call on)."""
        with self.store.lock:
            return list(self.store.pool(pool_id).nodes.values())

    def write_task_file(self, job_id: str, task_id: str, path: str, data: bytes) -> None:
        """As if the task had written `path` (relative to its directory) on its node."""
        with self.store.lock:
            self.store.jobs[job_id].tasks[task_id].files[path] = data

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> BatchRestServer:
        self.port = free_port()
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to start(), which raises it
                errors.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="batchrest", daemon=True)
        self._thread.start()
        started.wait(10)
        if errors:
            raise RuntimeError(f"Batch REST test server did not start: {errors[0]}")
        return self

    async def _serve(self) -> None:
        # a larger client_max_size than Batch allows, so oversize bodies get Batch's own 413
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        app.router.add_post("/jobs", self._create_job)
        app.router.add_get("/jobs/{job}", self._get_job)
        app.router.add_patch("/jobs/{job}", self._update_job)
        app.router.add_post("/jobs/{job}/terminate", self._terminate_job)
        app.router.add_post("/jobs/{job}/addtaskcollection", self._add_collection)
        app.router.add_get("/jobs/{job}/tasks", self._list_tasks)
        app.router.add_get("/jobs/{job}/tasks/{task}", self._get_task)
        app.router.add_get("/jobs/{job}/taskcounts", self._task_counts)
        server_control.add_routes(app.router, self)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # -- request checks, faults and recording -----------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        body = await request.read()
        self._in_flight += 1
        in_flight = self._in_flight
        task_count: int | None = None
        try:
            self._check_request(request, body)
            self._inject_fault(request.path)
            for suffix, seconds in self._delays.items():
                if request.path.endswith(suffix):
                    await asyncio.sleep(seconds)
            request[BODY] = body
            response = await handler(request)
            task_count = request.get(TASK_COUNT)
        except BatchError as exc:
            response = self._error(exc)
        except web.HTTPNotFound:
            response = self._error(BatchError(404, "InvalidUri", f"No such operation: {request.path}"))
        except web.HTTPMethodNotAllowed:
            response = self._error(BatchError(405, "UnsupportedHttpVerb", f"{request.method} {request.path}"))
        finally:
            self._in_flight -= 1
        response.headers["request-id"] = str(uuid.uuid4())
        if "client-request-id" in request.headers:
            response.headers["client-request-id"] = request.headers["client-request-id"]
        with self.store.lock:
            self._records.append(RequestRecord(
                request.method, request.path, dict(request.query), len(body),
                task_count if task_count is not None else request.get(TASK_COUNT),
                response.status, started, time.monotonic(), in_flight, body, tuple(request.headers.items())))
        return response

    def _check_request(self, request: web.Request, body: bytes) -> None:
        version = request.query.get("api-version")
        if version is None:
            raise BatchError(400, "MissingRequiredQueryParameter", "api-version is required",
                             {"QueryParameterName": "api-version"})
        if version != API_VERSION:
            raise BatchError(400, "InvalidQueryParameterValue", f"unsupported api-version {version}",
                             {"QueryParameterName": "api-version", "QueryParameterValue": version})
        auth = request.headers.get("Authorization", "")
        if not (auth.startswith(f"SharedKey {self.account}:") or auth.startswith("Bearer ")):
            raise BatchError(401, "AuthenticationFailed", "missing or malformed Authorization header")
        if auth.startswith("SharedKey") and self.key is not None and not shared_key.valid(
                auth, method=request.method, path=request.raw_path.split("?", 1)[0],
                query=request.query_string, headers=request.headers, account=self.account, key=self.key):
            raise BatchError(403, "AuthenticationFailed", "the Shared Key signature does not match",
                             {"AuthenticationErrorDetail": "signature mismatch"})
        if request.method in ("POST", "PATCH") and body:
            content_type = request.headers.get("Content-Type", "")
            if not content_type.startswith("application/json"):
                raise BatchError(400, "InvalidHeaderValue", f"Content-Type {content_type!r}",
                                 {"HeaderName": "Content-Type"})

    def _inject_fault(self, path: str) -> None:
        with self.store.lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.path_contains is None or fault.path_contains in path):
                    fault.remaining -= 1
                    raise BatchError(fault.status, fault.code, "Injected fault")

    def _error(self, exc: BatchError) -> web.Response:
        body: dict[str, Any] = {
            "odata.metadata": f"{self.url}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors"
                              "/@Element",
            "code": exc.code,
            "message": {"lang": "en-US",
                        "value": f"{exc.message}\nRequestId:{uuid.uuid4()}\nTime:{now().isoformat()}"},
        }
        if exc.values:
            body["values"] = [{"key": k, "value": v} for k, v in exc.values.items()]
        return web.Response(status=exc.status, text=json.dumps(body), headers={"Content-Type": JSON_ODATA})

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def json_body(request: web.Request, shape: shapes.Shape | None, *, optional: bool = False) -> dict[str, Any]:
        raw: bytes = request[BODY]
        if not raw and optional:
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise BatchError(400, "InvalidRequestBody", f"body is not JSON: {exc}") from exc
        if shape is not None:
            try:
                shapes.check(data, shape)
            except shapes.ShapeError as exc:
                raise BatchError(400, "InvalidRequestBody", str(exc),
                                 {"PropertyName": exc.path, "Reason": exc.reason}) from exc
        return data

    def find_job(self, request: web.Request) -> Job:
        job = self.store.jobs.get(request.match_info["job"])
        if job is None:
            raise BatchError(404, "JobNotFound", "The specified job does not exist.")
        job.advance(now())
        return job

    def job_headers(self, etag: str, path: str) -> dict[str, str]:
        return {"ETag": etag, "Last-Modified": format_datetime(now(), usegmt=True),
                "DataServiceId": f"{self.url}{path}"}

    @staticmethod
    def _ok(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=status, text=json.dumps(data), headers={**(headers or {}),
                            "Content-Type": JSON_ODATA})

    # -- jobs -------------------------------------------------------------------

    async def _create_job(self, request: web.Request) -> web.Response:
        data = self.json_body(request, shapes.JOB)
        with self.store.lock:
            if data["id"].lower() in {j.lower() for j in self.store.jobs}:  # ids are case-insensitive
                raise BatchError(409, "JobExists", "The specified job already exists.")
            priority = data.get("priority", 0)
            if not -1000 <= priority <= 1000:
                raise BatchError(400, "InvalidPropertyValue", "priority out of range",
                                 {"PropertyName": "priority"})
            job = Job(body=data, created=now(), etag=self.store.next_etag(),
                      pool=self.store.pool(data["poolInfo"].get("poolId") or ""))
            self.store.jobs[job.id] = job
        headers = self.job_headers(job.etag, f"/jobs/{job.id}")
        headers["Location"] = headers["DataServiceId"]
        return web.Response(status=201, headers=headers)

    async def _get_job(self, request: web.Request) -> web.Response:
        select = _fields(request)
        with self.store.lock:
            job = self.find_job(request)
            data = _select(job.to_json(self.url), select)
        data["odata.metadata"] = f"{self.url}/$metadata#jobs/@Element"
        return self._ok(data, headers={"ETag": job.etag,
                                       "Last-Modified": format_datetime(now(), usegmt=True)})

    async def _update_job(self, request: web.Request) -> web.Response:
        data = self.json_body(request, shapes.JOB_UPDATE)
        if not -1000 <= data.get("priority", 0) <= 1000:
            raise BatchError(400, "InvalidPropertyValue", "priority out of range", {"PropertyName": "priority"})
        with self.store.lock:
            job = self.find_job(request)
            if job.state in ("completed", "terminating"):
                raise BatchError(409, "JobCompleted", "The specified job is already in a completed state.")
            job.body.update(data)
            job.etag = self.store.next_etag()
            job.advance(now())
        return web.Response(status=200, headers=self.job_headers(job.etag, f"/jobs/{job.id}"))

    async def _terminate_job(self, request: web.Request) -> web.Response:
        data = self.json_body(request, shapes.JOB_TERMINATE, optional=True)
        with self.store.lock:
            job = self.find_job(request)
            refuse_ended_job(job.state)
            job.terminate(data.get("terminateReason") or "UserTerminate", now())
            job.etag = self.store.next_etag()
        return web.Response(status=202, headers=self.job_headers(job.etag, f"/jobs/{job.id}"))

    # -- tasks ------------------------------------------------------------------

    async def _add_collection(self, request: web.Request) -> web.Response:
        raw: bytes = request[BODY]
        if len(raw) >= self.max_body_bytes:
            raise BatchError(413, "RequestBodyTooLarge", "The request body is too large.",
                             {"MaxMessageSize": str(self.max_body_bytes)})
        data = self.json_body(request, shapes.TASK_COLLECTION)
        tasks = data["value"]
        request[TASK_COUNT] = len(tasks)
        if len(tasks) > MAX_TASKS_PER_COLLECTION:
            raise BatchError(413, "RequestBodyTooLarge", f"{len(tasks)} tasks; at most 100 per request")
        for i, task in enumerate(tasks):
            for j, resource in enumerate(task.get("resourceFiles") or []):
                try:
                    shapes.check_resource_file(resource, f"value[{i}].resourceFiles[{j}]")
                except shapes.ShapeError as exc:
                    raise BatchError(400, "InvalidRequestBody", str(exc), {"PropertyName": exc.path}) from exc
        with self.store.lock:
            job = self.find_job(request)
            if job.state not in ("active", "disabling", "disabled", "enabling"):  # a disabled job takes tasks
                raise BatchError(409, "JobCompleted", "The specified job is already in a completed state.")
            results = [self._add_one(job, task) for task in tasks]
        return self._ok({"odata.metadata": f"{self.url}/$metadata#taskaddresult", "value": results})

    def _add_one(self, job: Job, body: dict[str, Any]) -> dict[str, Any]:
        task_id = body["id"]
        if self._task_faults > 0:
            self._task_faults -= 1
            return {"status": "servererror", "taskId": task_id,
                    "error": {"code": "ServerBusy", "message": {"lang": "en-US", "value": "Injected fault"}}}
        if task_id.lower() in job.lower_ids:  # ids are case-insensitive within a job
            return self._client_error(task_id, "TaskExists", "The specified task already exists.")
        if body.get("dependsOn") and not job.body.get("usesTaskDependencies"):
            return self._client_error(task_id, "TaskDependenciesNotSpecifiedOnJob",
                                      "The job does not use task dependencies.")
        task = Task(body=body, created=now(), etag=self.store.next_etag())
        job.add(task)
        return {"status": "success", "taskId": task_id, "eTag": task.etag,
                "lastModified": iso(task.created),
                "location": f"{self.url}/jobs/{job.id}/tasks/{task_id}"}

    @staticmethod
    def _client_error(task_id: str, code: str, message: str) -> dict[str, Any]:
        return {"status": "clienterror", "taskId": task_id,
                "error": {"code": code, "message": {"lang": "en-US", "value": message}}}

    async def _list_tasks(self, request: web.Request) -> web.Response:
        select = _fields(request)
        wanted_state = None
        if "$filter" in request.query:
            match = _STATE_FILTER.match(request.query["$filter"])
            if match is None:  # only the filter the adapter uses is understood here
                raise BatchError(400, "InvalidQueryParameterValue", "unsupported $filter",
                                 {"QueryParameterName": "$filter"})
            wanted_state = match.group(1)
        try:
            top = min(int(request.query.get("maxresults", PAGE_SIZE)), PAGE_SIZE)
            skip = int(request.query.get("$skiptoken", "0"))
        except ValueError as exc:
            raise BatchError(400, "InvalidQueryParameterValue", str(exc)) from exc
        with self.store.lock:
            job = self.find_job(request)
            matching = [t for t in job.tasks.values() if wanted_state in (None, t.state)]
            page = [_select(t.to_json(self.url, job.id), select) for t in matching[skip:skip + top]]
            more = skip + top < len(matching)
        data: dict[str, Any] = {"odata.metadata": f"{self.url}/$metadata#tasks", "value": page}
        if more:
            data["odata.nextLink"] = (f"{self.url}/jobs/{job.id}/tasks?api-version={API_VERSION}"
                                      f"&maxresults={top}&$skiptoken={skip + top}"
                                      + (f"&$select={','.join(select)}" if select else "")
                                      + (f"&$filter={request.query['$filter']}" if wanted_state else ""))
        return self._ok(data)

    async def _get_task(self, request: web.Request) -> web.Response:
        select = _fields(request)
        with self.store.lock:
            job = self.find_job(request)
            task = job.tasks.get(request.match_info["task"])
            if task is None:
                raise BatchError(404, "TaskNotFound", "The specified task does not exist.")
            data = _select(task.to_json(self.url, job.id), select)
        data["odata.metadata"] = f"{self.url}/$metadata#tasks/@Element"
        return self._ok(data, headers={"ETag": task.etag,
                                       "Last-Modified": format_datetime(now(), usegmt=True)})

    async def _task_counts(self, request: web.Request) -> web.Response:
        with self.store.lock:
            counts = self.find_job(request).counts()
        return self._ok({"odata.metadata": f"{self.url}/$metadata#taskcountsresult/@Element",
                         "taskCounts": counts, "taskSlotCounts": dict(counts)})


def _select(data: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in fields} if fields else data


def _fields(request: web.Request) -> list[str]:
    return [f for f in request.query.get("$select", "").split(",") if f]


@contextmanager
def running_server(**options: Any) -> Iterator[BatchRestServer]:
    """A started server, stopped on exit."""
    server = BatchRestServer(**options).start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    """`python -m tests.batchrest.server`: serve until interrupted (for benchmarks by hand)."""
    with running_server() as server:
        print(f"Batch REST test server at {server.url} (account {server.account!r}); Ctrl-C stops it",
              flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
