"""The task hub store on its own: one process per hub, and the retry policy arithmetic."""

from __future__ import annotations

import asyncio

import pytest

from devhost.durable import DurableRuntime
from devhost.durable.actions import RetryPolicy
from devhost.durable.hub_lock import TaskHubInUse


def test_a_task_hub_is_served_by_one_runtime_at_a_time(functions, tmp_path):
    async def scenario() -> None:
        first = DurableRuntime(functions, data_dir=tmp_path)
        second = DurableRuntime(functions, data_dir=tmp_path)
        await first.start()
        try:
            with pytest.raises(TaskHubInUse):
                await second.start()
        finally:
            await first.stop()
        await second.start()  # free again once the first one stopped
        await second.stop()

    asyncio.run(scenario())


def test_retry_policy_backoff_cap_and_timeout():
    policy = RetryPolicy.from_action({"retryOptions": {
        "firstRetryIntervalInMilliseconds": 100, "maxNumberOfAttempts": 5, "backoffCoefficient": 3,
        "maxRetryIntervalInMilliseconds": 500, "retryTimeoutInMilliseconds": 2000}})
    assert [policy.delay_seconds(n) for n in (1, 2, 3)] == [0.1, 0.3, 0.5]
    assert not policy.expired(first_attempt=10.0, now=11.9)
    assert policy.expired(first_attempt=10.0, now=12.0)
    sdk_only = RetryPolicy.from_action({"retryOptions": {"firstRetryIntervalInMilliseconds": 250,
                                                         "maxNumberOfAttempts": 2}})
    assert sdk_only.delay_seconds(4) == 0.25 and not sdk_only.expired(0.0, 1e9)
