"""The actions an orchestrator episode returns, as the extension reads them.

The SDK returns every action since the execution started (replayed ones again),
nested in WhenAll/WhenAny compound actions; flattened in order the list only ever
grows, so the extension handles the suffix it has not seen yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR = 2
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
WAIT_FOR_EXTERNAL_EVENT = 6
CALL_ENTITY = 7
CALL_HTTP = 8
SIGNAL_ENTITY = 9
WHEN_ANY = 11
WHEN_ALL = 12

# Actions the SDK numbers with its sequence counter (external events use their name).
SEQUENCED = {CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY, CALL_SUB_ORCHESTRATOR,
             CALL_SUB_ORCHESTRATOR_WITH_RETRY, CONTINUE_AS_NEW, CREATE_TIMER, CALL_ENTITY,
             CALL_HTTP, SIGNAL_ENTITY}
UNSUPPORTED = {CALL_ENTITY, CALL_HTTP, SIGNAL_ENTITY}


@dataclass(frozen=True)
class EpisodeResult:
    """What one orchestrator invocation reported back."""

    is_done: bool
    actions: list[dict[str, Any]]  # flattened
    output_json: str | None
    custom_status_json: str | None
    error: str | None


def flatten(actions: Any) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for child in item:
                walk(child)
        elif isinstance(item, dict):
            if item.get("actionType") in (WHEN_ALL, WHEN_ANY):
                walk(item.get("compoundActions") or [])
            else:
                flat.append(item)

    walk(actions)
    return flat


OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


def parse_state(state_json: str) -> EpisodeResult:
    state = json.loads(state_json)
    output = state.get("output")
    custom = state.get("customStatus")
    return EpisodeResult(
        is_done=bool(state.get("isDone")),
        actions=flatten(state.get("actions") or []),
        output_json=None if output is None else json.dumps(output),
        custom_status_json=None if custom is None else json.dumps(custom),
        error=state.get("error"),
    )


def parse_failure(message: str) -> EpisodeResult:
    """An orchestrator exception carries its state after a marker (the worker's error schema)."""
    text, marker, data = message.rpartition(OUT_OF_PROC_MARKER)
    if not marker:
        return EpisodeResult(False, [], None, None, message or "orchestrator failed")
    try:
        state = parse_state(data)
    except (ValueError, TypeError):
        return EpisodeResult(False, [], None, None, text)
    return EpisodeResult(False, state.actions, None, state.custom_status_json, state.error or text)


@dataclass(frozen=True)
class RetryPolicy:
    """The extension's RetryOptions; the Python SDK sends only the first two fields."""

    first_interval_ms: float
    max_attempts: int
    backoff: float = 1.0
    max_interval_ms: float | None = None
    timeout_ms: float | None = None

    @classmethod
    def from_action(cls, action: dict[str, Any]) -> RetryPolicy:
        opts = action.get("retryOptions") or {}
        return cls(
            first_interval_ms=float(opts.get("firstRetryIntervalInMilliseconds") or 1000),
            max_attempts=max(1, int(opts.get("maxNumberOfAttempts") or 1)),
            backoff=float(opts.get("backoffCoefficient") or 1.0),
            max_interval_ms=_optional_float(opts.get("maxRetryIntervalInMilliseconds")),
            timeout_ms=_optional_float(opts.get("retryTimeoutInMilliseconds")),
        )

    def to_json(self) -> dict[str, Any]:
        return {"first": self.first_interval_ms, "max": self.max_attempts, "backoff": self.backoff,
                "max_interval": self.max_interval_ms, "timeout": self.timeout_ms}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RetryPolicy:
        return cls(data["first"], data["max"], data["backoff"], data["max_interval"], data["timeout"])

    def delay_seconds(self, failed_attempts: int) -> float:
        """DTFx: first * backoff^(n-1), capped at the max interval."""
        delay = self.first_interval_ms * self.backoff ** max(0, failed_attempts - 1)
        if self.max_interval_ms is not None:
            delay = min(delay, self.max_interval_ms)
        return delay / 1000.0

    def expired(self, first_attempt: float, now: float) -> bool:
        return self.timeout_ms is not None and now >= first_attempt + self.timeout_ms / 1000.0


def _optional_float(value: Any) -> float | None:
    if value in (None, ""):
        return None
    number = float(value)
    return number if number > 0 else None
