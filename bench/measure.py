"""Runs the strategies round-robin and measures every run: time, statements, wire and buffers.

Database time is what the server spent planning and executing the run's statements, from
pg_stat_statements (`total_plan_time + total_exec_time`, workers' time included in their
leader's): it leaves out the network and the client, which the wall time includes. Shared
buffers are the pages the run's statements asked of PostgreSQL's buffer cache (hits) or had to
read into it (reads), parallel workers included.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg2
from sqlalchemy import Engine, event, make_url, text

from .proxy import CountingProxy
from .strategies import Strategy

_SERVER_SIDE = text(
    "SELECT coalesce(sum(total_plan_time + total_exec_time), 0),"
    " coalesce(sum(shared_blks_hit), 0), coalesce(sum(shared_blks_read), 0)"
    " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = :db)"
)


@dataclass(frozen=True)
class Run:
    """One run of one strategy."""

    wall_ms: float  # at the client, from connecting to having the counts
    database_ms: float  # planning and execution on the server
    statements: int  # statements the code executed
    requests: int  # Query messages on the wire: statements plus BEGIN / ROLLBACK
    received: int  # bytes from the server, connection start-up included
    buffers_hit: int
    buffers_read: int
    counts: dict[str, Any]

    @property
    def buffers(self) -> int:
        """Shared-buffer pages the statements touched, found or read in."""
        return self.buffers_hit + self.buffers_read


@dataclass(frozen=True)
class Measured:
    """Every run of one strategy."""

    strategy: Strategy
    runs: list[Run]

    def median(self, field: str) -> float:
        """The median of `field` over the runs."""
        return float(statistics.median(getattr(run, field) for run in self.runs))

    def ratio_to(self, other: Measured, field: str = "database_ms") -> float:
        """The median over rounds of this run's `field` divided by `other`'s in the same round."""
        # Runs of one round follow each other within a second or two: a busy moment slows both,
        # so their ratio is steadier than the ratio of two medians.
        pairs = zip(self.runs, other.runs, strict=True)
        return float(statistics.median(getattr(a, field) / getattr(b, field) for a, b in pairs))

    @property
    def counts(self) -> dict[str, Any]:
        """The counts, which every run must agree on."""
        answers = {json.dumps(run.counts, sort_keys=True, default=str) for run in self.runs}
        if len(answers) != 1:
            raise AssertionError(f"{self.strategy.name}: runs disagree: {answers}")
        return self.runs[0].counts


class _StatementCounter:
    """Counts the statements each engine sends, as SQLAlchemy hands them to the driver."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args: Any) -> None:
        self.count += 1


class Meter:
    """Measures runs on one database: server statistics by `admin`, the wire by `proxy`."""

    def __init__(self, admin: Engine, database: str, proxy: CountingProxy) -> None:
        """Measure `database`'s statements through `admin`, an engine on another database."""
        self._admin = admin
        self._database = database
        self._proxy = proxy
        self._counters: dict[int, _StatementCounter] = {}

    def run(self, strategy: Strategy) -> Run:
        """Run `strategy` once and measure it."""
        counter = self._counter(strategy.engine)
        with self._admin.connect() as admin:
            admin.execute(text("SELECT pg_stat_statements_reset()"))
        self._proxy.take()
        counter.count = 0
        started = time.perf_counter()
        counts = strategy.run()
        wall_ms = (time.perf_counter() - started) * 1000
        traffic = self._proxy.take()
        with self._admin.connect() as admin:
            database_ms, hit, read = admin.execute(_SERVER_SIDE, {"db": self._database}).one()
        return Run(
            wall_ms=wall_ms,
            database_ms=float(database_ms),
            statements=counter.count,
            requests=traffic.requests,
            received=traffic.received,
            buffers_hit=int(hit),
            buffers_read=int(read),
            counts=counts,
        )

    def _counter(self, engine: Engine) -> _StatementCounter:
        if id(engine) not in self._counters:
            counter = _StatementCounter()
            event.listen(engine, "before_cursor_execute", counter)
            self._counters[id(engine)] = counter
        return self._counters[id(engine)]


def measure(meter: Meter, strategies: Iterable[Strategy], runs: int) -> dict[str, Measured]:
    """Each strategy `runs` times, round-robin so that a noisy moment hits them all alike."""
    chosen = list(strategies)
    for strategy in chosen:
        meter.run(strategy)  # warm-up: caches, and SQLAlchemy's first-connection queries
    measured = {strategy.name: Measured(strategy, []) for strategy in chosen}
    for index in range(runs):
        for strategy in chosen:
            run = meter.run(strategy)
            measured[strategy.name].runs.append(run)
            print(
                f"  run {index + 1}/{runs} {strategy.name:9} wall {run.wall_ms:7.1f} ms"
                f"  database {run.database_ms:7.1f} ms",
                flush=True,
            )
    return measured


def connection_start_bytes(proxy: CountingProxy, url: str) -> int:
    """Bytes the server sends to open one connection: authentication and parameter status."""
    parsed = make_url(url)
    proxy.take()
    connection = psycopg2.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        dbname=parsed.database,
        sslmode="disable",
        application_name="ot-bench-ours",
    )
    connection.close()
    time.sleep(0.1)  # the proxy counts in its own threads
    return proxy.take().received
