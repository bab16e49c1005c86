"""The daemon's own schema: created, upgraded and downgraded by Alembic, never touching `public`."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.pool import NullPool

from orchestrator_telemetry.config import DatabaseSettings, StateSettings
from orchestrator_telemetry.database import state_engine
from orchestrator_telemetry.errors import SchemaError
from orchestrator_telemetry.state import migrate
from orchestrator_telemetry.state.tables import metadata

pytestmark = pytest.mark.integration

SCHEMA = "orchestrator_telemetry"


@pytest.fixture
def engine(orchestrator_db_url: str) -> Iterator[Engine]:
    engine = state_engine(orchestrator_db_url, DatabaseSettings(), StateSettings())
    yield engine
    engine.dispose()


def tables(engine: Engine, schema: str) -> set[str]:
    return set(inspect(engine).get_table_names(schema=schema))


def test_upgrade_from_empty_creates_the_schema_and_its_tables(engine: Engine) -> None:
    public_before = tables(engine, "public")

    migrate.upgrade(engine, SCHEMA)

    assert tables(engine, SCHEMA) == {"alembic_version", "identity", "outbox"}
    assert tables(engine, "public") == public_before
    assert migrate.is_at_head(engine, SCHEMA)


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    migrate.upgrade(engine, SCHEMA)

    migrate.downgrade(engine, SCHEMA, "base")
    assert tables(engine, SCHEMA) == {"alembic_version"}
    assert not migrate.is_at_head(engine, SCHEMA)

    migrate.upgrade(engine, SCHEMA)
    assert tables(engine, SCHEMA) == {"alembic_version", "identity", "outbox"}


def test_widening_the_key_to_one_event_per_installation_keeps_every_recorded_event(
    engine: Engine,
) -> None:
    migrate.upgrade(engine, SCHEMA, "0001")
    with engine.begin() as connection:
        for event, status in (("Summary", "pending"), ("Heartbeat", "sent")):
            connection.execute(
                text(
                    f"INSERT INTO {SCHEMA}.outbox (uuid, event, distinct_id, period, timestamp,"
                    " properties, status, next_attempt_at) VALUES (gen_random_uuid(), :event,"
                    " 'firstinstall0000', '2026-11-01', '2026-11-01', '{}', :status, now())"
                ),
                {"event": event, "status": status},
            )

    migrate.upgrade(engine, SCHEMA)

    with engine.begin() as connection:
        kept = connection.execute(text(f"SELECT event, status FROM {SCHEMA}.outbox")).all()
        # Another installation's Summary of the same period now fits beside the first one's.
        connection.execute(
            text(
                f"INSERT INTO {SCHEMA}.outbox (uuid, event, distinct_id, period, timestamp,"
                " properties, next_attempt_at) VALUES (gen_random_uuid(), 'Summary',"
                " 'secondinstall000', '2026-11-01', '2026-11-01', '{}', now())"
            )
        )
    assert sorted(kept) == [("Heartbeat", "sent"), ("Summary", "pending")]
    assert migrate.is_at_head(engine, SCHEMA)


def test_upgrading_twice_changes_nothing(engine: Engine) -> None:
    migrate.upgrade(engine, SCHEMA)
    migrate.upgrade(engine, SCHEMA)

    assert migrate.is_at_head(engine, SCHEMA)


def test_models_and_migrations_agree(engine: Engine) -> None:
    migrate.upgrade(engine, SCHEMA)

    with engine.connect() as connection:
        connection.execute(text(f"SET search_path TO {SCHEMA}"))
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            diff
            for diff in compare_metadata(context, metadata)
            if "alembic_version" not in str(diff)
        ]

    assert differences == []


def test_any_schema_name_can_be_configured(orchestrator_db_url: str) -> None:
    engine = state_engine(
        orchestrator_db_url, DatabaseSettings(), StateSettings(schema_name="telemetry_2")
    )
    try:
        migrate.upgrade(engine, "telemetry_2")
        assert tables(engine, "telemetry_2") == {"alembic_version", "identity", "outbox"}
        assert tables(engine, SCHEMA) == set()
    finally:
        engine.dispose()


def test_concurrent_migrators_queue_instead_of_failing(engine: Engine) -> None:
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            migrate.upgrade(engine, SCHEMA)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert migrate.is_at_head(engine, SCHEMA)


def test_a_schema_newer_than_the_code_is_refused(engine: Engine) -> None:
    migrate.upgrade(engine, SCHEMA)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {SCHEMA}.alembic_version SET version_num = 'f00dcafe'"))

    with pytest.raises(SchemaError, match="f00dcafe, newer than this version knows"):
        migrate.upgrade(engine, SCHEMA)


def test_a_role_without_create_on_the_database_migrates_a_precreated_schema(
    orchestrator_db_url: str, orchestrator_engine: Engine
) -> None:
    with orchestrator_engine.begin() as admin:
        admin.execute(text("DROP ROLE IF EXISTS telemetry_least"))
        admin.execute(text("CREATE ROLE telemetry_least LOGIN PASSWORD 'least'"))
        admin.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        admin.execute(text(f"CREATE SCHEMA {SCHEMA} AUTHORIZATION telemetry_least"))
        admin.execute(text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO telemetry_least"))
    url = orchestrator_engine.url.set(username="telemetry_least", password="least")
    engine = state_engine(
        url.render_as_string(hide_password=False), DatabaseSettings(), StateSettings()
    )
    try:
        migrate.upgrade(engine, SCHEMA)
        assert migrate.is_at_head(engine, SCHEMA)
        with engine.connect() as connection:
            assert (
                connection.scalar(
                    text("SELECT has_database_privilege(current_database(), 'CREATE')")
                )
                is False
            )
    finally:
        engine.dispose()
        with orchestrator_engine.begin() as admin:
            admin.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
            admin.execute(text("DROP OWNED BY telemetry_least"))
            admin.execute(text("DROP ROLE telemetry_least"))


def test_the_head_constant_is_the_newest_packaged_revision() -> None:
    # The daemon compares against HEAD without loading Alembic; Alembic must agree.
    assert migrate.head() == migrate.HEAD


def test_engines_leave_no_connection_behind(orchestrator_db_url: str) -> None:
    settings = DatabaseSettings(application_name="ot-migration-leak-check")
    engine = state_engine(orchestrator_db_url, settings, StateSettings())
    migrate.upgrade(engine, SCHEMA)
    engine.dispose()

    observer = create_engine(orchestrator_db_url, poolclass=NullPool)
    try:
        with observer.connect() as connection:
            left = connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": "ot-migration-leak-check"},
            )
    finally:
        observer.dispose()
    assert left == 0
