"""`python -m bench`: generate (or reuse) the database, measure, and write BENCHMARKS.md."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.dialects import postgresql
from sqlalchemy.pool import NullPool

from orchestrator_telemetry.collect.catalogue import queried
from orchestrator_telemetry.collect.statements import statement
from orchestrator_telemetry.config import DatabaseSettings
from orchestrator_telemetry.database import orchestrator_engine

from . import footprint, report
from .generate import DATABASE, Generated, cache_home, ensure
from .measure import Measured, Meter, connection_start_bytes, measure
from .proxy import CountingProxy
from .server import CachedPostgres
from .strategies import WINDOW, Strategy, build

REPORT = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
# What an operator may add (README, "Performance"); created here only, and dropped again.
OPERATOR_INDEXES = {
    "bench_pipeline_created_on": "CREATE INDEX bench_pipeline_created_on"
    " ON public.pipeline (created_on)",
    "bench_ci_pipeline_created_on": "CREATE INDEX bench_ci_pipeline_created_on"
    " ON public.ci_pipeline (created_on)",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = _parser().parse_args(argv)
    at_full_size = args.scale == 1
    path = args.report or (str(REPORT) if at_full_size else None)
    home = cache_home(args.seed, args.scale)
    with CachedPostgres(home) as server:
        generated_now = not (home / "generated.json").exists()
        generated = ensure(server, args.seed, args.scale)
        admin = create_engine(
            server.url("postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        orchestrator = create_engine(
            server.url(DATABASE), poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        proxy = CountingProxy(server.port)
        proxy.start()
        strategies = build(server.url(DATABASE, port=proxy.port))
        try:
            _drop_indexes(orchestrator)  # left by an interrupted run
            load = report.load_average()
            meter = Meter(admin, DATABASE, proxy)
            print(f"measuring {args.runs} runs of each strategy", flush=True)
            main_results = measure(meter, strategies, args.runs)
            _check(dict(main_results), generated)
            plan = _explain(server.url(DATABASE))
            indexed: dict[str, Measured] = {}
            indexes: list[report.Index] = []
            if not args.no_indexes:
                print("measuring with the operator indexes", flush=True)
                with _indexes(orchestrator) as indexes:
                    chosen = [s for s in strategies if s.name in {"ours", "go", "floor"}]
                    indexed = measure(meter, chosen, args.runs)
                _check(dict(indexed), generated)
            daemon = soak = None
            paths: list[footprint.PathFootprint] = []
            imports: list[footprint.ImportCost] = []
            if not args.no_footprint:
                imports = footprint.import_costs()
                print("measuring the daemon as the image runs it, on both paths", flush=True)
                paths = footprint.paths(server, DATABASE)
                print(f"measuring the daemon: start, {args.idle_seconds:.0f} s idle", flush=True)
                daemon = footprint.daemon(server, DATABASE, args.idle_seconds)
                print(f"simulating {args.soak_days} days of ticks", flush=True)
                soak = footprint.soak(server, DATABASE, args.soak_days)
            results = report.Results(
                generated=generated,
                generated_now=generated_now,
                runs=args.runs,
                main=main_results,
                indexed=indexed,
                indexes=indexes,
                plan=plan,
                startup_bytes=connection_start_bytes(proxy, server.url(DATABASE, port=proxy.port)),
                daemon=daemon,
                soak=soak,
                paths=paths,
                imports=imports,
                machine=report.describe_machine(
                    admin, f"{load} before the timed runs, {report.load_average()} at the end"
                ),
                finished=report.now(),
            )
        finally:
            _dispose(strategies, admin, orchestrator)
            proxy.close()
    report.write(results, path)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the Summary collection against a large orchestrator database.",
    )
    parser.add_argument("--seed", type=int, default=1, help="data generation seed (default 1)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="size relative to the issue's (default 1)"
    )
    parser.add_argument("--runs", type=int, default=7, help="measured runs per strategy (7)")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="daemon idle time (60)")
    parser.add_argument("--soak-days", type=int, default=7, help="simulated days of ticks (7)")
    parser.add_argument("--no-indexes", action="store_true", help="skip the index comparison")
    parser.add_argument("--no-footprint", action="store_true", help="skip the daemon's footprint")
    parser.add_argument(
        "--report",
        help="where to write the report (default: BENCHMARKS.md at full size, else nowhere)",
    )
    return parser


# The extended Summary's keys that are the documented counts, or the same definition renamed.
_SHARED = {
    "clusterCount": "clusterCount",
    "environmentCount": "environmentCount",
    "nonProdAppCount": "nonProdAppCount",
    "userCount": "userCount",
    "ciCreatedPerDay": "ciCountPerDay",
    "cdCreatedPerDay": "cdCountPerDay",
}


def _check(measured: dict[str, Measured], generated: Generated) -> None:
    """Every strategy must give the exact counts: a fast wrong answer is no result."""
    if "ours-full" in measured:
        full = measured.pop("ours-full")
        measured.pop("go-full", None)  # Go's deviations (reference §7) are what it sends
        measured.pop("shared", None)
        shared = {key: full.counts[key] for key in _SHARED}
        wanted = {key: generated.expected[name] for key, name in _SHARED.items()}
        if shared != wanted:
            raise SystemExit(f"ours-full counted {shared}, expected {wanted}")
    for name, runs in measured.items():
        wanted = (
            {"ci_pipeline": generated.rows["ci_pipeline"], "pipeline": generated.rows["pipeline"]}
            if name == "floor"
            else generated.expected
        )
        if runs.counts != wanted:
            raise SystemExit(f"{name} counted {runs.counts}, expected {wanted}")


def _explain(url: str) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of our statement, in a session like the daemon's."""
    engine = orchestrator_engine(url, DatabaseSettings(application_name="ot-bench-explain"))
    sql = statement(queried("documented"), WINDOW).compile(
        dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").scalars().all()
    finally:
        engine.dispose()
    return [str(row) for row in rows]


@contextmanager
def _indexes(orchestrator: Engine) -> Iterator[list[report.Index]]:
    """Create the operator indexes; yield how long each took and its size; drop them after."""
    created: list[report.Index] = []
    try:
        with orchestrator.connect() as conn:
            for name, statement in OPERATOR_INDEXES.items():
                started = time.monotonic()
                conn.exec_driver_sql(statement)
                seconds = time.monotonic() - started
                size = conn.exec_driver_sql(f"SELECT pg_relation_size('public.{name}')")
                created.append(report.Index(statement, seconds, int(size.scalar_one()) / 2**20))
        yield created
    finally:
        _drop_indexes(orchestrator)


def _drop_indexes(orchestrator: Engine) -> None:
    with orchestrator.connect() as conn:
        for name in OPERATOR_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS public.{name}")


def _dispose(strategies: list[Strategy], *engines: Engine) -> None:
    for engine in [*(strategy.engine for strategy in strategies), *engines]:
        engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
