"""The in-memory fake keeps the same contract as the real adapters."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from shared.adapters.fake_render_backend import FakeRenderBackend, ManualClock
from shared.tasks import TaskResult, TaskSpec, TaskState
from tests.contract.render_backend_contract import RenderBackendContract, RunUntilDone, poll_until_done


class TestFakeRenderBackendContract(RenderBackendContract):
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def backend(self, clock: ManualClock) -> FakeRenderBackend:
        return FakeRenderBackend(clock=clock, node_id="fake-node-1")

    @pytest.fixture
    def run_until_done(self, backend: FakeRenderBackend, clock: ManualClock) -> RunUntilDone:
        def run(job_id: str, timeout: float, task_ids: Iterable[str] | None = None) -> dict[str, TaskState]:
            clock.advance(timeout)  # the fake's time passes only when told to
            return poll_until_done(backend, job_id, 0, task_ids)
        return run


def test_fake_fails_the_task_ids_it_is_told_to() -> None:
    backend = FakeRenderBackend(fail_ids={"chunk-2"})
    backend.create_job("job")
    backend.add_tasks("job", [TaskSpec(id=f"chunk-{i}", argv=("blender", "-b")) for i in (1, 2)])
    states = {s.id: s for s in backend.list_tasks("job")}
    assert states["chunk-1"].result is TaskResult.SUCCESS
    assert (states["chunk-2"].result, states["chunk-2"].exit_code) == (TaskResult.FAILURE, 1)
    assert [spec.id for _, spec in backend.added] == ["chunk-1", "chunk-2"]
