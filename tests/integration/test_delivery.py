"""Delivery through the real posthog client to a local capture server, from a real outbox.

What PostHog receives, exactly; that an event is stored and sent once; and what each kind of
answer (5xx, timeout, 400, 401) and an event's age do to it in the outbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from sqlalchemy import Engine, func, select

from orchestrator_telemetry import events
from orchestrator_telemetry.deliver.sinks import PosthogSink
from orchestrator_telemetry.events import Event, Versions
from orchestrator_telemetry.state.outbox import Outbox, RetryPolicy
from orchestrator_telemetry.state.tables import outbox as outbox_table
from tests.support.capture import CaptureServer, Reply

pytestmark = pytest.mark.integration

API_KEY = "phc_deliverytestkey"
KEY_SOURCE = "OT_POSTHOG_API_KEY"
CLIENT_TIMEOUT = 1.0
UCID = "k3x9q2m7w4p8z1c6"
VERSIONS = Versions(devtron="v1", server="v1.29.4+k3s1")
SUMMARY_SLOT = datetime(2026, 3, 14, 0, 0, tzinfo=UTC)
HEARTBEAT_SLOT = datetime(2026, 3, 14, 6, 0, tzinfo=UTC)
COUNTS = {
    "cdCountPerDay": 3,
    "ciCountPerDay": 4,
    "clusterCount": 2,
    "environmentCount": 5,
    "nonProdAppCount": 1,
    "userCount": 7,
}
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


@dataclass
class MutableClock:
    """A clock the test moves by hand."""

    now: datetime

    def __call__(self) -> datetime:
        """Return the current time."""
        return self.now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by `delta`."""
        self.now += delta


@pytest.fixture(autouse=True)
def _posthog_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment must not switch the client's wire protocol or add properties."""
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)
    monkeypatch.delenv("POSTHOG_RELEASE_ID", raising=False)


@pytest.fixture
def clock() -> MutableClock:
    """Five minutes after the heartbeat slot: every event below is fresh."""
    return MutableClock(HEARTBEAT_SLOT + timedelta(minutes=5))


@pytest.fixture
def box(state: Engine, clock: MutableClock) -> Outbox:
    """An outbox with the default retry policy."""
    return Outbox(state, clock)


@pytest.fixture
def sink(capture: CaptureServer) -> Iterator[PosthogSink]:
    """The PostHog sink, pointed at the capture server."""
    posthog_sink = PosthogSink(
        API_KEY, host=capture.url, timeout=CLIENT_TIMEOUT, key_source=KEY_SOURCE
    )
    yield posthog_sink
    posthog_sink.close()


def a_summary() -> Event:
    return events.summary(UCID, VERSIONS, SUMMARY_SLOT, COUNTS)


def a_heartbeat() -> Event:
    return events.heartbeat(UCID, VERSIONS, HEARTBEAT_SLOT)


def row_of(state: Engine, event: Event) -> dict[str, Any]:
    """The event's outbox row."""
    with state.connect() as connection:
        row = connection.execute(select(outbox_table).where(outbox_table.c.uuid == event.uuid))
        return dict(row.mappings().one())


def row_count(state: Engine) -> int:
    with state.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(outbox_table)) or 0)


def own_properties(captured: dict[str, Any]) -> dict[str, Any]:
    """An event's properties without the `$` ones the posthog client adds."""
    return {k: v for k, v in captured["properties"].items() if not k.startswith("$")}


def uuids_posted(capture: CaptureServer) -> list[str]:
    """The uuid of every event posted, whatever the answer, in order."""
    return [event["uuid"] for request in capture.requests for event in request.batch]


# What PostHog receives ------------------------------------------------------------------------


