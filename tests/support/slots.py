"""Schedules whose current slot cannot change while a test runs, for tests that start processes.

A test that computes "the latest slot" and then starts a process that computes it again disagrees
with it when a slot boundary falls in between (midnight for the default Summary, every six hours
for the default Heartbeat). Daily schedules whose latest slot is hours ago and whose next slot is
hours away give both the same answer, whatever the time of day the suite runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator_telemetry.schedule import Schedule, utc_now

__all__ = ["HEARTBEAT_AGO", "SUMMARY_AGO", "Settled", "settled_schedules"]

SUMMARY_AGO = timedelta(hours=2)
"""How long before now the Summary's latest slot lies: well inside its maximum age."""

HEARTBEAT_AGO = timedelta(hours=1)
"""How long before now the Heartbeat's latest slot lies: well inside its maximum age."""


@dataclass(frozen=True)
class Settled:
    """A Summary and a Heartbeat cron, and the slot of each that is the latest for ~22 hours."""

    summary: str
    heartbeat: str
    summary_slot: datetime
    heartbeat_slot: datetime

    def env(self) -> dict[str, str]:
        """The environment variables that give a process these schedules."""
        return {"OT_SCHEDULE_SUMMARY": self.summary, "OT_SCHEDULE_HEARTBEAT": self.heartbeat}


def settled_schedules(now: datetime | None = None) -> Settled:
    """Daily crons that fired SUMMARY_AGO and HEARTBEAT_AGO before `now` (default: wall clock)."""
    now = now or utc_now()
    summary, heartbeat = _daily_at(now - SUMMARY_AGO), _daily_at(now - HEARTBEAT_AGO)
    return Settled(summary, heartbeat, _latest(summary, now), _latest(heartbeat, now))


def _daily_at(moment: datetime) -> str:
    return f"{moment.minute} {moment.hour} * * *"


def _latest(expression: str, now: datetime) -> datetime:
    slot = Schedule(expression).latest_slot(now)
    if slot is None:  # a daily cron always fired within the last day
        raise AssertionError(f"{expression!r} has no latest slot before {now.isoformat()}")
    return slot
