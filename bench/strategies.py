"""The ways of getting the six counts that the benchmark sets side by side.

- ours: `collect.collect` on the engine `database.orchestrator_engine` builds: the daemon's path.
- go: the Go orchestrator's way (reference §2 and §4): one statement per count, without a
  transaction; `users` and `cluster` rows fetched whole and counted in the application;
  nonProdAppCount as count(DISTINCT) over the three-way join; pipeline scanned twice.
- floor: one plain count(*) of ci_pipeline and one of pipeline, in one statement. No exact answer
  reads less: both windowed counts need every row's created_on (no index), and the non-production
  count needs every CD pipeline's environment.
- before: the documented Summary's statement before the catalogue (both windowed counts as one
  UNION ALL), to show the documented Summary is no slower than it was.
- ours-full and go-full: the extended FULL Summary, ours (`collect` with layout "full") and the
  Go orchestrator's 68 statements (`go_full.py`, reference §10).
- previous, one-scan and subqueries: other single-statement formulations, kept to show why
  ours is shaped as it is (see BENCHMARKS.md); no-jit: ours with the server's JIT compiler
  switched off for the session, to show what compiling the statement costs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, select, text
from sqlalchemy.pool import NullPool

from orchestrator_telemetry.collect import Window, collect
from orchestrator_telemetry.collect.catalogue import queried
from orchestrator_telemetry.collect.statements import statement as collect_statement
from orchestrator_telemetry.config import DatabaseSettings
from orchestrator_telemetry.database import connect_args, orchestrator_engine

from .generate import ANCHOR
from .go_full import go_full, shared

WINDOW = Window.ending_at(ANCHOR)
METRICS = tuple(metric.key for metric in queried("documented"))
SINCE = ANCHOR - timedelta(hours=24)  # Go's `created_on > now - 24h`, at the anchor


@dataclass(frozen=True)
class Strategy:
    """A named way to get the counts, and the engine it talks through."""

    name: str
    title: str
    engine: Engine
    count: Callable[[Engine], dict[str, Any]]

    def run(self) -> dict[str, Any]:
        """The counts (floor: the two table sizes), read through `engine`."""
        return self.count(self.engine)


def _ours(engine: Engine) -> dict[str, int]:
    return collect(engine, WINDOW)


def _ours_full(engine: Engine) -> dict[str, Any]:
    return collect(engine, WINDOW, layout="full")


def _go(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "cdCountPerDay": _scalar(
                conn, "SELECT count(*) FROM pipeline WHERE created_on > :since"
            ),
            "ciCountPerDay": _scalar(
                conn, "SELECT count(*) FROM ci_pipeline WHERE created_on > :since"
            ),
            # The ORM loads every active cluster and user, all columns, and counts the slice.
            "clusterCount": len(
                conn.execute(text("SELECT * FROM cluster WHERE active = true")).all()
            ),
            "environmentCount": _scalar(
                conn, "SELECT count(*) FROM environment WHERE active = true"
            ),
            "nonProdAppCount": _scalar(
                conn,
                "SELECT count(DISTINCT pipeline.app_id) FROM pipeline"
                " JOIN environment ON environment.id = pipeline.environment_id"
                " JOIN app ON app.id = pipeline.app_id"
                ' WHERE environment."default" = false AND app.active = true',
            ),
            "userCount": len(
                conn.execute(
                    text(
                        "SELECT * FROM users WHERE active = true"
                        " AND (user_type IS NULL OR user_type <> 'apiToken')"
                    )
                ).all()
            ),
        }


def _floor(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT (SELECT count(*) FROM ci_pipeline), (SELECT count(*) FROM pipeline)")
        ).one()
    return {"ci_pipeline": int(row[0]), "pipeline": int(row[1])}


_WINDOW_SQL = "created_on > :start AND created_on <= :end"
_SMALL_COUNTS_SQL = (
    "(SELECT count(*) FROM ci_pipeline WHERE " + _WINDOW_SQL + ') AS "ciCountPerDay",'
    ' (SELECT count(*) FROM cluster WHERE active = true) AS "clusterCount",'
    ' (SELECT count(*) FROM environment WHERE active = true) AS "environmentCount",'
    " (SELECT count(*) FROM users WHERE active = true"
    " AND (user_type IS NULL OR user_type <> 'apiToken')) AS \"userCount\""
)
# What metrics.py sent before this benchmark: the Go orchestrator's count(DISTINCT), but all six
# counts in one statement.
_PREVIOUS_SQL = (
    "SELECT (SELECT count(*) FROM pipeline WHERE " + _WINDOW_SQL + ') AS "cdCountPerDay",'
    " (SELECT count(DISTINCT pipeline.app_id) FROM pipeline"
    " JOIN environment ON environment.id = pipeline.environment_id"
    " JOIN app ON app.id = pipeline.app_id"
    ' WHERE environment."default" = false AND app.active = true) AS "nonProdAppCount",'
    + _SMALL_COUNTS_SQL
)
# The documented Summary's statement before the catalogue: both windowed counts in one UNION ALL.
_BEFORE_SQL = (
    'SELECT windowed."cdCountPerDay", windowed."ciCountPerDay",'
    ' (SELECT count(*) FROM cluster WHERE active = true) AS "clusterCount",'
    ' (SELECT count(*) FROM environment WHERE active = true) AS "environmentCount",'
    " (SELECT count(*) FROM users WHERE active = true"
    " AND (user_type IS NULL OR user_type <> 'apiToken')) AS \"userCount\""
    ", (SELECT count(*) FROM app WHERE active = true AND id IN (SELECT pipeline.app_id"
    " FROM pipeline JOIN environment ON environment.id = pipeline.environment_id"
    ' WHERE environment."default" = false)) AS "nonProdAppCount"'
    ' FROM (SELECT count(*) FILTER (WHERE created.is_cd) AS "cdCountPerDay",'
    ' count(*) FILTER (WHERE NOT created.is_cd) AS "ciCountPerDay"'
    " FROM (SELECT true AS is_cd FROM pipeline WHERE "
    + _WINDOW_SQL
    + " UNION ALL SELECT false FROM ci_pipeline WHERE "
    + _WINDOW_SQL
    + ") AS created) AS windowed"
)
# pipeline read once: its rows grouped by app (production ones in one NULL group), counting the
# window's rows per group. The per-app hash table outgrows work_mem at 100,000 apps and spills.
_ONE_SCAN_SQL = (
    'SELECT p."cdCountPerDay", p."nonProdAppCount", ' + _SMALL_COUNTS_SQL + " FROM ("
    ' SELECT coalesce(sum(per_app.created), 0) AS "cdCountPerDay",'
    ' count(app.id) AS "nonProdAppCount"'
    ' FROM (SELECT CASE WHEN environment."default" = false THEN pipeline.app_id END AS app_id,'
    " count(*) FILTER (WHERE pipeline.created_on > :start AND pipeline.created_on <= :end)"
    " AS created"
    " FROM pipeline LEFT JOIN environment ON environment.id = pipeline.environment_id"
    " GROUP BY 1) AS per_app"
    " LEFT JOIN app ON app.id = per_app.app_id AND app.active = true) AS p"
)


def _statement(sql: str) -> Callable[[Engine], dict[str, int]]:
    def count(engine: Engine) -> dict[str, int]:
        with engine.connect() as conn:
            row = conn.execute(text(sql), {"start": WINDOW.start, "end": WINDOW.end}).one()
        return {name: int(row._mapping[name]) for name in METRICS}

    return count


def _subqueries(engine: Engine) -> dict[str, int]:
    # Each count as a scalar subquery of its own, all six in one SELECT.
    statement = select(
        *(
            collect_statement([metric], WINDOW).scalar_subquery().label(metric.key)
            for metric in queried("documented")
        )
    )
    with engine.connect() as conn:
        row = conn.execute(statement).one()
    return {name: int(row._mapping[name]) for name in METRICS}


def _scalar(conn: Connection, sql: str) -> int:
    return int(conn.execute(text(sql), {"since": SINCE}).scalar_one())


def build(url: str) -> list[Strategy]:
    """The strategies, each with its own engine on `url` (the counting proxy)."""
    daemon_like = DatabaseSettings(application_name="ot-bench-ours")  # defaults: 30 s timeout

    def autocommit(name: str) -> Engine:
        # Go's database/sql runs each statement on its own, outside any transaction.
        return create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={"application_name": f"ot-bench-{name}"},
        )

    def without_jit() -> Engine:
        # The daemon's engine, plus one more libpq option: no extra statement, no round trip.
        arguments = connect_args(daemon_like, read_only=True)
        arguments["options"] = f"{arguments['options']} -c jit=off"
        return create_engine(
            url, poolclass=NullPool, connect_args=arguments, hide_parameters=True
        ).execution_options(postgresql_readonly=True)

    return [
        Strategy("ours", "ours: collect", orchestrator_engine(url, daemon_like), _ours),
        Strategy("go", "Go orchestrator's strategy", autocommit("go"), _go),
        Strategy("floor", "floor: count(*) of both", autocommit("floor"), _floor),
        Strategy(
            "previous",
            "previous statement (count DISTINCT)",
            orchestrator_engine(url, daemon_like),
            _statement(_PREVIOUS_SQL),
        ),
        Strategy(
            "one-scan",
            "one scan of pipeline, grouped",
            orchestrator_engine(url, daemon_like),
            _statement(_ONE_SCAN_SQL),
        ),
        Strategy(
            "subqueries",
            "ours, windowed counts apart",
            orchestrator_engine(url, daemon_like),
            _subqueries,
        ),
        Strategy("no-jit", "ours, JIT off for the session", without_jit(), _ours),
        Strategy(
            "before",
            "before the catalogue (UNION ALL)",
            orchestrator_engine(url, daemon_like),
            _statement(_BEFORE_SQL),
        ),
        Strategy(
            "ours-full",
            "ours: extended FULL Summary",
            orchestrator_engine(url, daemon_like),
            _ours_full,
        ),
        Strategy("go-full", "Go orchestrator's FULL Summary", autocommit("go-full"), go_full),
        Strategy("shared", "the 3 statements both send alike", autocommit("shared"), shared),
    ]