def test_a_summary_arrives_exactly_in_the_documented_shape(
    box: Outbox, sink: PosthogSink, capture: CaptureServer
) -> None:
    event = a_summary()
    box.record(event)

    box.deliver(sink)

    [request] = capture.requests
    assert request.body["api_key"] == API_KEY
    [captured] = request.batch
    assert captured["event"] == "Summary"
    assert captured["distinct_id"] == UCID
    assert captured["uuid"] == str(events.event_uuid("Summary", UCID, SUMMARY_SLOT))
    assert captured["uuid"] == str(event.uuid)
    assert datetime.fromisoformat(captured["timestamp"]) == SUMMARY_SLOT
    properties = own_properties(captured)
    assert set(properties) == {
        "ucid",
        "timestamp",
        "eventType",
        "devtronVersion",
        "serverVersion",
        "summary",
    }
    assert properties["ucid"] == UCID
    assert properties["eventType"] == 6
    assert properties["devtronVersion"] == "v1"
    assert properties["serverVersion"] == "v1.29.4+k3s1"
    assert RFC3339_UTC.match(properties["timestamp"])
    assert datetime.fromisoformat(properties["timestamp"]) == SUMMARY_SLOT
    assert properties["summary"] == COUNTS
    assert all(type(value) is int for value in properties["summary"].values())


def test_a_heartbeat_arrives_exactly_in_the_documented_shape(
    box: Outbox, sink: PosthogSink, capture: CaptureServer
) -> None:
    event = a_heartbeat()
    box.record(event)

    box.deliver(sink)

    [request] = capture.requests
    assert request.body["api_key"] == API_KEY
    [captured] = request.batch
    assert captured["event"] == "Heartbeat"
    assert captured["distinct_id"] == UCID
    assert captured["uuid"] == str(events.event_uuid("Heartbeat", UCID, HEARTBEAT_SLOT))
    assert captured["uuid"] == str(event.uuid)
    assert datetime.fromisoformat(captured["timestamp"]) == HEARTBEAT_SLOT
    properties = own_properties(captured)
    assert set(properties) == {"ucid", "timestamp", "eventType", "devtronVersion", "serverVersion"}
    assert properties["ucid"] == UCID
    assert properties["eventType"] == 0
    assert properties["devtronVersion"] == "v1"
    assert properties["serverVersion"] == "v1.29.4+k3s1"
    assert RFC3339_UTC.match(properties["timestamp"])
    assert datetime.fromisoformat(properties["timestamp"]) == HEARTBEAT_SLOT


# Once ----------------------------------------------------------------------------------------


def test_an_event_recorded_twice_is_stored_once_and_sent_once(
    box: Outbox, sink: PosthogSink, capture: CaptureServer, state: Engine
) -> None:
    assert box.record(a_summary()) is True
    assert box.record(a_summary()) is False
    assert row_count(state) == 1

    first = box.deliver(sink)
    second = box.deliver(sink)

    assert [event.name for event in first.sent] == ["Summary"]
    assert [event.name for event in second.sent] == []
    assert len(capture.requests) == 1
    assert [event["uuid"] for event in capture.events] == [str(a_summary().uuid)]
    assert row_of(state, a_summary())["status"] == "sent"


# Failures that pass ---------------------------------------------------------------------------


def test_a_5xx_leaves_the_event_pending_and_its_retry_is_the_same_event(
    box: Outbox, sink: PosthogSink, capture: CaptureServer, state: Engine, clock: MutableClock
) -> None:
    event = a_summary()
    box.record(event)
    capture.respond_with(Reply.error(503), Reply.ok())

    failed = box.deliver(sink)

    assert failed.failed == ["Summary"]
    row = row_of(state, event)
    assert row["status"] == "pending"
    assert row["attempts"] == 1
    assert "503" in row["last_error"]
    assert row["next_attempt_at"] > clock.now
    assert box.deliver(sink).sent == []  # not retried before its backoff
    assert len(capture.requests) == 1

    retried = box.deliver(sink, ignore_backoff=True)

    assert [event.name for event in retried.sent] == ["Summary"]
    assert row_of(state, event)["status"] == "sent"
    assert [request.status for request in capture.requests] == [503, 200]
    assert uuids_posted(capture) == [str(event.uuid), str(event.uuid)]


