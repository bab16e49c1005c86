"""The command line, run as a subprocess with only environment variables or a YAML file.

Each test starts `python -m orchestrator_telemetry` against a real PostgreSQL and, where events
leave, the real posthog client posting to a local capture server.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, text

from orchestrator_telemetry.sandbox.demo import as_summary
from orchestrator_telemetry.sandbox.devtron import load_sample_data
from orchestrator_telemetry.sandbox.postgres import free_port
from tests.support.capture import CaptureServer, Reply
from tests.support.cli import API_KEY, cli_env, plain_url, run_cli
from tests.support.slots import settled_schedules

pytestmark = pytest.mark.integration

SCHEMA = "orchestrator_telemetry"
# Every command run here reports these slots, whatever the time of day the suite runs.
SCHEDULES = settled_schedules()


@pytest.fixture
def summary_slot() -> datetime:
    """The latest slot of the Summary schedule: the one `once` reports."""
    return SCHEDULES.summary_slot


@pytest.fixture
def expected_summary(orchestrator_engine: Engine, summary_slot: datetime) -> dict[str, int]:
    """Load the sample installation, dated at the slot; return the counts its Summary shows."""
    with orchestrator_engine.begin() as connection:
        counts = load_sample_data(connection, summary_slot)
    return as_summary(counts)


def env_for(database_url: str, capture: CaptureServer, **variables: str) -> dict[str, str]:
    """Environment of a command using this database and delivering to the capture server."""
    return cli_env(
        OT_DATABASE_URL=plain_url(database_url),
        OT_POSTHOG_HOST=capture.url,
        OT_POSTHOG_API_KEY=API_KEY,
        **{**SCHEDULES.env(), **variables},
    )


def schema_exists(engine: Engine, schema: str) -> bool:
    with engine.connect() as connection:
        found = connection.scalar(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
        )
    return found is not None


def relations_in(engine: Engine, schema: str) -> set[str]:
    """Every table, index, sequence and view in `schema`."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = :schema"
            ),
            {"schema": schema},
        ).scalars()
        return set(rows)


def tables_in(engine: Engine, schema: str) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": schema}
        ).scalars()
        return set(rows)


# once -----------------------------------------------------------------------------------------


def test_once_delivers_the_latest_summary_and_heartbeat_exactly_once(
    orchestrator_db_url: str,
    expected_summary: dict[str, int],
    summary_slot: datetime,
    capture: CaptureServer,
) -> None:
    env = env_for(orchestrator_db_url, capture)

    first = run_cli("once", "--event", "all", env=env)

    assert first.returncode == 0, first.describe()
    [summary] = capture.events_named("Summary")
    [heartbeat] = capture.events_named("Heartbeat")
    assert summary["properties"]["summary"] == expected_summary
    assert datetime.fromisoformat(summary["timestamp"]) == summary_slot
    assert summary["distinct_id"] == heartbeat["distinct_id"]
    requests_so_far = len(capture.requests)

    second = run_cli("once", "--event", "all", env=env)

    assert second.returncode == 0, second.describe()
    assert len(capture.requests) == requests_so_far


def test_once_exits_1_while_posthog_fails_and_a_later_once_sends_the_same_event(
    orchestrator_db_url: str, expected_summary: dict[str, int], capture: CaptureServer
) -> None:
    env = env_for(orchestrator_db_url, capture)
    # The Summary, older, is tried first; its failure ends the pass, so the Heartbeat waits.
    capture.respond_with(Reply.error(503))

    failed = run_cli("once", env=env)

    assert failed.returncode == 1, failed.describe()
    assert capture.pending_replies == 0
    assert capture.events == []
    [failed_summary] = [
        event
        for request in capture.requests
        for event in request.batch
        if event["event"] == "Summary"
    ]

    recovered = run_cli("once", env=env)

    assert recovered.returncode == 0, recovered.describe()
    [summary] = capture.events_named("Summary")
    assert summary["uuid"] == failed_summary["uuid"]
    assert summary["properties"]["summary"] == expected_summary
    assert len(capture.events_named("Heartbeat")) == 1


def test_once_does_not_exit_0_while_the_latest_summary_is_undelivered(
    orchestrator_db_url: str, capture: CaptureServer
) -> None:
    env = env_for(orchestrator_db_url, capture)
    capture.respond_with(Reply.error(400, "Invalid event"), Reply.error(400, "Invalid event"))

    rejected = run_cli("once", env=env)

    assert rejected.returncode == 1, rejected.describe()
    assert capture.events == []

    again = run_cli("once", env=env)

    assert capture.events == []  # nothing was delivered, now or before
    assert again.returncode == 1, again.describe()  # "exit 0 only if all were delivered"


# preview --------------------------------------------------------------------------------------


