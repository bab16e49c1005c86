"""What `status` calls overdue: a Summary undelivered past the grace, events pending past it.

The use case runs in process on a real state database, with an injected clock; the sink is the
in-memory one, told when to fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator_telemetry.app import application
from orchestrator_telemetry.config import load
from orchestrator_telemetry.deliver.sinks import MemorySink
from orchestrator_telemetry.errors import TransientError
from orchestrator_telemetry.service import Telemetry

pytestmark = pytest.mark.integration

SLOT = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # a slot of the default Summary schedule
HEARTBEAT_SLOT = SLOT + timedelta(hours=6)  # a slot of the default Heartbeat schedule
GRACE = timedelta(seconds=3600)  # schedule.misfire_grace_time's default
MOMENT = timedelta(seconds=1)


@dataclass
class Clock:
    """A clock the test moves."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def telemetry(database_url: str, clock: Clock, sink: MemorySink) -> Iterator[Telemetry]:
    """The use cases on this database, migrated and with a ucid, as after a first start."""
    config = load(None, {"OT_DATABASE_URL": database_url, "OT_IDENTITY_UCID": "statusucid000042"})
    with application(config, clock, sink) as app:
        app.telemetry.prepare()
        yield app.telemetry


def summary_overdue(slot: datetime) -> str:
    return f"the Summary of {slot.isoformat()} is not delivered"


def test_a_summary_is_overdue_only_once_the_grace_after_its_slot_has_passed(
    orchestrator_db_url: str,
) -> None:
    clock = Clock(SLOT + GRACE)
    with telemetry(orchestrator_db_url, clock, MemorySink()) as use_cases:
        use_cases.record_summary(SLOT - timedelta(days=1))
        use_cases.deliver()  # yesterday's Summary, delivered, says nothing about today's
        within_the_grace = use_cases.status().overdue
        clock.now += MOMENT
        past_the_grace = use_cases.status().overdue

    assert within_the_grace == []
    assert past_the_grace == [summary_overdue(SLOT)]


def test_a_summary_recorded_but_unsent_is_overdue_and_once_sent_nothing_is(
    orchestrator_db_url: str,
) -> None:
    clock = Clock(SLOT + MOMENT)
    sink = MemorySink()
    with telemetry(orchestrator_db_url, clock, sink) as use_cases:
        use_cases.record_summary(SLOT - timedelta(days=1))
        use_cases.deliver()  # yesterday's was sent: not today's
        use_cases.record_summary(SLOT)
        sink.fail_next(TransientError("HTTP 503"))
        use_cases.deliver()
        clock.now = SLOT + GRACE + MOMENT
        pending = use_cases.status()
        use_cases.deliver()
        delivered = use_cases.status()

    assert pending.overdue == [summary_overdue(SLOT)]
    assert pending.outbox["pending"] == 1
    assert delivered.overdue == []
    assert delivered.outbox["sent"] == 2


def test_events_pending_past_the_grace_after_they_were_due_are_overdue(
    orchestrator_db_url: str,
) -> None:
    clock = Clock(HEARTBEAT_SLOT + MOMENT)
    sink = MemorySink()
    with telemetry(orchestrator_db_url, clock, sink) as use_cases:
        use_cases.record_summary(SLOT)
        use_cases.deliver()
        use_cases.record_heartbeat(HEARTBEAT_SLOT)
        sink.fail_next(TransientError("HTTP 503"))
        use_cases.deliver()
        due = use_cases.status().next_runs["retry"]
        assert due is not None and due > clock.now  # retried later, with backoff
        clock.now = due + GRACE
        within_the_grace = use_cases.status().overdue
        clock.now += MOMENT
        past_the_grace = use_cases.status().overdue

    assert within_the_grace == []
    assert past_the_grace == [f"pending events have been due since {due.isoformat()}"]
