"""Who records and who sends: claims that never hold a transaction across I/O, and the key.

One event per (event, installation, period) is the database's unique constraint; which replica
queries the orchestrator or calls PostHog is decided by session advisory locks that a loser skips.
Neither the orchestrator query nor the PostHog call ever runs inside a state transaction.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from orchestrator_telemetry import events
from orchestrator_telemetry.deliver.sinks import PosthogSink
from orchestrator_telemetry.events import Event, Versions
from orchestrator_telemetry.state.outbox import Outbox
from orchestrator_telemetry.state.tables import outbox as outbox_table
from tests.support.capture import CaptureServer, Reply

pytestmark = pytest.mark.integration

VERSIONS = Versions(devtron="v1", server="v1.29.4")
SLOT = datetime(2026, 3, 14, 0, 0, tzinfo=UTC)
FIRST, SECOND = "firstinstall0000", "secondinstall000"


@pytest.fixture
def box(state: Engine) -> Outbox:
    return Outbox(state, lambda: SLOT + timedelta(minutes=5))


def heartbeat(ucid: str) -> Event:
    return events.heartbeat(ucid, VERSIONS, SLOT)


def open_transactions(engine: Engine) -> int:
    """Sessions of this database idle inside a transaction, seen from a connection of its own."""
    with engine.connect() as connection:
        count = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        )
    return int(count or 0)


def test_two_installations_sharing_a_state_database_each_record_their_period(
    box: Outbox, state: Engine
) -> None:
    assert box.record(heartbeat(FIRST)) is True
    assert box.record(heartbeat(SECOND)) is True
    assert box.record(heartbeat(SECOND)) is False

    with state.connect() as connection:
        rows = connection.execute(select(outbox_table.c.distinct_id).order_by("distinct_id"))
        assert list(rows.scalars()) == [FIRST, SECOND]


def test_the_database_itself_refuses_a_second_event_for_one_installation_and_period(
    state: Engine,
) -> None:
    """Bypasses the outbox and its claims: only the unique constraint stands in the way.

    With the constraint dropped (`ALTER TABLE ... DROP CONSTRAINT
    outbox_one_per_installation_period`), the second insert succeeds and this test fails.
    """
    values = {
        "event": "Heartbeat",
        "distinct_id": FIRST,
        "period": SLOT,
        "timestamp": SLOT,
        "properties": {},
        "next_attempt_at": SLOT,
    }
    with state.begin() as connection:
        connection.execute(outbox_table.insert().values(uuid=heartbeat(FIRST).uuid, **values))
    second = outbox_table.insert().values(uuid=heartbeat(SECOND).uuid, **values)
    with (
        pytest.raises(IntegrityError, match="outbox_one_per_installation_period"),
        state.begin() as connection,
    ):
        connection.execute(second)


def test_replicas_racing_for_one_period_query_the_orchestrator_once_and_losers_skip(
    box: Outbox, state: Engine
) -> None:
    """The claim, not the constraint, keeps the losers from querying: without it all eight build."""
    builds: list[str] = []
    started = threading.Barrier(8)

    def build() -> Event:
        builds.append(threading.current_thread().name)
        threading.Event().wait(0.5)  # a slow orchestrator query; the others arrive meanwhile
        return heartbeat(FIRST)

    def replica(_: int) -> Event | None:
        started.wait()
        return box.record_once("Heartbeat", FIRST, SLOT, build)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(replica, range(8)))

    assert len(builds) == 1
    assert sum(result is not None for result in results) == 1
    with state.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(outbox_table)) == 1


def test_no_state_transaction_is_open_while_the_event_is_built(box: Outbox, state: Engine) -> None:
    seen: list[int] = []

    def build() -> Event:
        seen.append(open_transactions(state))
        return heartbeat(FIRST)

    assert box.record_once("Heartbeat", FIRST, SLOT, build) is not None
    assert seen == [0]


def test_a_server_killing_idle_transactions_cannot_stop_a_slow_recording(
    orchestrator_db_url: str, box: Outbox, state: Engine
) -> None:
    admin = create_engine(orchestrator_db_url, poolclass=NullPool)
    try:
        with admin.begin() as connection:
            database = connection.scalar(text("SELECT current_database()"))
            connection.execute(
                text(f'ALTER DATABASE "{database}" SET idle_in_transaction_session_timeout = 200')
            )

        def slow_build() -> Event:
            threading.Event().wait(1.0)  # five times the server's patience
            return heartbeat(FIRST)

        recorded = box.record_once("Heartbeat", FIRST, SLOT, slow_build)
    finally:
        admin.dispose()

    assert recorded is not None
    assert box.status_of("Heartbeat", FIRST, SLOT) == "pending"


def test_no_transaction_or_row_lock_is_held_while_posthog_is_called(
    box: Outbox, state: Engine
) -> None:
    event = heartbeat(FIRST)
    box.record(event)
    with CaptureServer() as server:
        server.respond_with(Reply.slow(1.5, 200))
        sink = PosthogSink("phc_claimtest", host=server.url, timeout=5, key_source="test")
        sending = threading.Thread(target=box.deliver, args=(sink,))
        sending.start()
        try:
            server.wait_for_requests(1, timeout=10)
            in_flight_transactions = open_transactions(state)
            with state.begin() as connection:  # would wait, then fail, on a locked row
                connection.execute(text("SET LOCAL lock_timeout = '100ms'"))
                locked = connection.execute(
                    select(outbox_table.c.status)
                    .where(outbox_table.c.uuid == event.uuid)
                    .with_for_update(nowait=True)
                ).scalar_one()
        finally:
            sending.join(timeout=20)
            sink.close()

    assert in_flight_transactions == 0
    assert locked == "pending"  # readable and lockable while its send is in flight
    assert box.status_of("Heartbeat", FIRST, SLOT) == "sent"


def test_a_replica_finding_an_event_in_flight_elsewhere_skips_it(box: Outbox) -> None:
    event = heartbeat(FIRST)
    box.record(event)
    with CaptureServer() as server:
        server.respond_with(Reply.slow(1.5, 200))
        first = PosthogSink("phc_claimtest", host=server.url, timeout=5, key_source="test")
        second = PosthogSink("phc_claimtest", host=server.url, timeout=5, key_source="test")
        sending = threading.Thread(target=box.deliver, args=(first,))
        sending.start()
        try:
            server.wait_for_requests(1, timeout=10)
            other = box.deliver(second)
        finally:
            sending.join(timeout=20)
            first.close()
            second.close()
        posted = len(server.requests)

    assert other.busy == 1
    assert other.sent == []
    assert posted == 1


def test_a_state_connection_lost_while_building_fails_as_a_database_error(
    box: Outbox, state: Engine
) -> None:
    """Not as a crash on the way out: the release of a claim on a lost connection is moot."""

    def build() -> Event:
        with state.connect() as other:
            other.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        return heartbeat(FIRST)

    with pytest.raises(OperationalError):
        box.record_once("Heartbeat", FIRST, SLOT, build)
    assert box.status_of("Heartbeat", FIRST, SLOT) is None
