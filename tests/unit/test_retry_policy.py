"""Backoff between delivery attempts: doubling, capped, jittered, for any number of failures."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from orchestrator_telemetry.state.outbox import RetryPolicy

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


def test_weeks_of_failures_still_wait_between_half_the_maximum_and_the_maximum() -> None:
    """A week of one-minute failures: fails with OverflowError if the exponent is not capped."""
    rng = random.Random(7)
    for attempts in (41, 42, 100, 7 * 24 * 60, 10**6):
        wait = POLICY.delay(attempts, rng)
        assert timedelta(minutes=30) <= wait <= timedelta(hours=1)


@given(
    attempts=st.integers(min_value=0, max_value=10**9),
    initial=st.floats(min_value=0.001, max_value=86_400 * 30),
    maximum=st.floats(min_value=0.001, max_value=86_400 * 365),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_any_number_of_failures_gives_a_wait_within_jitter_of_the_capped_ceiling(
    attempts: int, initial: float, maximum: float, seed: int
) -> None:
    policy = RetryPolicy(initial=timedelta(seconds=initial), maximum=timedelta(seconds=maximum))

    wait = policy.delay(attempts, random.Random(seed)).total_seconds()

    ceiling = min(maximum, initial * 2.0 ** min(max(attempts - 1, 0), 64))
    assert ceiling / 2 - 1e-6 <= wait <= ceiling + 1e-6


def test_jitter_spreads_replicas_apart() -> None:
    rng = random.Random(7)

    assert len({POLICY.delay(3, rng) for _ in range(20)}) > 15
