"""The HTTP API (function key required except /api/health)."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import azure.functions as func

from shared.bootstrap import services
from shared.pipeline import control, jobs_api, listing, submission
from triggers.http_json import api_errors, conditional_json_response, json_response, read_json

bp = df.Blueprint()


@bp.route(route="jobs", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@api_errors
async def submit_job(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    svc = await asyncio.to_thread(services)
    result = await submission.submit_http_job(
        svc, client, read_json(req), req.headers.get("Idempotency-Key"),
        submission.submitter_of(req.headers, trust_app_service_auth=svc.settings.trust_app_service_auth))
    job = jobs_api.public_job(result.job)
    return json_response(job, 202 if result.created else 200,
                         headers={"Location": f"/api/jobs/{job['id']}"})


@bp.route(route="jobs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@api_errors
async def list_jobs(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    svc = await asyncio.to_thread(services)  # unfinished jobs listed are reconciled (listing.py)
    return conditional_json_response(req, await listing.list_jobs(
        svc, client, req.params.get("status"), req.params.get("top"), req.params.get("continuationToken"),
        req.params.get("namePrefix")))


@bp.route(route="jobs/{jobId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@api_errors
async def get_job(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    svc = await asyncio.to_thread(services)  # reconciled with its orchestration (control.reconcile)
    return conditional_json_response(req, await control.get_job(svc, client, req.route_params["jobId"]))


@bp.route(route="jobs/{jobId}/cancel", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@api_errors
async def cancel_job(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    svc = await asyncio.to_thread(services)
    return json_response(await jobs_api.cancel_job(svc, client, req.route_params["jobId"]), 202)


@bp.route(route="jobs/{jobId}/history", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@api_errors
async def get_job_history(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    svc = await asyncio.to_thread(services)
    return json_response(await jobs_api.job_history(svc, client, req.route_params["jobId"]))


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@api_errors
async def health(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    svc = await asyncio.to_thread(services)
    healthy, body = await asyncio.to_thread(jobs_api.health, svc)
    if healthy:  # a bounded pass that ends jobs whose orchestration ended without them
        body["reconciled"] = await control.reconcile_some(svc, client)
    return json_response(body, 200 if healthy else 503)
