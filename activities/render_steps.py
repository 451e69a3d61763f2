"""The activities of render_job. Each is one line over shared.pipeline.steps."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from shared import names
from shared.bootstrap import services
from shared.pipeline import runs, steps

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload", activity=names.REGISTER_JOB)
def register_job(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.register_job(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.VALIDATE_BUNDLE)
def validate_bundle(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.validate_bundle_step(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.START_BATCH_JOB)
def start_batch_job(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.start_batch_job(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.PLAN_JOB)
def plan_job(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.plan_job(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.SIZE_CHUNKS)
def size_chunks(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.size_chunks(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.ADD_RENDER_TASKS)
def add_render_tasks(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.add_render_tasks(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.POLL_TASKS)
def poll_tasks(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.poll_tasks(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.COLLECT_RENDER_RESULTS)
def collect_render_results(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.collect_render_results(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.ADD_STITCH_TASK)
def add_stitch_task(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.add_stitch_task(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.VERIFY_OUTPUTS)
def verify_outputs(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.verify_outputs(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.FINALIZE_JOB)
def finalize_job(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.finalize_job(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.FAIL_JOB)
def fail_job(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.fail_job(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.START_RENDERING)
def start_rendering(payload: dict[str, Any]) -> dict[str, Any]:
    return runs.start_rendering(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.START_RUN)
def start_run(payload: dict[str, Any]) -> dict[str, Any]:
    return runs.start_run(services(), payload)


@bp.activity_trigger(input_name="payload", activity=names.REQUEUE_CHUNKS)
def requeue_chunks(payload: dict[str, Any]) -> dict[str, Any]:
    return runs.requeue_chunks(services(), payload)
