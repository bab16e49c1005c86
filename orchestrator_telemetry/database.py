"""Engines for the orchestrator's database (read-only) and the daemon's state, never pooled."""

from __future__ import annotations

import math

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from .config import DatabaseSettings, StateSettings
from .state.tables import in_schema


def connect_args(settings: DatabaseSettings, *, read_only: bool) -> dict[str, object]:
    """The libpq parameters every connection opens with: timeouts, identity, read-only."""
    # Rounded up: PostgreSQL reads 0 as "no timeout", the opposite of a tiny one.
    timeout_ms = max(1, math.ceil(settings.statement_timeout * 1000))
    options = f"-c statement_timeout={timeout_ms}"
    if read_only:
        # Enforced by the server for every transaction, whatever a query says. JIT off: compiling
        # the Summary's plan costs more than it saves on a statement run once a day (measured in
        # BENCHMARKS.md).
        options += " -c default_transaction_read_only=on -c jit=off"
    return {
        "connect_timeout": settings.connect_timeout,
        "application_name": settings.application_name,
        "options": options,
    }


def orchestrator_engine(url: str, settings: DatabaseSettings) -> Engine:
    """The orchestrator's database: read-only, statement timeout, no idle connection."""
    return create_engine(
        url,
        poolclass=NullPool,  # a sidecar that runs a few times a day holds no connection in between
        connect_args=connect_args(settings, read_only=True),
        hide_parameters=True,
    ).execution_options(postgresql_readonly=True)


def state_engine(url: str, database: DatabaseSettings, state: StateSettings) -> Engine:
    """The daemon's own schema, mapped in with `schema_translate_map`."""
    return create_engine(
        url,
        poolclass=NullPool,
        connect_args=connect_args(database, read_only=False),
        hide_parameters=True,
    ).execution_options(schema_translate_map=in_schema(state.schema_name))


def first_line(exc: BaseException) -> str:
    """The driver's own first line for a database error: names the table, never the URL."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
