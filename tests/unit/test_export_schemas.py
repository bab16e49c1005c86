"""The payload schemas accept exactly what the builders produce, and refuse anything more."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator_telemetry import events
from orchestrator_telemetry.errors import PayloadInvalid
from orchestrator_telemetry.schemas import FORMATS, schema_for, validate, validate_any

UCID = "abcdefgh12345678"
VERSIONS = events.Versions("v1", "v1.29.4+k3s1")
SLOT = datetime(2026, 11, 25, tzinfo=UTC)


def summary(**counts: int) -> dict[str, Any]:
    values = dict.fromkeys(events.SUMMARY_KEYS, 1) | counts
    return events.summary(UCID, VERSIONS, SLOT, values).to_capture()


def heartbeat() -> dict[str, Any]:
    return events.heartbeat(UCID, VERSIONS, SLOT).to_capture()


@pytest.mark.parametrize("name", list(events.EventName), ids=str)
def test_every_event_the_daemon_builds_matches_the_documented_schema(
    name: events.EventName,
) -> None:
    if name is events.EventName.SUMMARY:
        capture = summary()
    elif name is events.EventName.HEARTBEAT:
        capture = heartbeat()
    else:
        moment = datetime(2026, 11, 25, 1, 2, 3, 450000, tzinfo=UTC)
        capture = events.installer(name, UCID, VERSIONS, moment).to_capture()

    validate(capture, "documented", "full")


def test_a_count_that_failed_is_allowed_and_nothing_below_it() -> None:
    validate(summary(userCount=-1), "documented", "full")

    with pytest.raises(PayloadInvalid, match="userCount"):
        validate(summary(userCount=-2), "documented", "full")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["properties"].update(hostname="build-01"), "'hostname' was unexpected"),
        (lambda c: c["properties"]["summary"].update(podCount=3), "'podCount' was unexpected"),
        (lambda c: c["properties"]["summary"].pop("userCount"), "userCount"),
        (lambda c: c["properties"]["summary"].update(userCount="2"), "userCount"),
        (lambda c: c["properties"]["summary"].update(userCount=True), "userCount"),
        (lambda c: c["properties"].update(eventType=0), "eventType"),
        (lambda c: c["properties"].update(timestamp="2026-11-25 00:00:00"), "timestamp"),
        (lambda c: c["properties"].pop("serverVersion"), "serverVersion"),
    ],
)
def test_a_summary_with_anything_undocumented_is_refused_with_one_line(
    change: Any, named: str
) -> None:
    capture = copy.deepcopy(summary())
    change(capture)

    with pytest.raises(PayloadInvalid) as refused:
        validate_any(capture)

    assert named in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_heartbeat_may_not_carry_a_summary() -> None:
    capture = heartbeat()
    capture["properties"]["summary"] = summary()["properties"]["summary"]

    with pytest.raises(PayloadInvalid, match="'summary' was unexpected"):
        validate_any(capture)


def test_the_schema_is_closed_and_names_its_kind_and_format() -> None:
    schema = schema_for("Summary", "documented", "full")

    assert schema["additionalProperties"] is False
    assert schema["properties"]["summary"]["additionalProperties"] is False
    assert schema["title"] == "Summary documented full"
    assert "documented" in FORMATS


def test_an_unknown_format_or_event_is_an_error_not_a_schema() -> None:
    with pytest.raises(ValueError, match="unknown payload format"):
        schema_for("Summary", "undocumented", "full")
    with pytest.raises(ValueError, match="unknown event"):
        schema_for("Pageview", "documented", "full")
