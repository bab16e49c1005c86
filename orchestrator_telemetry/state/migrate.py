"""Create and upgrade the daemon's own schema with Alembic, one migrator at a time.

A daemon whose schema is already at `HEAD` never loads Alembic: one small query tells, and the
import (with its template engine) would cost the idle process about 10 MB for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import quoted_name

from ..database import first_line
from ..errors import DatabaseUnavailable, SchemaError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# The newest revision in migrations/versions; a test checks it against Alembic's own answer.
HEAD = "0002"

# Any fixed 64-bit key: concurrent starts of many replicas queue on it instead of racing Alembic.
_MIGRATION_LOCK = 0x6F74_6D69_6772_6174


def _alembic_config(schema: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig  # noqa: PLC0415 - see the module docstring

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(files("orchestrator_telemetry.migrations")))
    cfg.attributes["schema"] = schema
    return cfg


def head() -> str:
    """The newest revision among the packaged migrations, as Alembic reads them."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    revision = ScriptDirectory.from_config(_alembic_config("unused")).get_current_head()
    if revision is None:
        raise SchemaError("no migrations are packaged; reinstall orchestrator-telemetry")
    return revision


def current(connection: Connection, schema: str) -> str | None:
    """The revision the database is at, or None if the schema was never migrated."""
    table = f"{_quote(connection, schema)}.alembic_version"
    if connection.scalar(text("SELECT to_regclass(:table)"), {"table": table}) is None:
        return None
    revision: str | None = connection.scalar(text(f"SELECT version_num FROM {table}"))  # noqa: S608
    return revision


def upgrade(engine: Engine, schema: str, revision: str = "head") -> None:
    """Create the schema if needed and upgrade it to `revision`, serialised by an advisory lock."""
    if revision == "head" and is_at_head(engine, schema):
        return
    from alembic import command  # noqa: PLC0415 - see the module docstring

    _run(engine, schema, lambda cfg: command.upgrade(cfg, revision))


def downgrade(engine: Engine, schema: str, revision: str) -> None:
    """Downgrade the schema to `revision` (`base` removes every table)."""
    from alembic import command  # noqa: PLC0415 - see the module docstring

    _run(engine, schema, lambda cfg: command.downgrade(cfg, revision))


def is_at_head(engine: Engine, schema: str) -> bool:
    """Whether the database's schema is exactly what this code expects."""
    with _connect(engine) as connection:
        return current(connection, schema) == HEAD


def _connect(engine: Engine) -> Connection:
    try:
        return engine.connect()
    except OperationalError as exc:
        raise DatabaseUnavailable(f"state database: {first_line(exc)}") from None


def _run(engine: Engine, schema: str, step: Callable[[AlembicConfig], None]) -> None:
    cfg = _alembic_config(schema)
    with _connect(engine) as connection, connection.begin():
        connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        _refuse_newer(connection, schema, cfg)
        _ensure_schema(connection, schema)
        # Unqualified DDL in the revisions lands in the daemon's schema, never in `public`.
        connection.execute(text(f"SET LOCAL search_path TO {_quote(connection, schema)}"))
        cfg.attributes["connection"] = connection
        step(cfg)


def _refuse_newer(connection: Connection, schema: str, cfg: AlembicConfig) -> None:
    from alembic.script import ScriptDirectory  # noqa: PLC0415
    from alembic.util.exc import CommandError  # noqa: PLC0415

    revision = current(connection, schema)
    if revision is None:
        return
    try:
        ScriptDirectory.from_config(cfg).get_revision(revision)
    except CommandError:
        raise SchemaError(
            f"schema {schema!r} is at revision {revision}, newer than this version knows"
            f" (head {HEAD}); upgrade orchestrator-telemetry instead of downgrading the schema"
        ) from None


def _ensure_schema(connection: Connection, schema: str) -> None:
    # Look before creating: CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database, which a
    # least-privilege role given a pre-created schema does not have.
    exists = connection.scalar(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
    )
    if not exists:
        connection.execute(text(f"CREATE SCHEMA {_quote(connection, schema)}"))


def _quote(connection: Connection, schema: str) -> str:
    return connection.dialect.identifier_preparer.quote_schema(quoted_name(schema, quote=True))
