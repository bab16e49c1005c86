"""Fixtures shared by the whole suite: a real PostgreSQL and orchestrator-shaped databases on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from typing import NoReturn

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from orchestrator_telemetry.config import DatabaseSettings, StateSettings
from orchestrator_telemetry.database import state_engine
from orchestrator_telemetry.sandbox.devtron import create_schema
from orchestrator_telemetry.state import migrate
from tests.support.capture import CaptureServer
from tests.support.database import NoTestServer, PgServer, open_server

DEVTRON_TEMPLATE = "devtron_template"


def _unavailable(reason: str) -> NoReturn:
    """Fail in CI, where integration tests must run; skip elsewhere."""
    message = f"no PostgreSQL for integration tests: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session, stopped at its end."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(open_server())
        except NoTestServer as exc:
            _unavailable(str(exc))
        yield server


@pytest.fixture(scope="session")
def devtron_template(pg_server: PgServer) -> str:
    """Name of a database holding the orchestrator's tables and seeds, and nothing else."""
    pg_server.drop_database(DEVTRON_TEMPLATE)  # left over by an earlier run on a kept server
    engine = create_engine(pg_server.create_database(DEVTRON_TEMPLATE), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            create_schema(conn)
    finally:
        engine.dispose()  # a template cannot be copied while anyone is connected to it
    return DEVTRON_TEMPLATE


@pytest.fixture
def orchestrator_db_url(pg_server: PgServer, devtron_template: str) -> str:
    """URL of a fresh database with the orchestrator's tables and seeds, for this test only."""
    return pg_server.new_database(template=devtron_template)


@pytest.fixture
def orchestrator_engine(orchestrator_db_url: str) -> Iterator[Engine]:
    """An engine on this test's orchestrator database, disposed after the test."""
    engine = create_engine(orchestrator_db_url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def state(orchestrator_db_url: str) -> Iterator[Engine]:
    """The daemon's state engine on this test's database, its schema migrated to head."""
    engine = state_engine(orchestrator_db_url, DatabaseSettings(), StateSettings())
    migrate.upgrade(engine, "orchestrator_telemetry")
    yield engine
    engine.dispose()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    """PostHog, as far as the daemon can tell: a local capture server, fresh for each test."""
    with CaptureServer() as server:
        yield server
