"""The documented event shapes, built by pure functions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from orchestrator_telemetry import events
from orchestrator_telemetry.events import ALLOWED_PROPERTIES, SUMMARY_KEYS, Versions

UCID = "abcdefgh12345678"
VERSIONS = Versions(devtron="v1", server="v1.29.4+k3s1")
SLOT = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
COUNTS = {
    "cdCountPerDay": 1,
    "ciCountPerDay": 1,
    "clusterCount": 1,
    "environmentCount": 1,
    "nonProdAppCount": 1,
    "userCount": 2,
}


def test_heartbeat_is_the_documented_shape() -> None:
    event = events.heartbeat(UCID, VERSIONS, SLOT)

    assert event.to_capture() == {
        "event": "Heartbeat",
        "distinct_id": UCID,
        "uuid": str(event.uuid),
        "timestamp": "2026-11-25T00:00:00Z",
        "properties": {
            "ucid": UCID,
            "timestamp": "2026-11-25T00:00:00Z",
            "eventType": 0,
            "devtronVersion": "v1",
            "serverVersion": "v1.29.4+k3s1",
        },
    }


def test_summary_nests_the_six_counts_in_documented_order() -> None:
    event = events.summary(UCID, VERSIONS, SLOT, COUNTS)

    properties = event.to_capture()["properties"]
    assert properties["eventType"] == 6
    assert list(properties["summary"]) == list(SUMMARY_KEYS)
    assert properties["summary"] == COUNTS
    # Key order is part of "byte for byte": the documented sample's order.
    assert json.dumps(properties).startswith('{"ucid": "abcdefgh12345678", "timestamp": ')


def test_only_allowlisted_properties_are_ever_built() -> None:
    for event in (
        events.heartbeat(UCID, VERSIONS, SLOT),
        events.summary(UCID, VERSIONS, SLOT, COUNTS),
    ):
        assert set(event.properties) <= ALLOWED_PROPERTIES
        assert event.distinct_id == event.properties["ucid"]


@pytest.mark.parametrize(
    "counts",
    [
        dict.fromkeys(SUMMARY_KEYS[:-1], 1),
        {**COUNTS, "hostname": 1},
    ],
    ids=["missing-count", "unknown-count"],
)
def test_summary_refuses_anything_but_the_six_counts(counts: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="summary counts"):
        events.summary(UCID, VERSIONS, SLOT, counts)


def test_uuid_is_derived_from_event_ucid_and_period() -> None:
    first = events.summary(UCID, VERSIONS, SLOT, COUNTS)
    again = events.summary(UCID, VERSIONS, SLOT, {**COUNTS, "userCount": 9})

    assert first.uuid == again.uuid  # same period: recognisably the same event
    assert events.heartbeat(UCID, VERSIONS, SLOT).uuid != first.uuid
    assert events.summary("zzzzzzzz12345678", VERSIONS, SLOT, COUNTS).uuid != first.uuid
    next_day = SLOT + timedelta(days=1)
    assert events.summary(UCID, VERSIONS, next_day, COUNTS).uuid != first.uuid


def test_the_same_instant_in_another_zone_is_the_same_period() -> None:
    plus_two = SLOT.astimezone(timezone(timedelta(hours=2)))

    assert events.event_uuid("Summary", UCID, plus_two) == events.event_uuid("Summary", UCID, SLOT)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2021, 6, 29, 7, 33, 2, 1372, tzinfo=UTC), "2021-06-29T07:33:02.001372Z"),
        (datetime(2021, 6, 29, 7, 33, 2, 500000, tzinfo=UTC), "2021-06-29T07:33:02.5Z"),
        (datetime(2021, 6, 29, 7, 33, 2, tzinfo=UTC), "2021-06-29T07:33:02Z"),
        (
            datetime(2021, 6, 29, 9, 33, 2, tzinfo=timezone(timedelta(hours=2))),
            "2021-06-29T07:33:02Z",
        ),
    ],
)
def test_timestamps_are_rfc3339_utc_like_go(moment: datetime, text: str) -> None:
    assert events.rfc3339(moment) == text


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        events.rfc3339(datetime(2021, 6, 29))
