"""The daemon (`run`) as a process: delivers at start, stops cleanly on a signal, sends once."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from orchestrator_telemetry.sandbox.demo import as_summary
from orchestrator_telemetry.sandbox.devtron import load_sample_data
from tests.support.capture import MAX_DELAY_SECONDS, CaptureServer, Reply
from tests.support.cli import API_KEY, CliProcess, cli_env, plain_url
from tests.support.slots import settled_schedules

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT = 10.0  # generous: the first run needs a process start and a migration
SHUTDOWN_TIMEOUT = 10.0  # the grace period a container runtime gives before SIGKILL
# Every daemon started here reports these slots, whatever the time of day the suite runs.
SCHEDULES = settled_schedules()


@dataclass(frozen=True)
class Sample:
    """The sample installation's latest Summary slot and the counts its Summary must show."""

    slot: datetime
    summary: dict[str, int]


@pytest.fixture
def sample(orchestrator_engine: Engine) -> Sample:
    """Load the sample installation, dated at the latest slot of the Summary schedule."""
    slot = SCHEDULES.summary_slot
    with orchestrator_engine.begin() as connection:
        counts = load_sample_data(connection, slot)
    return Sample(slot, as_summary(counts))


@pytest.fixture
def env(orchestrator_db_url: str, capture: CaptureServer) -> dict[str, str]:
    """The daemon's whole environment: this database, the capture server, JSON logs.

    The application name is this test's own, so its connections can be told from any other's.
    """
    return cli_env(
        OT_DATABASE_URL=plain_url(orchestrator_db_url),
        OT_DATABASE_APPLICATION_NAME=f"ot-test-{uuid.uuid4().hex[:12]}",
        OT_POSTHOG_HOST=capture.url,
        OT_POSTHOG_API_KEY=API_KEY,
        **SCHEDULES.env(),
    )


