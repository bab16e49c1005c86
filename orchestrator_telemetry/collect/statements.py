"""Read a layout's metrics from the orchestrator: one statement, read-only, with a timeout.

The happy path is one round trip: every scan is a subquery of one SELECT, every other metric a
scalar subquery beside them. When that statement fails for a permanent reason (an older
orchestrator lacking a table or column, a permission), one catalogue query finds what is missing;
the metrics that read it get their failure value and the rest run again together. If that still
fails, each group (a scan, or a metric of its own) runs alone, and then each metric of a failing
group, so one failing metric never changes another.

A transient cause (a lock wait, the statement timeout, a serialisation failure) fails the whole
collection with `TransientCollectError`, so the run is retried later, unless the caller gives up
(the slot is past its collect deadline): then those metrics get their failure values too. A lost
connection raises `DatabaseUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, Select, bindparam, select, text, true
from sqlalchemy.exc import DBAPIError, OperationalError

from ..database import first_line
from ..errors import DatabaseUnavailable, TransientCollectError
from .catalogue import FAILED, Layout, Metric, queried, scans
from .window import Window

log = structlog.get_logger(__name__)

# SQLSTATE classes a retry cannot fix: 42 syntax or access rule (undefined table 42P01, undefined
# column 42703, insufficient privilege 42501), 22 data exception (a stored value the definition
# cannot read, e.g. invalid JSON, 22P02): the same rows give the same error next time.
PERMANENT_CLASSES = frozenset({"42", "22"})


def statement(metrics: Sequence[Metric], window: Window) -> Select[Any]:
    """One SELECT computing every metric in `metrics`: each column labelled with its key."""
    columns: list[Any] = []
    read_once: list[Any] = []
    for scan, members in scans(tuple(metrics)):
        if scan is None:
            (metric,) = members
            columns.append(metric.expression(window).label(metric.key))
            continue
        one_row = scanned(members, window).subquery()
        read_once.append(one_row)
        columns += [one_row.c[metric.key] for metric in members]
    chosen = select(*columns)
    if read_once:
        # Each scan yields exactly one row: joined on true, they make the statement's one row.
        joined = read_once[0]
        for one_row in read_once[1:]:
            joined = joined.join(one_row, true())
        chosen = chosen.select_from(joined)
    return chosen


def scanned(metrics: Sequence[Metric], window: Window) -> Select[Any]:
    """The aggregates of metrics sharing one scan, over its rows: one pass, one row."""
    scan = metrics[0].scan
    if scan is None or any(metric.scan is not scan for metric in metrics):
        raise ValueError("scanned() takes metrics of one scan")
    rows, where = scan.source(window, metrics)
    aggregates = select(
        *(metric.expression(window, rows).label(metric.key) for metric in metrics)
    ).select_from(rows)
    return aggregates if where is None else aggregates.where(where)


def collect(
    engine: Engine,
    window: Window,
    metrics: Sequence[Metric] | None = None,
    *,
    layout: Layout = "documented",
    give_up: bool = False,
) -> dict[str, Any]:
    """The values of `metrics` (default: the layout's) for `window`; failures get their value."""
    wanted = tuple(metrics) if metrics is not None else queried(layout)
    try:
        with engine.connect() as connection:
            values = _Collection(connection, window, give_up=give_up).run(wanted)
    except OperationalError as exc:
        if _connection_lost(exc):
            raise DatabaseUnavailable(f"orchestrator database: {first_line(exc)}") from None
        raise
    return {metric.key: values[metric.key] for metric in wanted}


class _Collection:
    def __init__(self, connection: Connection, window: Window, *, give_up: bool) -> None:
        self._connection = connection
        self._window = window
        self._give_up = give_up
        self.values: dict[str, Any] = {}

    def run(self, metrics: tuple[Metric, ...]) -> dict[str, Any]:
        if not metrics:
            return {}
        error = self._try(metrics)
        if error is None:
            return self.values
        log.warning("metrics statement failed; finding what is missing", reason=first_line(error))
        missing = self._missing(metrics)
        present: list[Metric] = []
        for metric in metrics:
            lacks = sorted(
                f"{table}.{column}" if column else table
                for table, column in missing
                if _reads(metric, table, column)
            )
            if lacks:
                self._failed(metric, f"not in this orchestrator: {', '.join(lacks)}")
            else:
                present.append(metric)
        if len(present) < len(metrics) and present and self._try(tuple(present)) is None:
            return self.values
        if present:
            for _, group in scans(tuple(present)):
                if len(group) > 1 and self._try(group) is None:
                    continue
                for metric in group:
                    problem = self._try((metric,))
                    if problem is not None:
                        self._failed(metric, first_line(problem))
        return self.values

    def _try(self, metrics: tuple[Metric, ...]) -> DBAPIError | None:
        """Run `metrics` together; keep their values, or return the permanent error."""
        try:
            row = self._connection.execute(statement(metrics, self._window)).one()
        except DBAPIError as exc:
            if _connection_lost(exc):
                raise DatabaseUnavailable(f"orchestrator database: {first_line(exc)}") from None
            # The transaction is aborted: end it; the next statement begins a new one.
            self._connection.rollback()
            if not _permanent(exc) and not self._give_up:
                keys = [metric.key for metric in metrics]
                raise TransientCollectError(keys, first_line(exc)) from None
            return exc
        for metric in metrics:
            self.values[metric.key] = metric.value(row._mapping[metric.key])
        return None

    def _missing(self, metrics: Iterable[Metric]) -> set[tuple[str, str]]:
        """(table, column) pairs the metrics read that this database lacks; column "" = table."""
        metrics = list(metrics)
        wanted = {
            (table, column)
            for metric in metrics
            for table, columns in metric.reads.items()
            for column in columns
        }
        tables = sorted({table for metric in metrics for table in metric.reads})
        found = self._connection.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name IN :tables"
            ).bindparams(bindparam("tables", expanding=True)),
            {"tables": tables},
        ).all()
        present = {(row[0], row[1]) for row in found}
        present_tables = {row[0] for row in found}
        missing = {(table, "") for table in tables if table not in present_tables}
        missing |= {pair for pair in wanted if pair[0] in present_tables and pair not in present}
        return missing

    def _failed(self, metric: Metric, reason: str) -> None:
        if metric.failure == FAILED:
            log.error("metric failed; reported as -1", metric=metric.key, reason=reason)
        else:
            shown = "omitted" if metric.failure is None else metric.failure
            log.error(
                "metric failed; reported as its failure value",
                metric=metric.key,
                value=shown,
                reason=reason,
            )
        self.values[metric.key] = metric.failure


def _reads(metric: Metric, table: str, column: str) -> bool:
    columns = metric.reads.get(table)
    return columns is not None and (not column or column in columns)


def _permanent(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "pgcode", None) or ""
    return code[:2] in PERMANENT_CLASSES


def _connection_lost(exc: DBAPIError) -> bool:
    if not isinstance(exc, OperationalError):
        return False
    return bool(exc.connection_invalidated) or getattr(exc.orig, "pgcode", None) is None


def failure_values(metrics: Iterable[Metric]) -> Mapping[str, Any]:
    """Every metric at its failure value."""
    return {metric.key: metric.failure for metric in metrics}
