"""The JSON REST API, shaped after the parts of Batch's REST API the pipeline uses.

    POST /jobs                      {"id", "priority"}   -> 201 created | 200 existed
    GET  /jobs/{job}                                     -> job
    POST /jobs/{job}/terminate                           -> 202
    POST /jobs/{job}/tasks          {"tasks": [TaskSpec JSON]} -> {"added": [...], "existing": [...]}
    GET  /jobs/{job}/tasks                               -> {"tasks": [TaskState JSON]}
    GET  /jobs/{job}/tasks/{task}                        -> TaskState JSON + spec, workingDir
    GET  /jobs/{job}/taskcounts                          -> TaskCounts JSON
    GET  /health                                         -> {"status": "ok", ...}

Every request needs the `x-localbatch-key` header (401 without it) and bodies must be
application/json (415 otherwise); see auth.py. Errors are
{"error": {"code", "message", "field"?}} with 400, 401, 404, 409, 415 or 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from localbatch.auth import require_key
from localbatch.scheduler import Scheduler
from localbatch.specs import check_id, check_priority, parse_tasks
from localbatch.store import Store
from shared.errors import ConflictError, NotFoundError, PipelineError, ValidationError
from shared.tasks import TaskState

log = logging.getLogger("localbatch.api")

MAX_BODY = 16 * 1024 * 1024
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


async def create_job(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, dict):
        raise ValidationError("body must be {\"id\", \"priority\"}")
    job, created = request.app[STORE].create_job(check_id(body.get("id"), "id"),
                                                 check_priority(body.get("priority")))
    return web.json_response(job, status=201 if created else 200)


async def get_job(request: web.Request) -> web.Response:
    return web.json_response(request.app[STORE].get_job(_job_id(request)))


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


def _task_json(state: TaskState, categories: dict[str, str]) -> dict[str, Any]:
    """TaskState JSON, plus Batch's failureInfo (category and message) when the task failed."""
    data = state.to_json()
    if state.id in categories and state.failure:
        data["failureInfo"] = {"category": categories[state.id], "message": state.failure}
    return data


async def list_tasks(request: web.Request) -> web.Response:
    job_id = _job_id(request)
    states = request.app[STORE].list_tasks(job_id)
    categories = request.app[STORE].failure_categories(job_id)
    return web.json_response({"tasks": [_task_json(s, categories) for s in states]})


async def get_task(request: web.Request) -> web.Response:
    job_id, task_id = _job_id(request), check_id(request.match_info["task"], "taskId")
    state, spec = request.app[STORE].get_task(job_id, task_id)
    workdir = request.app[SCHEDULER].node.workdir(job_id, task_id)
    return web.json_response({**_task_json(state, request.app[STORE].failure_categories(job_id)),
                              "spec": spec.to_json(), "workingDir": str(workdir)})


async def task_counts(request: web.Request) -> web.Response:
    return web.json_response(request.app[STORE].counts(_job_id(request)).to_json())


async def health(request: web.Request) -> web.Response:
    scheduler = request.app[SCHEDULER]
    return web.json_response({"status": "ok", "slots": scheduler.slots, "running": len(scheduler.running)})


def make_app(store: Store, scheduler: Scheduler, key: str) -> web.Application:
    # The key check comes first: nothing of a request without it is read or parsed.
    app = web.Application(middlewares=[require_key(key), errors], client_max_size=MAX_BODY)
    app[STORE], app[SCHEDULER] = store, scheduler
    app.router.add_post("/jobs", create_job)
    app.router.add_get("/jobs/{job}", get_job)
    app.router.add_post("/jobs/{job}/terminate", terminate_job)
    app.router.add_post("/jobs/{job}/tasks", add_tasks)
    app.router.add_get("/jobs/{job}/tasks", list_tasks)
    app.router.add_get("/jobs/{job}/tasks/{task}", get_task)
    app.router.add_get("/jobs/{job}/taskcounts", task_counts)
    app.router.add_get("/health", health)
    return app
