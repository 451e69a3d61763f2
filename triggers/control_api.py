"""Steering a job over HTTP: retry, pause, resume, priority (function key required).

Thin: each route reads its body and calls shared/pipeline/control.py."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import azure.functions as func

from shared.bootstrap import services
from shared.pipeline import control
from triggers.http_json import api_errors, json_response, read_json, sync_api_errors

bp = df.Blueprint()


def _optional_json(req: func.HttpRequest) -> object:
    """Control bodies are optional: no body is `{}`; a body must be JSON (read_json's errors)."""
    return read_json(req) if req.get_body() else None


@bp.route(route="jobs/{jobId}/retry", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@api_errors
async def retry_job(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    svc = await asyncio.to_thread(services)
    return json_response(await control.retry_job(svc, client, req.route_params["jobId"], _optional_json(req)), 202)


@bp.route(route="jobs/{jobId}/pause", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_errors
async def pause_job(req: func.HttpRequest) -> func.HttpResponse:
    svc = await asyncio.to_thread(services)
    return json_response(await control.pause_job(svc, req.route_params["jobId"], _optional_json(req)), 202)


@bp.route(route="jobs/{jobId}/resume", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@api_errors
async def resume_job(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    svc = await asyncio.to_thread(services)
    return json_response(await control.resume_job(svc, client, req.route_params["jobId"], _optional_json(req)),
                         202)


@bp.route(route="jobs/{jobId}", methods=["PATCH"], auth_level=func.AuthLevel.FUNCTION)
@sync_api_errors
def update_job(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(control.set_priority(services(), req.route_params["jobId"], read_json(req)))
