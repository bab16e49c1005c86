"""Cron schedules in UTC, and the periods (slots) they divide time into."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from apscheduler.triggers.cron import CronTrigger

Clock = Callable[[], datetime]

# Look back this far, widening each time, when searching for the latest slot: a cron firing at
# least every 7 hours needs one step, a daily one two, a yearly one four; the last window bounds
# the search for crons that never fire.
_LOOKBACK = (
    timedelta(hours=7),
    timedelta(days=2),
    timedelta(days=32),
    timedelta(days=400),
    timedelta(days=366 * 8),
)


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Schedule:
    """A five-field cron expression evaluated in UTC."""

    expression: str

    def __post_init__(self) -> None:
        _ = self.trigger  # fail at load time, with APScheduler's own parser, not at the first tick

    @cached_property
    def trigger(self) -> CronTrigger:
        """The APScheduler trigger for this expression (stateless, so it is shared)."""
        try:
            return CronTrigger.from_crontab(self.expression, timezone=UTC)
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {self.expression!r}: {exc}") from None

    def next_slot(self, after: datetime) -> datetime | None:
        """The first slot strictly after `after`, or None if the expression never fires again."""
        fire: datetime | None = self.trigger.get_next_fire_time(
            None, after + timedelta(microseconds=1)
        )
        return fire

    def slots_between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every slot in (start, end], oldest first."""
        slot = self.next_slot(start)
        while slot is not None and slot <= end:
            yield slot
            slot = self.next_slot(slot)

    def latest_slot(self, now: datetime) -> datetime | None:
        """The most recent slot at or before `now`."""
        for lookback in _LOOKBACK:
            latest = None
            for latest in self.slots_between(now - lookback, now):  # noqa: B007 - keep the last
                pass
            if latest is not None:
                return latest
        return None
