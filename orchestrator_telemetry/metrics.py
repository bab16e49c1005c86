"""The six documented Summary counts, read from the orchestrator's tables in one round trip.

Each count follows Devtron's own definition to the letter (see the README's payload reference).
The happy path is a single read-only statement. A failure is either permanent (an older
orchestrator lacking a table or column, a missing permission: SQLSTATE class 42) or passing (a lock
wait, a statement timeout during a Devtron migration). On a permanent failure each count is retried
alone and only those that still fail are reported as -1. A passing failure raises
`TransientCollectError`, so the run is retried later, unless the caller gives up on the slot
(`give_up=True`, past its collect deadline): then a count still failing is reported as -1 too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Engine,
    Integer,
    MetaData,
    ScalarSelect,
    Select,
    String,
    Subquery,
    Table,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from .database import Unavailable, first_line

log = structlog.get_logger(__name__)

WINDOW = timedelta(hours=24)
FAILED = -1  # what Devtron reports for a count it could not compute

# Only the columns the counts read: the daemon never depends on the rest of Devtron's schema.
_orchestrator = MetaData(schema="public")
users = Table(
    "users",
    _orchestrator,
    Column("id", Integer, primary_key=True),
    Column("active", Boolean),
    Column("user_type", String),
)
cluster = Table(
    "cluster", _orchestrator, Column("id", Integer, primary_key=True), Column("active", Boolean)
)
environment = Table(
    "environment",
    _orchestrator,
    Column("id", Integer, primary_key=True),
    Column("active", Boolean),
    Column("default", Boolean),  # true marks a production environment
)
app = Table(
    "app", _orchestrator, Column("id", Integer, primary_key=True), Column("active", Boolean)
)
ci_pipeline = Table(
    "ci_pipeline",
    _orchestrator,
    Column("id", Integer, primary_key=True),
    Column("created_on", DateTime(timezone=True)),
)
pipeline = Table(
    "pipeline",
    _orchestrator,
    Column("id", Integer, primary_key=True),
    Column("app_id", Integer),
    Column("environment_id", Integer),
    Column("created_on", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class Window:
    """The 24 hours a Summary counts: (start, end], ending at the summary slot."""

    start: datetime
    end: datetime

    @classmethod
    def ending_at(cls, slot: datetime) -> Window:
        """The window the Summary of `slot` counts."""
        return cls(start=slot - WINDOW, end=slot)


def _created_in(table: Table, window: Window) -> ScalarSelect[int]:
    return (
        select(func.count()).select_from(table).where(_in_window(table, window)).scalar_subquery()
    )


def _in_window(table: Table, window: Window) -> ColumnElement[bool]:
    created_on = table.c.created_on
    return and_(created_on > window.start, created_on <= window.end)


def _cd_count_per_day(window: Window) -> ScalarSelect[int]:
    # Deleted CD pipelines count too: Devtron's query has no filter on `deleted`.
    return _created_in(pipeline, window)


def _ci_count_per_day(window: Window) -> ScalarSelect[int]:
    # Deleted and inactive CI pipelines count too, as in Devtron's query.
    return _created_in(ci_pipeline, window)


def _cluster_count(window: Window) -> ScalarSelect[int]:
    # Virtual clusters count too, as in Devtron's query.
    active = cluster.c.active == true()
    return select(func.count()).select_from(cluster).where(active).scalar_subquery()


def _environment_count(window: Window) -> ScalarSelect[int]:
    return (
        select(func.count())
        .select_from(environment)
        .where(environment.c.active == true())
        .scalar_subquery()
    )


def _non_prod_app_count(window: Window) -> ScalarSelect[int]:
    # Active apps with at least one CD pipeline, deleted or not, on a non-production environment:
    # Devtron's count(DISTINCT pipeline.app_id) over pipeline, environment and app, asked as a
    # semi-join from `app` (each app counted once: its id is its primary key). PostgreSQL then
    # hashes the matching pipelines in parallel, in batches that stay in memory, instead of
    # sorting them all for DISTINCT or keeping a table of every app: several times faster at
    # millions of pipelines, with no setting changed (BENCHMARKS.md).
    on_non_production = (
        select(pipeline.c.app_id)
        .select_from(pipeline)
        .join(environment, environment.c.id == pipeline.c.environment_id)
        .where(environment.c.default == false())
    )
    return (
        select(func.count())
        .select_from(app)
        .where(app.c.active == true(), app.c.id.in_(on_non_production))
        .scalar_subquery()
    )


def _user_count(window: Window) -> ScalarSelect[int]:
    # People only: API tokens are rows of `users` too. The seeded `system` and `admin` count.
    return (
        select(func.count())
        .select_from(users)
        .where(
            users.c.active == true(),
            or_(users.c.user_type.is_(None), users.c.user_type != "apiToken"),
        )
        .scalar_subquery()
    )


# Summary key -> its count, in the documented order.
METRICS: Mapping[str, Callable[[Window], ScalarSelect[int]]] = {
    "cdCountPerDay": _cd_count_per_day,
    "ciCountPerDay": _ci_count_per_day,
    "clusterCount": _cluster_count,
    "environmentCount": _environment_count,
    "nonProdAppCount": _non_prod_app_count,
    "userCount": _user_count,
}


# The two counts of the window, read together in the single statement.
_WINDOWED = ("cdCountPerDay", "ciCountPerDay")


def summary_statement(window: Window) -> Select[*tuple[int, ...]]:
    """All six counts in one SELECT: one round trip."""
    windowed = _windowed_counts(window)
    columns = [
        windowed.c[name] if name in _WINDOWED else count(window).label(name)
        for name, count in METRICS.items()
    ]
    return select(*columns).select_from(windowed)


def _windowed_counts(window: Window) -> Subquery:
    # Without an index on created_on both windowed counts read their whole table. As one UNION
    # ALL, PostgreSQL scans the two tables in a single parallel Append: one set of workers to
    # start and one plan part to JIT-compile instead of two (a few tens of milliseconds at
    # 2M + 2M pipelines, BENCHMARKS.md). Where an operator added such indexes, each branch uses
    # its own.
    created = union_all(
        _created_rows(pipeline, window, is_cd=True),
        _created_rows(ci_pipeline, window, is_cd=False),
    ).subquery("created")
    return (
        select(
            func.count().filter(created.c.is_cd).label("cdCountPerDay"),
            func.count().filter(not_(created.c.is_cd)).label("ciCountPerDay"),
        )
        .select_from(created)
        .subquery("windowed")
    )


def _created_rows(table: Table, window: Window, *, is_cd: bool) -> Select[bool]:
    # The rows _cd_count_per_day and _ci_count_per_day count, each marked with its table.
    return select(literal(is_cd).label("is_cd")).where(_in_window(table, window))


class TransientCollectError(Unavailable):
    """A count failed for a cause that may pass (a lock wait, a timeout); the run is retried."""

    def __init__(self, metrics: list[str], reason: str) -> None:
        super().__init__(f"orchestrator database: {', '.join(metrics)} failed for now: {reason}")
        self.metrics = metrics


def collect(engine: Engine, window: Window, *, give_up: bool = False) -> dict[str, int]:
    """The six Summary counts for `window`; a count that cannot be computed is -1.

    Raises TransientCollectError for a passing failure unless `give_up`, and Unavailable when the
    database cannot be reached.
    """
    try:
        with engine.connect() as connection:
            row = connection.execute(summary_statement(window)).one()
            return {name: int(row._mapping[name]) for name in METRICS}
    except DBAPIError as exc:
        _raise_unless_permanent(exc, list(METRICS), give_up=give_up)
        log.warning("summary query failed; counting one metric at a time", reason=first_line(exc))
    return _collect_one_by_one(engine, window, give_up=give_up)


def _collect_one_by_one(engine: Engine, window: Window, *, give_up: bool) -> dict[str, int]:
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for name, count in METRICS.items():
            try:
                with connection.begin_nested():
                    counts[name] = int(connection.execute(select(count(window))).scalar_one())
            except DBAPIError as exc:
                _raise_unless_permanent(exc, [name], give_up=give_up)
                counts[name] = _failed(name, exc)
            except SQLAlchemyError as exc:
                counts[name] = _failed(name, exc)
    return counts


def _raise_unless_permanent(exc: DBAPIError, metrics: list[str], *, give_up: bool) -> None:
    """Raise for a lost connection, and for a passing failure unless giving up on the slot."""
    if _connection_lost(exc):
        raise Unavailable(f"orchestrator database: {first_line(exc)}") from None
    if not give_up and not _permanent(exc):
        raise TransientCollectError(metrics, first_line(exc)) from None


def _permanent(exc: DBAPIError) -> bool:
    # Class 42, "syntax error or access rule violation": an undefined table (42P01) or column
    # (42703), a missing privilege (42501). Retrying cannot cure those; anything else may pass.
    return str(getattr(exc.orig, "pgcode", "")).startswith("42")


def _failed(name: str, exc: SQLAlchemyError) -> int:
    log.error("metric failed; reported as -1", metric=name, reason=first_line(exc))
    return FAILED


def _connection_lost(exc: DBAPIError) -> bool:
    if not isinstance(exc, OperationalError):
        return False
    return bool(exc.connection_invalidated) or getattr(exc.orig, "pgcode", None) is None
