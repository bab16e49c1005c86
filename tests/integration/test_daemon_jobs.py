"""The daemon's jobs run in-process on an injected clock: retries, watchdog, owed Heartbeat."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text

from orchestrator_telemetry.app import App, application, retry_policy
from orchestrator_telemetry.config import load
from orchestrator_telemetry.daemon import Daemon
from orchestrator_telemetry.deliver.sinks import MemorySink
from orchestrator_telemetry.errors import Unavailable
from orchestrator_telemetry.sandbox.postgres import free_port
from orchestrator_telemetry.state.outbox import _event_lock
from tests.support.slots import settled_schedules

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
UCID = "daemonjobs000000"


class Clock:
    """A clock the test sets."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def daemon_on(
    url: str,
    clock: Clock,
    *,
    server_version: Callable[[], str] = lambda: "v1.29.4",
    longest_step: timedelta = timedelta(minutes=15),
    **variables: str,
) -> Iterator[tuple[Daemon, App]]:
    """A daemon over the real composition, its scheduler not started: jobs run when called."""
    config = load(
        None,
        {
            "OT_DATABASE_URL": url,
            "OT_IDENTITY_UCID": UCID,
            "OT_SCHEDULE_SUMMARY": "0 0 * * *",
            "OT_SCHEDULE_HEARTBEAT": "0 */6 * * *",
            "OT_KUBERNETES_ENABLED": "false",
            **variables,
        },
    )
    with application(config, clock, MemorySink(), server_version=server_version) as app:
        yield (
            Daemon(
                app.telemetry,
                clock=clock,
                misfire_grace_time=3600,
                heartbeat_at_start=True,
                retry=retry_policy(config.settings),
                longest_step=longest_step,
            ),
            app,
        )


def recorded(engine: Engine, name: str) -> list[datetime]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT period FROM orchestrator_telemetry.outbox WHERE event = :name"),
            {"name": name},
        )
        return sorted(rows.scalars())


def test_a_failing_run_is_retried_with_doubling_backoff_capped_for_any_number_of_failures() -> None:
    """A day of a database outage used to overflow the backoff and stop retries for good."""
    closed = f"postgresql://devtron:pw@127.0.0.1:{free_port()}/orchestrator?connect_timeout=1"
    clock = Clock(DAY + timedelta(hours=1))
    with daemon_on(closed, clock, OT_DELIVERY_RETRY_INITIAL="60") as (daemon, _):
        waits: list[timedelta] = []
        for _ in range(60):
            daemon.run_job("retry")
            retry_at = daemon.take_retry()
            assert retry_at is not None
            waits.append(retry_at - clock.now)
            clock.now = retry_at

    assert timedelta(seconds=30) <= waits[0] <= timedelta(seconds=60)
    assert timedelta(seconds=60) <= waits[1] <= timedelta(seconds=120)
    assert all(wait <= timedelta(hours=1) for wait in waits)
    assert all(wait >= timedelta(minutes=30) for wait in waits[7:])


def test_a_long_catch_up_that_keeps_progressing_is_alive_and_a_stuck_step_is_not(
    orchestrator_db_url: str,
) -> None:
    """The watchdog measures each step, not the whole job: a week of slots may take minutes."""
    clock = Clock(DAY + timedelta(hours=1))
    delay = [0.0]

    def slow_version() -> str:
        time.sleep(delay[0])  # the Kubernetes API answering slowly, once per event built
        return "v1.29.4"

    # Schedules that cannot fire on the wall clock during the test: only the test runs jobs.
    quiet = settled_schedules()
    with daemon_on(
        orchestrator_db_url,
        clock,
        server_version=slow_version,
        longest_step=timedelta(seconds=1),
        OT_SCHEDULE_SUMMARY=quiet.summary,
        OT_SCHEDULE_HEARTBEAT=quiet.heartbeat,
    ) as (daemon, _):
        daemon.run_job("startup")  # the first Summary: the catch-up below starts from it
        daemon.start()  # alive() also asks whether the scheduler's thread runs
        clock.now += timedelta(days=6)
        delay[0] = 0.4
        catching_up = threading.Thread(target=daemon.run_job, args=("retry",))
        catching_up.start()
        alive_while_catching_up = watch(daemon, until=catching_up)
        clock.now += timedelta(days=1)
        delay[0] = 1.6
        stuck = threading.Thread(target=daemon.run_job, args=("summary",))
        stuck.start()
        alive_while_stuck = watch(daemon, until=stuck)
        daemon.stop(timeout=5)

    assert len(alive_while_catching_up) * 0.05 > 2.0  # six slots, 0.4 s each: past the limit
    assert all(alive_while_catching_up)
    assert not all(alive_while_stuck)


