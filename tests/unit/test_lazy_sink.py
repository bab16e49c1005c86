"""LazySink: the sink is built at the first send; a failed build answers for a quiet period."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator_telemetry import events
from orchestrator_telemetry.deliver.sinks import EventSink, LazySink, MemorySink
from orchestrator_telemetry.errors import AuthenticationError, TransientError
from orchestrator_telemetry.events import Versions

QUIET = 60.0
HEARTBEAT = events.heartbeat(
    "abcdefgh12345678", Versions(devtron="v1", server="v1.29.4"), datetime(2026, 11, 25, tzinfo=UTC)
)


class Builder:
    """Builds a MemorySink, or fails while told to; counts how often it was asked."""

    def __init__(self) -> None:
        self.asked = 0
        self.failing = True
        self.sink = MemorySink()

    def __call__(self) -> EventSink:
        self.asked += 1
        if self.failing:
            raise TransientError(f"key endpoint unreachable (attempt {self.asked})")
        return self.sink


def test_a_failed_build_answers_from_memory_during_the_quiet_period() -> None:
    now = [1000.0]
    build = Builder()
    lazy = LazySink("posthog", build, quiet=QUIET, monotonic=lambda: now[0])

    with pytest.raises(TransientError, match="attempt 1"):
        lazy.send(HEARTBEAT)
    now[0] += QUIET - 0.001
    build.failing = False  # would succeed now, but is not asked
    with pytest.raises(TransientError, match="attempt 1"):
        lazy.send(HEARTBEAT)

    assert build.asked == 1
    assert build.sink.events == []


def test_a_failed_build_is_asked_again_once_the_quiet_period_is_over() -> None:
    now = [1000.0]
    build = Builder()
    lazy = LazySink("posthog", build, quiet=QUIET, monotonic=lambda: now[0])

    with pytest.raises(TransientError):
        lazy.send(HEARTBEAT)
    now[0] += QUIET
    with pytest.raises(TransientError, match="attempt 2"):  # asked again, failed again
        lazy.send(HEARTBEAT)
    now[0] += QUIET
    build.failing = False
    lazy.send(HEARTBEAT)
    lazy.send(HEARTBEAT)

    assert build.asked == 3  # once built, the sink is kept
    assert build.sink.events == [HEARTBEAT, HEARTBEAT]


def test_a_refused_key_drops_the_sink_which_is_built_anew_after_the_quiet_period() -> None:
    now = [1000.0]
    build = Builder()
    build.failing = False
    lazy = LazySink("posthog", build, quiet=QUIET, monotonic=lambda: now[0])
    build.sink.fail_next(AuthenticationError("HTTP 401: invalid API key"))

    with pytest.raises(AuthenticationError):
        lazy.send(HEARTBEAT)
    now[0] += QUIET - 0.001
    with pytest.raises(AuthenticationError):  # the refusal, from memory: not asked again
        lazy.send(HEARTBEAT)
    asked_within_the_quiet_period = build.asked
    now[0] += 0.001
    lazy.send(HEARTBEAT)

    assert asked_within_the_quiet_period == 1
    assert build.asked == 2  # a rotated key is fetched anew
    assert build.sink.events == [HEARTBEAT]