def test_a_timeout_leaves_the_event_pending_and_its_retry_is_the_same_event(
    box: Outbox, sink: PosthogSink, capture: CaptureServer, state: Engine, clock: MutableClock
) -> None:
    event = a_summary()
    box.record(event)
    capture.respond_with(Reply.slow(CLIENT_TIMEOUT + 1.5, status=503), Reply.ok())

    failed = box.deliver(sink)

    assert failed.failed == ["Summary"]
    row = row_of(state, event)
    assert row["status"] == "pending"
    assert row["attempts"] == 1
    assert "Timeout" in row["last_error"]
    assert row["next_attempt_at"] > clock.now

    retried = box.deliver(sink, ignore_backoff=True)

    assert [event.name for event in retried.sent] == ["Summary"]
    assert row_of(state, event)["status"] == "sent"
    assert uuids_posted(capture) == [str(event.uuid), str(event.uuid)]
    assert [event["uuid"] for event in capture.events] == [str(event.uuid)]


# Failures that do not pass --------------------------------------------------------------------


def test_a_400_sets_the_event_aside_as_dead_and_the_pass_goes_on(
    box: Outbox, sink: PosthogSink, capture: CaptureServer, state: Engine
) -> None:
    rejected, other = a_summary(), a_heartbeat()  # the Summary's slot is older: it goes first
    box.record(rejected)
    box.record(other)
    capture.respond_with(Reply.error(400, "Invalid event: bad properties"))

    report = box.deliver(sink)

    assert report.dead == ["Summary"]
    assert [event.name for event in report.sent] == ["Heartbeat"]
    dead = row_of(state, rejected)
    assert dead["status"] == "dead"
    assert "400" in dead["last_error"]
    assert "Invalid event: bad properties" in dead["last_error"]
    assert row_of(state, other)["status"] == "sent"
    assert [event["uuid"] for event in capture.events] == [str(other.uuid)]

    assert box.deliver(sink, ignore_backoff=True).sent == []  # dead is never retried
    assert len(capture.requests) == 2


def test_a_401_keeps_the_event_and_names_where_the_key_came_from(
    box: Outbox, sink: PosthogSink, capture: CaptureServer, state: Engine
) -> None:
    event = a_summary()
    box.record(event)
    capture.respond_with(Reply.error(401, "Invalid API key."))

    with structlog.testing.capture_logs() as logged:
        report = box.deliver(sink)

    assert report.failed == ["Summary"]
    row = row_of(state, event)
    assert row["status"] == "pending"
    assert row["attempts"] == 1
    assert "401" in row["last_error"]
    assert KEY_SOURCE in row["last_error"]
    [failure] = [entry for entry in logged if entry["event"] == "delivery failed; will retry"]
    assert failure["log_level"] == "error"
    assert KEY_SOURCE in failure["reason"]
    assert failure["uuid"] == str(event.uuid)


def test_an_event_past_its_max_age_expires_unsent(
    state: Engine, sink: PosthogSink, capture: CaptureServer, clock: MutableClock
) -> None:
    policy = RetryPolicy(max_age={"Summary": timedelta(hours=12), "Heartbeat": timedelta(hours=1)})
    box = Outbox(state, clock, policy)
    event = a_summary()
    box.record(event)
    clock.now = SUMMARY_SLOT + timedelta(hours=12, seconds=1)

    report = box.deliver(sink)

    assert report.expired == ["Summary"]
    assert [event.name for event in report.sent] == []
    assert row_of(state, event)["status"] == "expired"
    assert capture.requests == []
    assert box.deliver(sink, ignore_backoff=True).sent == []
    assert capture.requests == []


# Every answer, classified ---------------------------------------------------------------------

PAYLOAD_REFUSED = (400, 413, 422)
KEY_REFUSED = (401, 403)
NOT_POSTHOG = (404, 405, 407, 408, 409, 410, 421, 451)
PASSING = (429, 500, 502, 503, 504)


