"""Cron schedules in UTC and the slots they divide time into."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator_telemetry.schedule import Schedule

WEEK = timedelta(days=7)


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


# crontab's meaning -----------------------------------------------------------------------------

WEDNESDAY = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.mark.parametrize(
    ("weekday", "expected"),
    [
        ("0", "Sun"),
        ("7", "Sun"),
        ("1", "Mon"),
        ("6", "Sat"),
        ("sun", "Sun"),
        ("MON", "Mon"),
        ("Fri", "Fri"),
    ],
)
def test_weekdays_count_from_sunday_as_in_crontab(weekday: str, expected: str) -> None:
    fired = Schedule(f"0 0 * * {weekday}").next_slot(WEDNESDAY)

    assert fired is not None
    assert fired.strftime("%a") == expected


def test_weekday_ranges_lists_and_steps_keep_crontabs_meaning() -> None:
    def week(expression: str) -> list[str]:
        schedule = Schedule(expression)
        return [slot.strftime("%a") for slot in schedule.slots_between(WEDNESDAY, at(25, 0) + WEEK)]

    assert week("0 0 * * 1-5") == ["Thu", "Fri", "Mon", "Tue", "Wed"]
    assert week("0 0 * * 5-7") == ["Fri", "Sat", "Sun"]
    assert week("0 0 * * */2") == ["Thu", "Sat", "Sun", "Tue"]
    assert week("0 0 * * sat,sun") == ["Sat", "Sun"]


def test_month_names_are_accepted() -> None:
    assert Schedule("0 0 1 JAN *").next_slot(WEDNESDAY) == datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("expression", ["0 0 1 * 1", "0 0 1-7 * mon", "0 0 */2 * 0"])
def test_restricting_both_day_fields_is_refused_with_a_clear_message(expression: str) -> None:
    with pytest.raises(ValueError, match="both day of month and day of week are restricted"):
        Schedule(expression)


@pytest.mark.parametrize("expression", ["0 0 * * 8", "0 0 * * 5-2", "0 0 * * funday"])
def test_impossible_weekdays_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="invalid cron expression"):
        Schedule(expression)


# against a reference implementation ------------------------------------------------------------


def _field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    named = st.sampled_from(names) if names else value.map(str)
    single = st.one_of(value.map(str), named)
    # Only proper ranges: croniter reads a one-value range (5-5) as every value.
    span = (
        st.tuples(value, value)
        .filter(lambda pair: pair[0] != pair[1])
        .map(lambda pair: f"{min(pair)}-{max(pair)}")
    )
    stepped = st.tuples(st.sampled_from(["*", f"{low}-{high}"]), st.integers(1, 5)).map(
        lambda pair: f"{pair[0]}/{pair[1]}"
    )
    item = st.one_of(single, span, stepped)
    return st.one_of(st.just("*"), item, st.lists(item, min_size=2, max_size=3).map(",".join))


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@st.composite
def crontabs(draw: st.DrawFn) -> str:
    """Five-field expressions as people write them, never restricting both day fields."""
    minute = draw(_field(0, 59))
    hour = draw(_field(0, 23))
    month = draw(_field(1, 12, _MONTHS))
    if draw(st.booleans()):
        day, weekday = draw(_field(1, 28)), "*"
    else:
        day, weekday = "*", draw(_field(0, 7, _DAYS))
    return f"{minute} {hour} {day} {month} {weekday}"


moments = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))


@settings(max_examples=200, deadline=None)
@given(expression=crontabs(), now=moments)
def test_next_slot_and_the_schedulers_trigger_agree_with_croniter(
    expression: str, now: datetime
) -> None:
    expected = croniter(expression, now).get_next(datetime)
    schedule = Schedule(expression)

    assert schedule.next_slot(now) == expected
    # What APScheduler fires on: the daemon schedules its jobs with this very trigger.
    assert schedule.trigger.get_next_fire_time(None, now + timedelta(seconds=1)) == expected


@settings(max_examples=200, deadline=None)
@given(expression=crontabs(), now=moments)
def test_latest_slot_agrees_with_croniter(expression: str, now: datetime) -> None:
    on_slot = now.second == 0 and croniter.match(expression, now)
    expected = now if on_slot else croniter(expression, now).get_prev(datetime)

    assert Schedule(expression).latest_slot(now) == expected


@settings(max_examples=100, deadline=None)
@given(expression=crontabs(), now=moments)
def test_missed_slots_agree_with_croniter(expression: str, now: datetime) -> None:
    start = now - timedelta(days=3)
    reference = croniter(expression, start)
    expected: list[datetime] = []
    while len(expected) < 50 and (slot := reference.get_next(datetime)) <= now:
        expected.append(slot)

    assert list(itertools.islice(Schedule(expression).slots_between(start, now), 50)) == expected
