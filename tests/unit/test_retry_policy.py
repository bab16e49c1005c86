"""Backoff between delivery attempts: doubling, capped, jittered."""

from __future__ import annotations

import random
from datetime import timedelta

from orchestrator_telemetry.outbox import RetryPolicy

POLICY = RetryPolicy(initial=timedelta(minutes=1), maximum=timedelta(hours=1))


def test_the_wait_doubles_with_each_failure_within_jitter() -> None:
    rng = random.Random(7)
    for attempts, ceiling in [(1, 60), (2, 120), (3, 240), (4, 480)]:
        wait = POLICY.delay(attempts, rng).total_seconds()
        assert ceiling / 2 <= wait <= ceiling


def test_the_wait_never_exceeds_the_maximum() -> None:
    rng = random.Random(7)
    waits = [POLICY.delay(attempts, rng) for attempts in range(1, 40)]

    assert max(waits) <= timedelta(hours=1)
    assert min(waits[10:]) >= timedelta(minutes=30)


def test_jitter_spreads_replicas_apart() -> None:
    rng = random.Random(7)

    assert len({POLICY.delay(3, rng) for _ in range(20)}) > 15
