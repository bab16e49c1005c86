"""The test helper behind midnight-proof tests: its slots hold across any nearby boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator_telemetry.schedule import Schedule
from tests.support.slots import settled_schedules

JUST_BEFORE = {
    "midnight": datetime(2026, 11, 28, 23, 59, 50, tzinfo=UTC),
    "a six-hour mark": datetime(2026, 11, 29, 5, 59, 59, tzinfo=UTC),
    "a new year": datetime(2026, 12, 31, 23, 58, tzinfo=UTC),
}


@pytest.mark.parametrize("now", JUST_BEFORE.values(), ids=JUST_BEFORE.keys())
def test_a_process_started_minutes_later_reports_the_same_slots(now: datetime) -> None:
    settled = settled_schedules(now)
    later = now + timedelta(minutes=30)

    assert Schedule(settled.summary).latest_slot(later) == settled.summary_slot
    assert Schedule(settled.heartbeat).latest_slot(later) == settled.heartbeat_slot
    assert settled.summary_slot == (now - timedelta(hours=2)).replace(second=0, microsecond=0)
    assert settled.heartbeat_slot == (now - timedelta(hours=1)).replace(second=0, microsecond=0)
    assert settled.env() == {
        "OT_SCHEDULE_SUMMARY": settled.summary,
        "OT_SCHEDULE_HEARTBEAT": settled.heartbeat,
    }


def test_the_default_schedules_would_not_have_held() -> None:
    # What the helper replaces: computed just before midnight, wrong just after it.
    now = JUST_BEFORE["midnight"]
    daily = Schedule("0 0 * * *")

    assert daily.latest_slot(now) != daily.latest_slot(now + timedelta(minutes=1))