@pytest.mark.parametrize("status", PAYLOAD_REFUSED)
def test_only_an_answer_about_the_payload_sets_an_event_aside(
    status: int, box: Outbox, sink: PosthogSink, capture: CaptureServer, state: Engine
) -> None:
    event = a_summary()
    box.record(event)
    capture.respond_with(Reply.error(status))

    report = box.deliver(sink)

    assert report.dead == ["Summary"]
    assert report.failure_kinds == ["rejected"]
    assert row_of(state, event)["status"] == "dead"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(status, "authentication") for status in KEY_REFUSED]
    + [(status, "configuration") for status in NOT_POSTHOG]
    + [(status, "transient") for status in PASSING],
)
def test_every_other_answer_keeps_the_event_and_the_fix_delivers_it(
    status: int,
    kind: str,
    *,
    box: Outbox,
    sink: PosthogSink,
    capture: CaptureServer,
    state: Engine,
) -> None:
    """A mistyped posthog.host answers 404: the events must wait for the fix, not die."""
    event = a_summary()
    box.record(event)
    capture.respond_with(Reply.error(status))

    with structlog.testing.capture_logs() as logged:
        failed = box.deliver(sink)
    fixed = box.deliver(sink, ignore_backoff=True)

    assert failed.failure_kinds == [kind]
    [line] = [entry for entry in logged if entry["event"] == "delivery failed; will retry"]
    assert line["kind"] == kind
    assert line["log_level"] == ("warning" if kind == "transient" else "error")
    assert [sent.uuid for sent in fixed.sent] == [event.uuid]
    assert row_of(state, event)["status"] == "sent"


def test_each_outcome_is_observed_the_moment_it_is_stored(
    state: Engine, sink: PosthogSink, capture: CaptureServer, clock: MutableClock
) -> None:
    policy = RetryPolicy(max_age={"Summary": timedelta(days=7), "Heartbeat": timedelta(hours=1)})
    box = Outbox(state, clock, policy)
    box.record(a_summary())
    box.record(a_heartbeat())
    box.record(events.heartbeat(UCID, VERSIONS, HEARTBEAT_SLOT - timedelta(hours=6)))
    capture.respond_with(Reply.error(400))
    seen: list[tuple[str, str]] = []

    box.deliver(sink, observe=lambda outcome, name: seen.append((outcome, name)))

    assert seen == [("expired", "Heartbeat"), ("rejected", "Summary"), ("sent", "Heartbeat")]


def test_a_failing_way_out_ends_the_pass_and_the_rest_wait_for_the_same_retry(
    box: Outbox, sink: PosthogSink, capture: CaptureServer, state: Engine, clock: MutableClock
) -> None:
    """Twenty events behind a PostHog that times out would otherwise cost twenty timeouts."""
    first, second = a_summary(), a_heartbeat()
    box.record(first)
    box.record(second)
    capture.respond_with(Reply.error(503))

    report = box.deliver(sink)

    assert report.failed == ["Summary"]
    assert len(capture.requests) == 1
    failed, waiting = row_of(state, first), row_of(state, second)
    assert waiting["attempts"] == 0
    assert waiting["next_attempt_at"] == failed["next_attempt_at"] > clock.now
    assert report.next_due == failed["next_attempt_at"]


def test_a_backlog_of_weeks_is_delivered_in_one_pass_oldest_first(
    state: Engine, sink: PosthogSink, capture: CaptureServer, clock: MutableClock
) -> None:
    box = Outbox(state, clock, RetryPolicy(max_age={}))  # nothing expires
    slots = [HEARTBEAT_SLOT - timedelta(hours=6 * n) for n in range(120)]  # past one page
    for slot in slots:
        box.record(events.heartbeat(UCID, VERSIONS, slot))

    report = box.deliver(sink)

    assert len(report.sent) == 120
    assert [datetime.fromisoformat(e["timestamp"]) for e in capture.events] == sorted(slots)
