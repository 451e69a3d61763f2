"""AzureBatchBackend against a real Azure Batch account; skipped unless one is configured.

Configure with environment variables:
- BATCH_ACCOUNT_URL  https://<account>.<region>.batch.azure.com
- BATCH_POOL_ID      a pool with at least one (or auto-scaled) Linux node
- credentials, one of:
  - BATCH_ACCOUNT_KEY (shared key; BATCH_ACCOUNT_NAME defaults to the URL's first label)
  - AZURE_CLIENT_ID + AZURE_TENANT_ID (+ secret or federated token) for DefaultAzureCredential
  - BATCH_USE_DEFAULT_CREDENTIAL=1 to use DefaultAzureCredential as is (e.g. after `az login`)
- BATCH_LIVE_TIMEOUT seconds to wait for the tasks (default 900: a pool may have to start a node)

The job is terminated at the end; delete old `live-*` jobs in the account now and then.
"""

from __future__ import annotations

import os
import shlex
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from shared.adapters.azure_batch_backend import AzureBatchBackend
from shared.errors import ConflictError
from shared.tasks import TaskResult, TaskSpec, TaskStatus

pytestmark = pytest.mark.live

# exits 0 only if Batch's splitting of the command line and bash hand argv over unchanged
EXPECTED_WORD = "it's a \"b\"&c; $HOME *"
QUOTING_ARGV = ("/bin/sh", "-c", f'test "$1" = {shlex.quote(EXPECTED_WORD)} && test $# -eq 1',
                "sh", EXPECTED_WORD)
# exits 0 only as a non-root user that cannot write where the start task links Blender
UNPRIVILEGED_ARGV = ("/bin/sh", "-c", 'echo "uid=$(id -u)"; test "$(id -u)" -ne 0 && '
                     '! touch /usr/local/bin/probe 2>/dev/null')


def _credential() -> Any | None:
    account_url = os.environ.get("BATCH_ACCOUNT_URL", "")
    if os.environ.get("BATCH_ACCOUNT_KEY"):
        from azure.core.credentials import AzureNamedKeyCredential

        name = os.environ.get("BATCH_ACCOUNT_NAME") or (urlparse(account_url).hostname or "").split(".")[0]
        return AzureNamedKeyCredential(name, os.environ["BATCH_ACCOUNT_KEY"])
    if (os.environ.get("AZURE_CLIENT_ID") and os.environ.get("AZURE_TENANT_ID")) or \
            os.environ.get("BATCH_USE_DEFAULT_CREDENTIAL") == "1":
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()
    return None


@pytest.fixture
def live_backend() -> Iterator[AzureBatchBackend]:
    missing = [name for name in ("BATCH_ACCOUNT_URL", "BATCH_POOL_ID") if not os.environ.get(name)]
    credential = _credential()
    if missing or credential is None:
        reason = f"no Azure Batch account configured (missing {', '.join(missing)})" if missing else \
            "no Azure Batch credentials (set BATCH_ACCOUNT_KEY, AZURE_CLIENT_ID/AZURE_TENANT_ID " \
            "or BATCH_USE_DEFAULT_CREDENTIAL=1)"
        pytest.skip(reason)
    backend = AzureBatchBackend(
        os.environ["BATCH_ACCOUNT_URL"], os.environ["BATCH_POOL_ID"], credential,
        storage_blob_url=os.environ.get("BATCH_STORAGE_BLOB_URL", "https://unused.blob.core.windows.net"),
    )
    try:
        yield backend
    finally:
        backend.close()


def _wait_done(backend: AzureBatchBackend, job_id: str) -> dict[str, Any]:
    timeout = float(os.environ.get("BATCH_LIVE_TIMEOUT", "900"))
    deadline = time.monotonic() + timeout
    while True:
        states = {s.id: s for s in backend.list_tasks(job_id)}
        if all(s.status is TaskStatus.COMPLETED for s in states.values()):
            return states
        assert time.monotonic() < deadline, f"tasks not done within {timeout}s: {states}"
        time.sleep(5)


def test_tasks_run_unprivileged_and_can_be_watched_and_controlled(live_backend: AzureBatchBackend) -> None:
    job_id = f"live-{uuid.uuid4().hex[:16]}"
    live_backend.create_job(job_id)
    try:
        live_backend.set_job_priority(job_id, 100)
        live_backend.add_tasks(job_id, [TaskSpec(id="whoami", argv=UNPRIVILEGED_ARGV)])
        states = _wait_done(live_backend, job_id)
        out = live_backend.read_task_file(job_id, "whoami", "stdout.txt", 4096)
        assert states["whoami"].exit_code == 0, (states["whoami"], out)
        assert b"uid=" in out and b"uid=0\n" not in out
        assert live_backend.task_node(job_id, "whoami")
        live_backend.disable_job(job_id, "wait")
        for _ in range(30):  # `disabling` until Batch has dealt with the (no) running tasks
            try:
                live_backend.enable_job(job_id)
                break
            except ConflictError:
                time.sleep(2)
        else:
            raise AssertionError("the job never left `disabling`")
    finally:
        live_backend.terminate_job(job_id)


def test_a_true_task_runs_on_the_pool(live_backend: AzureBatchBackend) -> None:
    job_id = f"live-{uuid.uuid4().hex[:16]}"
    live_backend.create_job(job_id)
    try:
        live_backend.create_job(job_id)  # JobExists is success
        tasks = [TaskSpec(id="true", argv=("true",)), TaskSpec(id="quoting", argv=QUOTING_ARGV)]
        live_backend.add_tasks(job_id, tasks)
        live_backend.add_tasks(job_id, tasks)  # TaskExists is success
        states = _wait_done(live_backend, job_id)
        assert states["true"].result is TaskResult.SUCCESS and states["true"].exit_code == 0
        assert states["quoting"].exit_code == 0, states["quoting"]
        counts = live_backend.task_counts(job_id)
        assert (counts.succeeded, counts.failed) == (2, 0)
    finally:
        live_backend.terminate_job(job_id)
        live_backend.terminate_job(job_id)  # already terminating or completed: success
