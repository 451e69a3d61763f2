"""The JSON REST API, shaped after the parts of Batch's REST API the pipeline uses.

    POST  /jobs                      {"id", "priority"}   -> 201 created | 200 existed
    GET   /jobs/{job}                                     -> job
    PATCH /jobs/{job}                {"priority"}         -> job
    POST  /jobs/{job}/terminate                           -> 202 job
    POST  /jobs/{job}/disable        {"disableTasks": "requeue"|"wait"} -> 202 job
    POST  /jobs/{job}/enable                              -> 202 job
    POST  /jobs/{job}/tasks          {"tasks": [TaskSpec JSON]} -> {"added": [...], "existing": [...]}
    GET   /jobs/{job}/tasks                               -> {"tasks": [TaskState JSON + nodeInfo]}
    GET   /jobs/{job}/tasks/{task}                        -> TaskState JSON + nodeInfo, spec, workingDir
    GET   /jobs/{job}/tasks/{task}/files/{path}?tailBytes=N -> the file's last N bytes
    GET   /jobs/{job}/taskcounts                          -> TaskCounts JSON
    GET   /nodes                                          -> {"nodes": [node]}
    GET   /nodes/{node}                                   -> node
    POST  /nodes/{node}/disablescheduling {"reason"}      -> node
    POST  /nodes/{node}/enablescheduling                  -> node
    GET   /health                                         -> {"status": "ok", "node": node, ...}

Every request needs the `x-localbatch-key` header (401 without it) and bodies must be
application/json (415 otherwise); see auth.py. Errors are
{"error": {"code", "message", "field"?}} with 400, 401, 404, 409, 415 or 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from localbatch.auth import require_key
from localbatch.scheduler import Scheduler
from localbatch.specs import (
    check_disable_mode,
    check_id,
    check_node_id,
    check_priority,
    check_reason,
    check_tail_bytes,
    check_task_file_path,
    parse_tasks,
)
from localbatch.store import Store
from localbatch.taskfiles import read_tail
from shared.errors import ConflictError, NotFoundError, PipelineError, ValidationError
from shared.tasks import TaskState

log = logging.getLogger("localbatch.api")

MAX_BODY = 16 * 1024 * 1024
FILE_SIZE_HEADER = "x-localbatch-file-size"  # the whole file's size beside the tail that was read
STORE: web.AppKey[Store] = web.AppKey("store", Store)
SCHEDULER: web.AppKey[Scheduler] = web.AppKey("scheduler", Scheduler)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, error: PipelineError) -> web.Response:
    return web.json_response({"error": error.to_json()}, status=status)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ValidationError as exc:
        return _error(400, exc)
    except NotFoundError as exc:
        return _error(404, exc)
    except ConflictError as exc:
        return _error(409, exc)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("request %s %s failed", request.method, request.path)
        return _error(500, PipelineError("localbatch internal error"))


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"body is not valid JSON: {exc}") from exc


def _job_id(request: web.Request) -> str:
    return check_id(request.match_info["job"], "jobId")


def _task_id(request: web.Request) -> str:
    return check_id(request.match_info["task"], "taskId")


async def create_job(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, dict):
        raise ValidationError("body must be {\"id\", \"priority\"}")
    job, created = request.app[STORE].create_job(check_id(body.get("id"), "id"),
                                                 check_priority(body.get("priority")))
    return web.json_response(job, status=201 if created else 200)


async def get_job(request: web.Request) -> web.Response:
    return web.json_response(request.app[STORE].get_job(_job_id(request)))


def _object(body: Any, allowed: set[str], shape: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError(f"body must be {shape}")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; the body is {shape}", field=unknown[0])
    return body


async def update_job(request: web.Request) -> web.Response:
    """Batch's Update Job, for the one property that can change: the priority."""
    job_id = _job_id(request)
    body = _object(await _body(request), {"priority"}, '{"priority"}')
    if "priority" not in body:
        raise ValidationError("priority is required", field="priority")
    request.app[STORE].set_priority(job_id, check_priority(body["priority"]))
    request.app[SCHEDULER].wake()
    return web.json_response(request.app[STORE].get_job(job_id))


async def disable_job(request: web.Request) -> web.Response:
    job_id = _job_id(request)
    body = _object(await _body(request), {"disableTasks"}, '{"disableTasks": "requeue" | "wait"}')
    request.app[SCHEDULER].disable(job_id, check_disable_mode(body.get("disableTasks")))
    return web.json_response(request.app[STORE].get_job(job_id), status=202)


async def enable_job(request: web.Request) -> web.Response:
    job_id = _job_id(request)
    request.app[SCHEDULER].enable(job_id)
    return web.json_response(request.app[STORE].get_job(job_id), status=202)


async def terminate_job(request: web.Request) -> web.Response:
    request.app[SCHEDULER].terminate(_job_id(request))
    return web.json_response(request.app[STORE].get_job(_job_id(request)), status=202)


async def add_tasks(request: web.Request) -> web.Response:
    job_id = _job_id(request)
    request.app[STORE].get_job(job_id)  # an unknown job is a 404 even with a malformed body
    specs = parse_tasks(await _body(request))
    added, existing = request.app[STORE].add_tasks(job_id, specs)
    request.app[SCHEDULER].wake()
    return web.json_response({"added": added, "existing": existing})


