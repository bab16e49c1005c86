"""Simulated days of the daemon's ticks on a fast clock, in a process of their own.

Run by the benchmark as `python -m bench.soak DATABASE_URL STATE_URL DAYS`. It composes the
daemon exactly as `run` does (configuration, engines, outbox, sink; the scheduler's modules
imported), then, for each simulated day, runs the Summary tick at 00:00 and the Heartbeat ticks
at 00:00, 06:00, 12:00 and 18:00 as the daemon's jobs do (record what is due, then deliver),
and prints one JSON object: resident memory at start and after each day, and the connections
the daemon held between ticks.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timedelta

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

import orchestrator_telemetry.daemon  # noqa: F401 - loaded by `run` too, so counted alike
from orchestrator_telemetry import logs
from orchestrator_telemetry.app import application
from orchestrator_telemetry.config import load
from orchestrator_telemetry.deliver.sinks import ConsoleSink
from orchestrator_telemetry.service import Telemetry

from .generate import ANCHOR

APPLICATION_NAME = "ot-bench-soak"


class FastClock:
    """A clock that shows whatever time the simulation sets."""

    def __init__(self, now: datetime) -> None:
        """Start at `now`."""
        self.now = now

    def __call__(self) -> datetime:
        """The simulated time."""
        return self.now


def resident_kb(pid: int | str = "self") -> int:
    """Resident set size of a process, in kB (VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def held_connections(observer: Engine, application_name: str) -> int:
    """Sessions named `application_name`, once closed ones have had a moment to go."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = :name AND backend_type = 'client backend'"
    )
    deadline = time.monotonic() + 2
    while True:
        with observer.connect() as conn:
            found = int(conn.execute(query, {"name": application_name}).scalar_one())
        if found == 0 or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _tick(telemetry: Telemetry, clock: FastClock, at: datetime) -> None:
    """What the daemon's jobs do at `at`: the Summary job at midnight, the Heartbeat job."""
    clock.now = at + timedelta(seconds=1)
    if at.hour == 0:
        telemetry.prepare()
        telemetry.catch_up(heartbeat=False)
        telemetry.deliver()
    telemetry.prepare()
    telemetry.catch_up(heartbeat=True)
    telemetry.deliver()


def main(argv: list[str]) -> None:
    """Run the simulation and print its report as JSON."""
    database_url, state_url, days = argv[0], argv[1], int(argv[2])
    environ = {
        "OT_DATABASE_URL": database_url,
        "OT_STATE_URL": state_url,
        "OT_DATABASE_APPLICATION_NAME": APPLICATION_NAME,
        "OT_DELIVERY_SINK": "console",
        "OT_KUBERNETES_ENABLED": "false",
        "OT_LOG_LEVEL": "warning",
        "OT_LOG_FORMAT": "json",
    }
    config = load(None, environ)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole simulation
    logs.configure("warning", "json", config.settings.secrets(), stream=devnull)
    clock = FastClock(ANCHOR + timedelta(seconds=30))
    observer = create_engine(state_url, poolclass=NullPool)
    report: dict[str, object] = {"days": days}
    held: list[int] = []
    ticks = 1
    with application(config, clock, sink=ConsoleSink(devnull)) as app:
        telemetry = app.telemetry
        telemetry.prepare()  # what the daemon's start-up job does
        telemetry.catch_up(heartbeat=True)
        telemetry.deliver()
        report["rss_start_kb"] = resident_kb()
        held.append(held_connections(observer, APPLICATION_NAME))
        after_day: list[int] = []
        for day in range(days):
            for hour in (0, 6, 12, 18):
                _tick(telemetry, clock, ANCHOR + timedelta(days=day + 1, hours=hour))
                ticks += 1
                held.append(held_connections(observer, APPLICATION_NAME))
            after_day.append(resident_kb())
        report["rss_after_day_kb"] = after_day
        report["ticks"] = ticks
        report["outbox"] = telemetry.outbox.status_counts()
    observer.dispose()
    report["held_connections_max"] = max(held)
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
