"""The Batch REST test server's job control, node scheduling and task file operations
(Batch REST API 2025-06-01), added to its router by `add_routes`.

- POST /jobs/{job}/disable  {"disableTasks": requeue|terminate|wait}  → 202
- POST /jobs/{job}/enable                                           → 202
- POST /pools/{pool}/nodes/{node}/disablescheduling
       {"nodeDisableSchedulingOption": requeue|terminate|taskcompletion} → 200
- POST /pools/{pool}/nodes/{node}/enablescheduling                  → 200
- HEAD /jobs/{job}/tasks/{task}/files/{path}: the file's properties in ocp- headers
- GET  the same: its content, or the `ocp-range: bytes=a-b` part of it (200, as Batch)

Errors are Batch's: 409 for a job or node in the wrong state (with the codes the
service uses), 404 JobNotFound/TaskNotFound/FileNotFound/PoolNotFound/NodeNotFound,
416 InvalidRange, and 409 OperationInvalidForCurrentState for the files of a task
that has not run on a node yet.
"""

from __future__ import annotations

import re
from email.utils import format_datetime
from functools import partial
from typing import TYPE_CHECKING

from aiohttp import web

from tests.batchrest import shapes
from tests.batchrest.errors import BatchError, refuse_ended_job
from tests.batchrest.nodes import Node
from tests.batchrest.simulation import complete, now, requeue

if TYPE_CHECKING:
    from tests.batchrest.server import BatchRestServer

_RANGE = re.compile(r"^bytes=(\d+)-(\d+)?$")


def add_routes(router: web.UrlDispatcher, server: BatchRestServer) -> None:
    files = "/jobs/{job}/tasks/{task}/files/{path:.+}"
    router.add_post("/jobs/{job}/disable", partial(_disable_job, server))
    router.add_post("/jobs/{job}/enable", partial(_enable_job, server))
    router.add_post("/pools/{pool}/nodes/{node}/disablescheduling", partial(_disable_scheduling, server))
    router.add_post("/pools/{pool}/nodes/{node}/enablescheduling", partial(_enable_scheduling, server))
    router.add_route("HEAD", files, partial(_task_file, server, head=True))
    router.add_get(files, partial(_task_file, server, head=False), allow_head=False)


# -- jobs -----------------------------------------------------------------------


async def _disable_job(server: BatchRestServer, request: web.Request) -> web.Response:
    data = server.json_body(request, shapes.JOB_DISABLE)
    with server.store.lock:
        job = server.find_job(request)
        refuse_ended_job(job.state)
        if job.state not in ("active", "disabling", "disabled"):
            raise BatchError(409, "JobNotActive", "The specified job is not in active state.")
        job.disable(data["disableTasks"], now())
        job.etag = server.store.next_etag()
        job.advance(now())
    return web.Response(status=202, headers=server.job_headers(job.etag, f"/jobs/{job.id}"))


async def _enable_job(server: BatchRestServer, request: web.Request) -> web.Response:
    with server.store.lock:
        job = server.find_job(request)
        refuse_ended_job(job.state)
        if job.state not in ("disabled", "enabling"):
            raise BatchError(409, "OperationInvalidForCurrentState",
                             "The specified operation is not valid for the current state of the resource.",
                             {"Reason": f"The job is {job.state}, not disabled"})
        job.enable(now())
        job.etag = server.store.next_etag()
    return web.Response(status=202, headers=server.job_headers(job.etag, f"/jobs/{job.id}"))


# -- nodes ----------------------------------------------------------------------


def _node(server: BatchRestServer, request: web.Request) -> Node:
    pool = server.store.pools.get(request.match_info["pool"])
    if pool is None:
        raise BatchError(404, "PoolNotFound", "The specified pool does not exist.")
    node = pool.nodes.get(request.match_info["node"])
    if node is None:
        raise BatchError(404, "NodeNotFound", "The specified node does not exist.")
    return node


def _already(node: Node, state: str) -> None:
    if node.scheduling == state:
        raise BatchError(409, "NodeAlreadyInTargetSchedulingState",
                         "The specified node is already in the target scheduling state.")


async def _disable_scheduling(server: BatchRestServer, request: web.Request) -> web.Response:
    data = server.json_body(request, shapes.NODE_DISABLE_SCHEDULING, optional=True)
    option = data.get("nodeDisableSchedulingOption") or "requeue"  # the service's default
    with server.store.lock:
        node = _node(server, request)
        _already(node, "disabled")
        node.scheduling = "disabled"
        moment = now()
        for job in server.store.jobs.values():
            for task in job.running():
                if task.node is not node or option == "taskcompletion":
                    continue
                if option == "requeue":
                    requeue(task, moment)
                else:
                    complete(task, moment, None, ("TaskEnded", "The task was ended by a node scheduling change"))
                    job.unfinished.pop(task.id, None)
    return web.Response(status=200, headers={"DataServiceId": f"{server.url}{request.path}"})


async def _enable_scheduling(server: BatchRestServer, request: web.Request) -> web.Response:
    with server.store.lock:
        node = _node(server, request)
        _already(node, "enabled")
        node.scheduling = "enabled"
    return web.Response(status=200, headers={"DataServiceId": f"{server.url}{request.path}"})


# -- task files -----------------------------------------------------------------


async def _task_file(server: BatchRestServer, request: web.Request, *, head: bool) -> web.Response:
    path = request.match_info["path"]
    with server.store.lock:
        job = server.find_job(request)
        task = job.tasks.get(request.match_info["task"])
        if task is None:
            raise BatchError(404, "TaskNotFound", "The specified task does not exist.")
        if task.node is None:
            raise BatchError(409, "OperationInvalidForCurrentState",
                             "The specified operation is not valid for the current state of the resource.",
                             {"Reason": "The files of the specified task cannot be accessed as the task state "
                                        "is still active"})
        content = task.files.get(path)
        is_directory = content is None and any(name.startswith(path.rstrip("/") + "/") for name in task.files)
        if content is None and not is_directory:
            raise BatchError(404, "FileNotFound", "The specified file does not exist.")
        created = task.start or task.created
    data = content or b""
    moment = format_datetime(created, usegmt=True)
    headers = {
        "ocp-batch-file-url": f"{server.url}/jobs/{job.id}/tasks/{task.id}/files/{path}",
        "ocp-batch-file-isdirectory": "True" if is_directory else "False",
        "ocp-batch-file-mode": "0o40755" if is_directory else "0o100644",
        "ocp-creation-time": moment, "Last-Modified": format_datetime(now(), usegmt=True),
        "Content-Type": "application/octet-stream",
    }
    if head:
        headers["Content-Length"] = str(len(data))
        return web.Response(status=200, headers=headers)
    wanted = request.headers.get("ocp-range")
    if wanted is not None:
        match = _RANGE.match(wanted)
        start = int(match.group(1)) if match else -1
        end = min(int(match.group(2)) if match and match.group(2) else len(data) - 1, len(data) - 1)
        if not match or start >= len(data) or start > end:
            raise BatchError(416, "InvalidRange", "The range specified is invalid for the current size of "
                             "the resource.", {"Range": wanted})
        data = data[start:end + 1]
    return web.Response(status=200, body=data, headers=headers)
