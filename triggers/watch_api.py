"""Watching a job over HTTP (function key required): its chunks, previews, task log tails, download
links, provenance.

Thin: each route checks nothing itself and calls shared.pipeline.watch_reads, which checks
every id and parameter (400 for a malformed one, 404 for one the job does not have).
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from shared.adapters.blob_sas import cached_signer
from shared.bootstrap import services
from shared.pipeline import jobs_api, watch_reads
from triggers.http_json import json_response, sync_api_errors

bp = df.Blueprint()


@bp.route(route="jobs/{jobId}/preview", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@sync_api_errors
def get_job_preview(req: func.HttpRequest) -> func.HttpResponse:
    image = watch_reads.preview(services(), req.route_params["jobId"], req.params.get("frame"))
    # The latest preview changes as frames render; a given frame's may be redone by a retry.
    return func.HttpResponse(image, status_code=200, mimetype="image/jpeg",
                             headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@bp.route(route="jobs/{jobId}/tasks/{taskId}/log", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@sync_api_errors
def get_task_log(req: func.HttpRequest) -> func.HttpResponse:
    svc = services()
    return json_response(watch_reads.task_log(svc, cached_signer(svc.settings), req.route_params["jobId"],
                                              req.route_params["taskId"], req.params.get("stream"),
                                              req.params.get("tail")))


@bp.route(route="jobs/{jobId}/outputs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@sync_api_errors
def get_job_outputs(req: func.HttpRequest) -> func.HttpResponse:
    svc = services()
    return json_response(watch_reads.outputs(svc, cached_signer(svc.settings), req.route_params["jobId"]),
                         headers={"Cache-Control": "no-store"})  # the URLs are secrets, short-lived


@bp.route(route="jobs/{jobId}/provenance", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@sync_api_errors
def get_job_provenance(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(watch_reads.provenance(services(), req.route_params["jobId"]))


@bp.route(route="jobs/{jobId}/chunks", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@sync_api_errors
def list_job_chunks(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(jobs_api.list_chunks(services(), req.route_params["jobId"], req.params.get("status"),
                                              req.params.get("continuationToken"), req.params.get("limit")))
