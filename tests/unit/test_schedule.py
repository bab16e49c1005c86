"""Cron schedules in UTC and the slots they divide time into."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator_telemetry.schedule import Schedule


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def test_latest_slot_is_the_most_recent_fire_time_at_or_before_now() -> None:
    heartbeat = Schedule("0 */6 * * *")

    assert heartbeat.latest_slot(at(25, 5, 59, 59)) == at(25, 0)
    assert heartbeat.latest_slot(at(25, 6)) == at(25, 6)
    assert heartbeat.latest_slot(at(25, 23, 59)) == at(25, 18)


def test_latest_slot_finds_rare_schedules() -> None:
    assert Schedule("0 0 1 1 *").latest_slot(at(25, 12)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert Schedule("0 0 29 2 *").latest_slot(at(25, 12)) == datetime(2024, 2, 29, tzinfo=UTC)


def test_slots_between_excludes_the_start_and_includes_the_end() -> None:
    daily = Schedule("0 0 * * *")

    assert list(daily.slots_between(at(22, 0), at(25, 0))) == [at(23, 0), at(24, 0), at(25, 0)]
    assert list(daily.slots_between(at(25, 0), at(25, 23))) == []


def test_next_slot_is_strictly_after() -> None:
    assert Schedule("0 0 * * *").next_slot(at(25, 0)) == at(26, 0)


@pytest.mark.parametrize("expression", ["0 0 * *", "61 * * * *", "every day", ""])
def test_bad_cron_expressions_fail_at_load_with_the_expression_named(expression: str) -> None:
    with pytest.raises(ValueError, match="invalid cron expression"):
        Schedule(expression)
