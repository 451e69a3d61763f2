"""Which wait a task's completion marker wakes.

A marker's blob name, `<jobId>/chunks/<taskId>.json` (DESIGN.md, "Storage"), names the job and
the task but not the run: a retry's run has a Batch job of its own whose task ids repeat the
first run's, while each run waits under instance ids of its own (names.wait_instance_id). The
job document knows the current run, so the marker trigger reads it (one point read per
marker) and wakes that run's wait at once rather than leaving it to its poll timer. A marker
of an earlier run arriving late wakes the current run's wait for one needless poll, no more:
a run starts only once the previous one's orchestration has ended.
"""

from __future__ import annotations

import logging

from shared import names
from shared.bootstrap import Services
from shared.errors import NotFoundError, PipelineError
from shared.job_document import current_run

log = logging.getLogger(__name__)


def marker_run(svc: Services, job_id: str) -> int:
    """The job's current run; 1 for a job without a document (a benchmark's bare wait) or when
    the store cannot answer now (the wait's poll timer then finds the task all the same)."""
    try:
        return current_run(svc.jobs.get(job_id))
    except NotFoundError:
        return 1
    except PipelineError as exc:
        log.warning("job %s: cannot read its run for a marker (%s); waking run 1's wait", job_id, exc)
        return 1


def marker_wait_instance(svc: Services, job_id: str, task_id: str) -> str:
    """The instance id of the wait of the job's current run that a task's marker belongs to."""
    return names.wait_instance_for_task(job_id, task_id, marker_run(svc, job_id))