def watch(daemon: Daemon, until: threading.Thread) -> list[bool]:
    """Sample `daemon.alive()` every 50 ms while `until` runs."""
    samples: list[bool] = []
    while until.is_alive():
        samples.append(daemon.alive())
        time.sleep(0.05)
    return samples


def test_a_heartbeat_tick_queued_behind_a_run_stays_owed_when_it_fails(
    orchestrator_db_url: str, orchestrator_engine: Engine
) -> None:
    """The tick used to mark its Heartbeat owed before waiting, and the run ahead cleared it."""
    clock = Clock(DAY + timedelta(hours=1))
    outcomes: list[BaseException | None] = []

    def version() -> str:
        # The run ahead builds its Summary; the Heartbeat tick behind it fails to build.
        failure = outcomes.pop(0) if outcomes else None
        if failure is not None:
            raise failure
        return "v1.29.4"

    with daemon_on(orchestrator_db_url, clock, server_version=version) as (daemon, app):
        daemon.run_job("startup")
        clock.now = DAY + timedelta(days=1, minutes=30)  # a new Summary and Heartbeat slot
        outcomes.extend([None, Unavailable("kubernetes: /version did not answer")])
        with orchestrator_engine.connect() as blocker:
            blocker.execute(text("LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE"))
            ahead = threading.Thread(target=daemon.run_job, args=("summary",))
            ahead.start()
            assert eventually(lambda: waiting_on_a_lock(orchestrator_engine))
            behind = threading.Thread(target=daemon.run_job, args=("heartbeat",))
            behind.start()
            time.sleep(0.3)  # the tick is queued behind the running job
            blocker.rollback()
        ahead.join(timeout=10)
        behind.join(timeout=10)
        assert recorded(app.engines[1], "Heartbeat") == [DAY]  # the tick's own run failed

        daemon.run_job("retry")

        assert recorded(app.engines[1], "Heartbeat") == [DAY, DAY + timedelta(days=1)]


def waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
        )
    return bool(waiting)


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_slot_another_replica_claimed_and_failed_to_record_is_found_again(
    orchestrator_db_url: str,
) -> None:
    """Only slots after the latest recorded one used to be looked at: a gap behind stayed."""
    clock = Clock(DAY + timedelta(hours=1))
    with daemon_on(orchestrator_db_url, clock) as (daemon, app):
        daemon.run_job("startup")
        clock.now = DAY + timedelta(days=3, hours=1)
        claimed = DAY + timedelta(days=1)
        with app.engines[1].connect() as other_replica:
            other_replica.execute(
                select(func.pg_advisory_lock(_event_lock("Summary", UCID, claimed)))
            )
            daemon.run_job("summary")  # skips the claimed slot, records the two after it
            skipped = recorded(app.engines[1], "Summary")
        # The other replica died before recording: its claim went with its connection.
        daemon.run_job("retry")

        assert recorded(app.engines[1], "Summary") == [DAY + timedelta(days=n) for n in range(4)]
    assert claimed not in skipped
    assert len(skipped) == 3