def _task_json(state: TaskState, categories: dict[str, str], nodes: dict[str, str]) -> dict[str, Any]:
    """TaskState JSON, plus Batch's failureInfo (category and message) when the task failed
    and its nodeInfo once it has run on a node."""
    data = state.to_json()
    if state.id in categories and state.failure:
        data["failureInfo"] = {"category": categories[state.id], "message": state.failure}
    if state.id in nodes:
        data["nodeInfo"] = {"nodeId": nodes[state.id]}
    return data


async def list_tasks(request: web.Request) -> web.Response:
    job_id, store = _job_id(request), request.app[STORE]
    states = store.list_tasks(job_id)
    categories, nodes = store.failure_categories(job_id), store.task_nodes(job_id)
    return web.json_response({"tasks": [_task_json(s, categories, nodes) for s in states]})


async def get_task(request: web.Request) -> web.Response:
    job_id, task_id, store = _job_id(request), _task_id(request), request.app[STORE]
    state, spec = store.get_task(job_id, task_id)
    workdir = request.app[SCHEDULER].node.workdir(job_id, task_id)
    return web.json_response({**_task_json(state, store.failure_categories(job_id), store.task_nodes(job_id)),
                              "spec": spec.to_json(), "workingDir": str(workdir)})


async def get_task_file(request: web.Request) -> web.Response:
    """Batch's Get Task File with a tail range: while the task runs and after, until its
    directory is cleaned up (404 then, as before it first ran)."""
    job_id, task_id = _job_id(request), _task_id(request)
    parts = check_task_file_path(request.match_info["path"])
    tail_bytes = check_tail_bytes(request.query.get("tailBytes"))
    request.app[STORE].get_task(job_id, task_id)  # an unknown job or task is a 404 of its own
    task_dir = request.app[SCHEDULER].node.task_dir(job_id, task_id)
    tail = await asyncio.to_thread(read_tail, task_dir, parts, tail_bytes)
    return web.Response(body=tail.data, content_type="application/octet-stream",
                        headers={FILE_SIZE_HEADER: str(tail.size)})


async def task_counts(request: web.Request) -> web.Response:
    return web.json_response(request.app[STORE].counts(_job_id(request)).to_json())


def _node_id(request: web.Request) -> str:
    node_id = check_node_id(request.match_info["node"])
    if node_id != request.app[SCHEDULER].node.node_id:
        raise NotFoundError(f"node {node_id} not found; this pool's one node is "
                            f"{request.app[SCHEDULER].node.node_id}")
    return node_id


async def list_nodes(request: web.Request) -> web.Response:
    return web.json_response({"nodes": [request.app[STORE].node(request.app[SCHEDULER].node.node_id)]})


async def get_node(request: web.Request) -> web.Response:
    return web.json_response(request.app[STORE].node(_node_id(request)))


async def disable_scheduling(request: web.Request) -> web.Response:
    """Batch's `taskcompletion` option: running tasks finish, no new task starts here."""
    node_id = _node_id(request)
    body = _object(await _body(request), {"reason"}, '{"reason"}')
    reason = check_reason(body.get("reason"))
    log.warning("task scheduling disabled on node %s: %s", node_id, reason)
    request.app[STORE].set_node_scheduling(node_id, enabled=False, reason=reason)
    return web.json_response(request.app[STORE].node(node_id))


async def enable_scheduling(request: web.Request) -> web.Response:
    node_id = _node_id(request)
    request.app[STORE].set_node_scheduling(node_id, enabled=True)
    request.app[SCHEDULER].wake()
    return web.json_response(request.app[STORE].node(node_id))


async def health(request: web.Request) -> web.Response:
    scheduler = request.app[SCHEDULER]
    return web.json_response({"status": "ok", "slots": scheduler.slots, "running": len(scheduler.running),
                              "node": request.app[STORE].node(scheduler.node.node_id)})


def make_app(store: Store, scheduler: Scheduler, key: str) -> web.Application:
    # The key check comes first: nothing of a request without it is read or parsed.
    app = web.Application(middlewares=[require_key(key), errors], client_max_size=MAX_BODY)
    app[STORE], app[SCHEDULER] = store, scheduler
    app.router.add_post("/jobs", create_job)
    app.router.add_get("/jobs/{job}", get_job)
    app.router.add_patch("/jobs/{job}", update_job)
    app.router.add_post("/jobs/{job}/terminate", terminate_job)
    app.router.add_post("/jobs/{job}/disable", disable_job)
    app.router.add_post("/jobs/{job}/enable", enable_job)
    app.router.add_post("/jobs/{job}/tasks", add_tasks)
    app.router.add_get("/jobs/{job}/tasks", list_tasks)
    app.router.add_get("/jobs/{job}/tasks/{task}", get_task)
    # The path is taken as sent (aiohttp does not resolve `..`); check_task_file_path refuses it.
    app.router.add_get("/jobs/{job}/tasks/{task}/files/{path:.+}", get_task_file)
    app.router.add_get("/jobs/{job}/taskcounts", task_counts)
    app.router.add_get("/nodes", list_nodes)
    app.router.add_get("/nodes/{node}", get_node)
    app.router.add_post("/nodes/{node}/disablescheduling", disable_scheduling)
    app.router.add_post("/nodes/{node}/enablescheduling", enable_scheduling)
    app.router.add_get("/health", health)
    return app
