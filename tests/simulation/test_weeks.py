"""Weeks of simulated operation under faults: nothing owed is lost, nothing is sent twice."""

from __future__ import annotations

import pytest

from tests.simulation.runner import explain, figures, run_seeds, shrink
from tests.support.database import PgServer

pytestmark = pytest.mark.integration

SEEDS = range(50)
WEEKS = 4  # per seed: 200 simulated weeks in all, plus a quiet day after each


def test_two_hundred_simulated_weeks_lose_nothing_and_send_nothing_twice(
    pg_server: PgServer, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes, seconds = run_seeds(pg_server.url, SEEDS, WEEKS)

    with capsys.disabled():
        print("\n" + figures(outcomes, seconds))
    failing = [outcome for outcome in outcomes if not outcome.passed]
    if failing:
        pytest.fail(explain(shrink(pg_server, failing[0])), pytrace=False)
    assert sum(outcome.days for outcome in outcomes) >= 7 * WEEKS * len(SEEDS)
