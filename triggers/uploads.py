"""Event Grid triggers: scene uploads start jobs; task completion markers wake the waiting orchestration."""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
import azure.functions as func

from shared import names
from shared.bootstrap import services
from shared.errors import ValidationError
from shared.pipeline import markers, submission, uploads

bp = df.Blueprint()
log = logging.getLogger(__name__)


def _blob_event(event: func.EventGridEvent) -> submission.BlobEvent | None:
    try:
        return submission.parse_blob_created(event.event_type, event.subject, event.get_json())
    except (ValidationError, ValueError) as exc:
        # A malformed event cannot get better by redelivery: log it and let it go.
        log.warning("ignoring event %s: %s", event.id, exc)
        return None


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_scene_uploaded(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    svc = await asyncio.to_thread(services)  # the first call connects to the services
    blob = _blob_event(event)
    if blob is None:
        return
    reason = submission.scene_upload_reason_to_skip(blob, svc.settings.scenes_container)
    if reason is None and uploads.is_upload_blob(blob.blob_name):
        reason = "uploaded through POST /api/uploads: its job comes from POST /api/jobs"
    if reason is not None:
        log.info("ignoring %s/%s: %s", blob.container, blob.blob_name, reason)
        return
    try:
        await submission.start_upload_job(svc, client, blob)
    except ValidationError as exc:  # a forged or inconsistent event: redelivery cannot mend it
        log.warning("rejecting event %s: %s", event.id, exc)


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_render_output(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    svc = await asyncio.to_thread(services)  # the first call connects to the services
    blob = _blob_event(event)
    if blob is None:
        return
    marker = submission.parse_marker(blob, svc.settings.renders_container)
    if marker is None:
        return
    job_id, task_id = marker
    instance = await asyncio.to_thread(markers.marker_wait_instance, svc, job_id, task_id)  # the job's run
    try:
        await client.raise_event(instance, names.TASKS_CHANGED, {"taskId": task_id})
    except Exception as exc:  # the wait already ended (or never began): the poll covers it
        log.info("marker %s of job %s not delivered to %s: %s", task_id, job_id, instance, exc)
