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


def crontab_trigger(expression: str) -> CronTrigger:
    """An APScheduler trigger with crontab's meaning: weekdays 0 and 7 are Sunday, 1 Monday.

    APScheduler's own `from_crontab` counts weekdays from Monday and combines the two day fields
    with AND; crontab fires when either matches. That OR has no APScheduler equivalent, so an
    expression restricting both day fields is refused.
    """
    fields = expression.split()
    if len(fields) != len(_FIELDS):
        raise ValueError(f"Wrong number of fields; got {len(fields)}, expected {len(_FIELDS)}")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        raise ValueError(
            "both day of month and day of week are restricted; cron fires when either matches,"
            " which is not supported here: set one of them to '*'"
        )
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month.lower(),
        day_of_week=_weekdays(weekday),
        timezone=UTC,
    )


_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab's numbering, 0-6


def _weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler's weekday names (it counts from Monday)."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.lower().split(","):
        span, _, step_text = item.partition("/")
        step = _number(step_text, "step") if step_text else 1
        if step < 1:
            raise ValueError(f"day of week {item!r}: the step must be 1 or more")
        if span == "*":
            first, last = 0, 6
        else:
            low, dash, high = span.partition("-")
            first = _weekday(low)
            last = _weekday(high) if dash else (7 if step_text else first)
            if last < first:
                raise ValueError(f"day of week {item!r}: the range runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    # APScheduler's names: its Monday-first numbering never shows.
    return ",".join(_DAY_NAMES[day] for day in sorted(days))


def _weekday(text: str) -> int:
    if text in _DAY_NAMES:
        return _DAY_NAMES.index(text)
    day = _number(text, "day of week")
    if not 0 <= day <= 7:
        raise ValueError(f"day of week {text!r}: expected 0-7 (0 and 7 are Sunday) or sun-sat")
    return day


def _number(text: str, what: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{what} {text!r}: expected a number or a name")
    return int(text)


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
            return crontab_trigger(self.expression)
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
