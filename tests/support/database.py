"""Where integration tests get a real PostgreSQL server, and fresh databases on it.

The sources, tried in this order: the server named by `TEST_DATABASE_URL` (its user must be
allowed to CREATE DATABASE); a `postgres:15` container when a Docker engine answers; a throwaway
server started from the installed binaries (`LocalPostgres`).
"""

from __future__ import annotations

import gc
import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import docker  # type: ignore[import-untyped]
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

try:
    from testcontainers.community.postgres import PostgresContainer
except ImportError:  # testcontainers before the move to .community
    from testcontainers.postgres import PostgresContainer

from orchestrator_telemetry.errors import SandboxError
from orchestrator_telemetry.sandbox.postgres import LocalPostgres

DOCKER_PING_TIMEOUT_SECONDS = 3


class NoTestServer(Exception):
    """No source could provide a PostgreSQL server; the message says why for each."""


class PgServer:
    """A PostgreSQL server on which tests create and drop whole databases."""

    def __init__(self, url: str, *, drop_on_close: bool) -> None:
        """Use the server at `url` (a SQLAlchemy URL whose user may CREATE DATABASE)."""
        self.url = url
        self._drop_on_close = drop_on_close
        self._created: list[str] = []
        self._engine: Engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")

    def database_url(self, name: str) -> str:
        """Return the URL of database `name` on this server."""
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database `name`, a copy of `template` if given, and return its URL."""
        statement = f"CREATE DATABASE {self._quote(name)}"
        if template is not None:
            statement += f" TEMPLATE {self._quote(template)}"
        self._execute(statement)
        self._created.append(name)
        return self.database_url(name)

    def new_database(self, template: str | None = None) -> str:
        """Create a database with a fresh unique name and return its URL."""
        return self.create_database(f"test_{uuid.uuid4().hex[:16]}", template)

    def drop_database(self, name: str) -> None:
        """Drop database `name` if it exists."""
        self._execute(f"DROP DATABASE IF EXISTS {self._quote(name)}")

    def ping(self) -> None:
        """Raise unless the server answers a query."""
        self._execute("SELECT 1")

    def close(self) -> None:
        """Drop what this object created if the server outlives the session; release it."""
        if self._drop_on_close:
            for name in reversed(self._created):  # copies before their template
                self.drop_database(name)
        self._engine.dispose()

    def _quote(self, name: str) -> str:
        return self._engine.dialect.identifier_preparer.quote_identifier(name)

    def _execute(self, statement: str) -> None:
        with self._engine.connect() as conn:
            conn.exec_driver_sql(statement)


@contextmanager
def open_server() -> Iterator[PgServer]:
    """Yield a server from the first source that works; raise `NoTestServer` if none."""
    with ExitStack() as stack:
        explicit = os.environ.get("TEST_DATABASE_URL")
        if explicit:
            try:
                server = PgServer(_with_psycopg2(explicit), drop_on_close=True)
                server.ping()
            except SQLAlchemyError as exc:
                first_line = str(exc).splitlines()[0]  # drop SQLAlchemy's SQL and help link
                raise NoTestServer(f"TEST_DATABASE_URL: {first_line}") from exc
        else:
            server = PgServer(_start_server(stack), drop_on_close=False)
        stack.callback(server.close)  # runs before the server itself is stopped
        yield server


def _with_psycopg2(url: str) -> str:
    """Name the psycopg2 driver (SQLAlchemy 2.1 maps bare postgresql:// to psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg2")
    if not parsed.database:
        parsed = parsed.set(database="postgres")
    return parsed.render_as_string(hide_password=False)


def _start_server(stack: ExitStack) -> str:
    """Start a container or a local server, stopped when `stack` closes; return its URL."""
    reasons = []
    if _docker_answers():
        try:
            container = stack.enter_context(PostgresContainer("postgres:15", driver="psycopg2"))
            return str(container.get_connection_url())
        except Exception as exc:  # noqa: BLE001 - whatever failed, the local server may work
            reasons.append(f"testcontainers: {exc}")
    else:
        reasons.append("testcontainers: no Docker engine answers")
    try:
        return stack.enter_context(LocalPostgres()).url
    except SandboxError as exc:
        reasons.append(f"local server: {exc}")
    raise NoTestServer("; ".join(reasons))


def _docker_answers() -> bool:
    """Whether a Docker engine answers a ping within a few seconds."""
    # docker-py leaves its socket open when the engine is missing; collect it here, quietly,
    # rather than as an "unclosed socket" error in whichever test runs next.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env(timeout=DOCKER_PING_TIMEOUT_SECONDS)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - no socket, refused, timed out, ...: no engine
            return False
        finally:
            gc.collect()
