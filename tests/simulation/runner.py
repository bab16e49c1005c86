"""Run seeds, check the invariants, shrink a failing schedule, and tell the figures."""

from __future__ import annotations

import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import repeat

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from orchestrator_telemetry.sandbox.devtron import create_schema, load_sample_data
from tests.simulation.faults import START, Fault, generate
from tests.simulation.invariants import violations
from tests.simulation.world import World, outbox_rows
from tests.support.capture import CaptureServer
from tests.support.database import PgServer


@dataclass
class Outcome:
    """One seed's run: its schedule, what broke, and what it did."""

    seed: int
    weeks: int
    replicas: int
    faults: list[Fault]
    problems: list[str]
    days: float
    runs: int
    injected: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0

    @property
    def passed(self) -> bool:
        """Whether every invariant held."""
        return not self.problems


def replicas_for(seed: int) -> int:
    """How many replicas a seed runs: one to five, fewer more often."""
    return random.Random(seed).choices((1, 2, 3, 4, 5), weights=(3, 3, 2, 1, 1))[0]


def simulate(server: PgServer, seed: int, weeks: int, faults: list[Fault] | None = None) -> Outcome:
    """Run one seed (or an explicit fault schedule) against fresh databases on `server`."""
    replicas = replicas_for(seed)
    schedule = generate(seed, weeks, replicas) if faults is None else faults
    orchestrator, state = server.new_database(), server.new_database()
    engine = create_engine(orchestrator, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            create_schema(connection)
            load_sample_data(connection, START)
    finally:
        engine.dispose()
    world = World(
        admin_url=server.url,
        orchestrator_url=orchestrator,
        state_url=state,
        seed=seed,
        weeks=weeks,
        replicas=replicas,
        faults=schedule,
    )
    with CaptureServer() as capture:
        findings = world.run(capture)
        requests = capture.requests
    rows = outbox_rows(state)
    server.drop_database(_name(orchestrator))
    server.drop_database(_name(state))
    problems = violations(findings, rows, requests, world.summary, world.heartbeat)
    accepted = [event for request in requests if request.status == 200 for event in request.batch]
    return Outcome(
        seed=seed,
        weeks=weeks,
        replicas=replicas,
        faults=schedule,
        problems=problems,
        days=(findings.end - START) / timedelta(days=1),
        runs=findings.runs,
        injected=findings.faults,
        events=Counter(str(row["status"]) for row in rows),
        duplicates=len(accepted) - len({event["uuid"] for event in accepted}),
    )


def shrink(server: PgServer, failing: Outcome) -> Outcome:
    """The smallest schedule found, by dropping one fault at a time, that still fails."""
    best = failing
    changed = True
    while changed:
        changed = False
        for index in range(len(best.faults)):
            fewer = best.faults[:index] + best.faults[index + 1 :]
            attempt = simulate(server, best.seed, best.weeks, fewer)
            if not attempt.passed:
                best, changed = attempt, True
                break
    return best


def explain(outcome: Outcome) -> str:
    """A failure as a person reads it: the seed to replay, the schedule, what broke."""
    lines = [
        f"seed {outcome.seed} ({outcome.weeks} weeks, {outcome.replicas} replicas) failed;"
        f" replay: make simulate SEEDS={outcome.seed} WEEKS={outcome.weeks}",
        f"shortest failing schedule ({len(outcome.faults)} faults):",
        *(f"  {fault.describe()}" for fault in outcome.faults),
        "broken:",
        *(f"  {problem}" for problem in outcome.problems[:20]),
    ]
    return "\n".join(lines)


def figures(outcomes: Iterable[Outcome], seconds: float) -> str:
    """The totals over many seeds, as the README shows them."""
    done = list(outcomes)
    injected: Counter[str] = Counter()
    events: Counter[str] = Counter()
    for outcome in done:
        injected.update(outcome.injected)
        events.update(outcome.events)
    failed = [outcome.seed for outcome in done if not outcome.passed]
    lines = [
        f"seeds: {len(done)}, simulated days: {sum(o.days for o in done):.0f}"
        f" ({sum(o.days for o in done) / 7:.0f} weeks), job runs: {sum(o.runs for o in done)},"
        f" wall time: {seconds:.0f} s",
        "faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(injected.items())),
        "events: " + ", ".join(f"{k} {v}" for k, v in sorted(events.items())),
        "events lost: 0 unless listed below; duplicate arrivals (same uuid, after a send whose"
        f" answer was lost): {sum(o.duplicates for o in done)}",
        f"failing seeds: {failed or 'none'}",
    ]
    return "\n".join(lines)


def run_seeds(
    server_url: str, seeds: Iterable[int], weeks: int, workers: int = 2
) -> tuple[list[Outcome], float]:
    """Run every seed, `workers` at a time in processes of their own; return outcomes and time."""
    started = time.monotonic()
    # Spawned, not forked: a worker starts from a clean interpreter, whatever threads are here.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        outcomes = list(pool.map(_simulate_on, repeat(server_url), seeds, repeat(weeks)))
    return outcomes, time.monotonic() - started


def _simulate_on(server_url: str, seed: int, weeks: int) -> Outcome:
    server = PgServer(server_url, drop_on_close=False)
    try:
        return simulate(server, seed, weeks)
    finally:
        server.close()


def _name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0]