def eventually(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` passes; return whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def connections_named(engine: Engine, application_name: str) -> int:
    with engine.connect() as connection:
        count = connection.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": application_name},
        )
    return int(count or 0)


def is_startup_run(line: dict[str, Any]) -> bool:
    return line["msg"] == "job finished" and line.get("job") == "startup"


def lock_users_table(connection: Connection) -> None:
    """Hold an exclusive lock on `users` until `connection` rolls back: Summary counts wait."""
    connection.execute(text("LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_delivers_at_start_and_stops_cleanly_on_a_signal(
    signum: signal.Signals,
    env: dict[str, str],
    capture: CaptureServer,
    orchestrator_engine: Engine,
    sample: Sample,
) -> None:
    application_name = env["OT_DATABASE_APPLICATION_NAME"]
    with ExitStack() as stack:
        # Held up on a locked table, the daemon's connection is visible under its name: so
        # "none left" at the end is a finding, not a name that was never used.
        blocker = stack.enter_context(orchestrator_engine.connect())
        lock_users_table(blocker)
        daemon = stack.enter_context(CliProcess("run", env=env))
        waiting = eventually(
            lambda: connections_named(orchestrator_engine, application_name) > 0, STARTUP_TIMEOUT
        )
        assert waiting, daemon.describe()
        blocker.rollback()

        delivered = eventually(
            lambda: (
                bool(capture.events_named("Summary")) and bool(capture.events_named("Heartbeat"))
            ),
            STARTUP_TIMEOUT,
        )
        assert delivered, daemon.describe()
        [summary] = capture.events_named("Summary")
        assert summary["properties"]["summary"] == sample.summary
        assert datetime.fromisoformat(summary["timestamp"]) == sample.slot

        code = daemon.stop(signum, timeout=SHUTDOWN_TIMEOUT)

        assert code == 0, daemon.describe()
        logs = daemon.logs
        assert logs[-1]["msg"] == "stopped", daemon.describe()
        assert [line for line in logs if line["level"] in {"error", "critical"}] == []
        assert daemon.stderr_lines == []
    # A backend goes away a moment after its client: allow it that moment, not more.
    gone = eventually(lambda: connections_named(orchestrator_engine, application_name) == 0, 3.0)
    assert gone


def test_a_restart_in_the_same_period_sends_nothing_twice(
    env: dict[str, str], capture: CaptureServer
) -> None:
    with CliProcess("run", env=env) as first:
        started = first.wait_for_log(is_startup_run, STARTUP_TIMEOUT)
        assert started["outcome"] == "ok", first.describe()
        assert started["sent"] == 2, first.describe()
        assert first.stop() == 0, first.describe()
    assert len(capture.events_named("Summary")) == 1
    assert len(capture.events_named("Heartbeat")) == 1

    with CliProcess("run", env=env) as second:
        restarted = second.wait_for_log(is_startup_run, STARTUP_TIMEOUT)
        assert restarted["outcome"] == "ok", second.describe()
        assert restarted["recorded"] == [], second.describe()
        assert restarted["sent"] == 0, second.describe()
        assert second.stop() == 0, second.describe()

    assert len(capture.events_named("Summary")) == 1
    assert len(capture.events_named("Heartbeat")) == 1
    assert len(capture.requests) == 2


def test_a_signal_during_a_stuck_run_still_stops_within_the_grace_period(
    env: dict[str, str],
    capture: CaptureServer,
    orchestrator_engine: Engine,
    sample: Sample,
) -> None:
    # Stuck inside a send: both events are recorded, the first is on the wire, and PostHog
    # neither accepts it nor answers before the daemon must go.
    capture.respond_with(Reply.slow(MAX_DELAY_SECONDS, 503))
    stuck_env = {**env, "OT_POSTHOG_TIMEOUT": str(MAX_DELAY_SECONDS * 3)}
    with CliProcess("run", env=stuck_env) as stuck:
        [in_flight] = capture.wait_for_requests(1, timeout=STARTUP_TIMEOUT)

        code = stuck.stop(signal.SIGTERM, timeout=SHUTDOWN_TIMEOUT)

        assert code == 0, stuck.describe()
        messages = [line["msg"] for line in stuck.logs]
        assert "abandoning the running job at shutdown; its work stays pending" in messages
        assert messages[-1] == "stopped", stuck.describe()
    [abandoned] = in_flight.batch
    assert capture.events == []
    assert outbox_statuses(orchestrator_engine) == {"Summary": "pending", "Heartbeat": "pending"}

    with CliProcess("run", env=env) as restarted:
        started = restarted.wait_for_log(is_startup_run, STARTUP_TIMEOUT)
        assert started["outcome"] == "ok", restarted.describe()
        assert started["recorded"] == [], restarted.describe()  # delivered, not built again
        assert started["sent"] == 2, restarted.describe()
        assert restarted.stop() == 0, restarted.describe()

    # The abandoned event is not lost: the next start delivers it, the same event, once.
    accepted = capture.events
    assert [event["uuid"] for event in accepted].count(abandoned["uuid"]) == 1
    assert sorted(event["event"] for event in accepted) == ["Heartbeat", "Summary"]
    [summary] = capture.events_named("Summary")
    assert summary["properties"]["summary"] == sample.summary
    assert outbox_statuses(orchestrator_engine) == {"Summary": "sent", "Heartbeat": "sent"}


def test_a_signal_during_a_stuck_count_still_stops_within_the_grace_period(
    env: dict[str, str],
    capture: CaptureServer,
    orchestrator_engine: Engine,
    sample: Sample,
) -> None:
    application_name = env["OT_DATABASE_APPLICATION_NAME"]
    with orchestrator_engine.connect() as blocker:
        lock_users_table(blocker)  # the Summary's counts wait on it: the run is stuck
        with CliProcess("run", env=env) as stuck:
            waiting = eventually(
                lambda: connections_named(orchestrator_engine, application_name) > 0,
                STARTUP_TIMEOUT,
            )
            assert waiting, stuck.describe()

            code = stuck.stop(signal.SIGTERM, timeout=SHUTDOWN_TIMEOUT)

            assert code == 0, stuck.describe()
            assert stuck.logs[-1]["msg"] == "stopped", stuck.describe()
        blocker.rollback()
    assert capture.events == []

    with CliProcess("run", env=env) as restarted:
        started = restarted.wait_for_log(is_startup_run, STARTUP_TIMEOUT)
        assert started["outcome"] == "ok", restarted.describe()
        assert restarted.stop() == 0, restarted.describe()
    [summary] = capture.events_named("Summary")
    assert summary["properties"]["summary"] == sample.summary
    assert len(capture.events_named("Heartbeat")) == 1


def outbox_statuses(engine: Engine) -> dict[str, str]:
    """The status of each event in the daemon's outbox, by event name."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT event, status FROM orchestrator_telemetry.outbox"))
        return {row.event: row.status for row in rows}