def test_preview_prints_the_events_and_neither_sends_nor_writes(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    expected_summary: dict[str, int],
    capture: CaptureServer,
) -> None:
    result = run_cli("preview", env=env_for(orchestrator_db_url, capture))

    assert result.returncode == 0, result.describe()
    printed = json.loads(result.stdout)
    assert [event["event"] for event in printed] == ["Heartbeat", "Summary"]
    heartbeat, summary = printed
    assert heartbeat["properties"]["eventType"] == 0
    assert "summary" not in heartbeat["properties"]
    assert summary["properties"]["eventType"] == 6
    assert summary["properties"]["summary"] == expected_summary
    assert capture.requests == []
    assert not schema_exists(orchestrator_engine, SCHEMA)


# configuration --------------------------------------------------------------------------------


def test_every_configuration_problem_is_reported_at_once_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "databse:\n"  # typo: the URL below is therefore not set
        "  url: postgresql://devtron@postgresql-postgresql:5432/orchestrator\n"
        "schedule:\n"
        "  summary: '0 0 * *'\n",  # four fields
        encoding="utf-8",
    )

    result = run_cli("once", "--config", str(config), env=cli_env(OT_POSTHOG_API_KEY=API_KEY))

    assert result.returncode == 2, result.describe()
    problems = [line for line in result.stderr.splitlines() if line.startswith("config error:")]
    assert len(problems) == 3, result.describe()
    assert problems == [line for line in result.stderr.splitlines() if line.strip()]
    assert any("databse" in line and "unknown key" in line for line in problems)
    assert any(line.startswith("config error: schedule.summary:") for line in problems)
    assert any(line.startswith("config error: database.url:") for line in problems)
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_check_config_prints_the_configuration_without_its_secrets() -> None:
    env = cli_env(
        OT_DATABASE_URL="postgresql://u:supersecretpw@h/db",
        OT_POSTHOG_API_KEY="phc_supersecretkey123",
    )

    result = run_cli("check-config", env=env)

    assert result.returncode == 0, result.describe()
    assert "supersecretpw" not in result.output
    assert "phc_supersecretkey123" not in result.output
    assert "supersecret" not in result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("database.url:") and "u:***@h/db" in line for line in lines)
    assert any(
        line.startswith("posthog.api_key:") and "OT_POSTHOG_API_KEY" in line for line in lines
    )


# the database ---------------------------------------------------------------------------------


def test_once_exits_3_quietly_when_the_database_is_unreachable(capture: CaptureServer) -> None:
    closed = free_port()
    env = cli_env(
        OT_DATABASE_URL=f"postgresql://devtron:supersecretpw@127.0.0.1:{closed}/orchestrator",
        OT_POSTHOG_HOST=capture.url,
        OT_POSTHOG_API_KEY=API_KEY,
    )

    result = run_cli("once", env=env, timeout=15)

    assert result.returncode == 3, result.describe()
    errors = [line for line in result.logs if line["level"] == "error"]
    assert len(errors) == 1, result.describe()
    assert "database" in errors[0]["msg"]
    assert "Traceback" not in result.output
    assert "supersecretpw" not in result.output
    assert capture.requests == []


def test_migrate_creates_the_daemons_schema_and_nothing_in_public(
    orchestrator_db_url: str, orchestrator_engine: Engine, capture: CaptureServer
) -> None:
    public_before = relations_in(orchestrator_engine, "public")

    result = run_cli("migrate", env=env_for(orchestrator_db_url, capture))

    assert result.returncode == 0, result.describe()
    assert schema_exists(orchestrator_engine, SCHEMA)
    assert tables_in(orchestrator_engine, SCHEMA) == {"outbox", "identity", "alembic_version"}
    assert relations_in(orchestrator_engine, "public") == public_before


# the YAML file --------------------------------------------------------------------------------


def test_once_runs_from_the_documented_yaml_file_alone(
    orchestrator_db_url: str,
    expected_summary: dict[str, int],
    capture: CaptureServer,
    tmp_path: Path,
) -> None:
    ucid = "yamlc0nf1gucid42"
    config = tmp_path / "orchestrator-telemetry.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": plain_url(orchestrator_db_url)},
                "posthog": {"host": capture.url, "api_key": API_KEY},
                "identity": {"ucid": ucid},
                "devtron": {"version": "v1-from-yaml", "server_version": "v1.29.4+k3s1"},
                "schedule": {"summary": SCHEDULES.summary, "heartbeat": SCHEDULES.heartbeat},
            }
        ),
        encoding="utf-8",
    )

    result = run_cli("once", "--config", str(config), env=cli_env())

    assert result.returncode == 0, result.describe()
    [summary] = capture.events_named("Summary")
    [heartbeat] = capture.events_named("Heartbeat")
    for event in (summary, heartbeat):
        properties = event["properties"]
        assert event["distinct_id"] == ucid
        assert properties["ucid"] == ucid
        assert properties["serverVersion"] == "v1.29.4+k3s1"
        assert properties["devtronVersion"] == "v1-from-yaml"
    assert summary["properties"]["summary"] == expected_summary
    assert datetime.fromisoformat(heartbeat["timestamp"]) == SCHEDULES.heartbeat_slot
