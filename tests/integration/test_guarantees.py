"""The promises: never lose a Summary, never send two for one period, never leak a secret.

Each test breaks something real (the PostHog endpoint, the database server, the process itself)
and checks what reached the capture server and what the outbox holds afterwards.
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from orchestrator_telemetry.app import application
from orchestrator_telemetry.config import load
from orchestrator_telemetry.events import EventName
from orchestrator_telemetry.sandbox.demo import as_summary
from orchestrator_telemetry.sandbox.devtron import create_schema, load_sample_data
from orchestrator_telemetry.sandbox.postgres import LocalPostgres, free_port
from tests.support.capture import CaptureServer, Reply
from tests.support.cli import (
    API_KEY,
    CLI,
    CliProcess,
    CliResult,
    cli_env,
    log_lines,
    plain_url,
    run_cli,
)
from tests.support.database import PgServer
from tests.support.slots import settled_schedules

pytestmark = pytest.mark.integration

# Every process started here reports these slots, whatever the time of day the suite runs.
SCHEDULES = settled_schedules()


@pytest.fixture
def expected(orchestrator_engine: Engine) -> dict[str, int]:
    """Load the sample installation; return the counts the latest slot's Summary must show."""
    with orchestrator_engine.begin() as connection:
        return as_summary(load_sample_data(connection, SCHEDULES.summary_slot))


def env_for(url: str, capture: CaptureServer, **extra: str) -> dict[str, str]:
    variables = {
        "OT_DATABASE_URL": plain_url(url),
        "OT_POSTHOG_HOST": capture.url,
        "OT_POSTHOG_API_KEY": API_KEY,
        "OT_POSTHOG_TIMEOUT": "1",
        **SCHEDULES.env(),
    }
    return cli_env(**{**variables, **extra})


def outbox_rows(engine: Engine) -> list[tuple[str, datetime, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT event, period, status FROM orchestrator_telemetry.outbox ORDER BY period")
        )
        return [(row.event, row.period, row.status) for row in rows]


def test_an_outage_of_503s_then_timeouts_loses_nothing_and_sends_each_event_once(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    expected: dict[str, int],
    capture: CaptureServer,
) -> None:
    env = env_for(orchestrator_db_url, capture)
    capture.respond_with(Reply.error(503), Reply.slow(2, 503))

    # The first failure ends a pass: the other event waits for the same retry, unasked.
    assert run_cli("once", env=env).returncode == 1  # answered 503
    assert run_cli("once", env=env).returncode == 1  # timed out
    recovered = run_cli("once", env=env)

    assert recovered.returncode == 0, recovered.describe()
    uuids = Counter(str(event["uuid"]) for event in capture.events)
    assert len(uuids) == 2
    assert set(uuids.values()) == {1}
    [summary] = capture.events_named("Summary")
    assert summary["properties"]["summary"] == expected
    assert [status for *_, status in outbox_rows(orchestrator_engine)] == ["sent", "sent"]


@contextmanager
def server_of_its_own() -> Iterator[tuple[LocalPostgres, str]]:
    """A PostgreSQL this test may stop and start, with an orchestrator database on it."""
    with LocalPostgres() as server:
        url = server.create_database("orchestrator")
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as connection:
            create_schema(connection)
        engine.dispose()
        yield server, url


def test_a_database_outage_fails_cleanly_and_the_next_run_delivers(capture: CaptureServer) -> None:
    with server_of_its_own() as (server, url):
        env = env_for(url + "?connect_timeout=2", capture)
        capture.respond_with(Reply.error(503))  # ends the pass: the other event is not tried
        assert run_cli("once", env=env).returncode == 1  # recorded, not delivered

        server.halt()
        down = run_cli("once", env=env)
        server.resume()
        up = run_cli("once", env=env)

    assert down.returncode == 3, down.describe()
    assert "Traceback" not in down.output
    [error] = [line for line in down.logs if line["level"] == "error"]
    assert str(error["error"]).startswith("state database:")
    assert up.returncode == 0, up.describe()
    assert sorted(str(event["event"]) for event in capture.events) == ["Heartbeat", "Summary"]


def test_five_daemons_started_together_send_one_summary_and_one_heartbeat(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    expected: dict[str, int],
    capture: CaptureServer,
) -> None:
    env = env_for(orchestrator_db_url, capture)
    daemons = [CliProcess("run", env=env) for _ in range(5)]
    try:
        for daemon in daemons:
            daemon.wait_for_log(
                lambda line: line["msg"] == "job finished" and line.get("job") == "startup", 30
            )
        codes = [daemon.stop() for daemon in daemons]
    finally:
        for daemon in daemons:
            daemon.__exit__(None, None, None)

    assert codes == [0] * 5
    assert Counter(str(event["event"]) for event in capture.events) == {
        "Summary": 1,
        "Heartbeat": 1,
    }
    assert len({str(request.body["batch"][0]["uuid"]) for request in capture.requests}) == 2
    assert [(event, status) for event, _, status in outbox_rows(orchestrator_engine)] in (
        [("Summary", "sent"), ("Heartbeat", "sent")],
        [("Heartbeat", "sent"), ("Summary", "sent")],
    )


def test_a_process_killed_between_send_and_mark_resends_the_same_event(
    orchestrator_db_url: str, expected: dict[str, int], capture: CaptureServer
) -> None:
    env = env_for(orchestrator_db_url, capture, OT_POSTHOG_TIMEOUT="10")
    capture.respond_with(Reply.slow(5, 200))  # PostHog has the event; the answer never arrives
    process = subprocess.Popen([*CLI, "once", "--event", "summary"], env=env)
    try:
        capture.wait_for_requests(1, timeout=20)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    again = run_cli("once", "--event", "summary", env=env)

    assert again.returncode == 0, again.describe()
    first, second = (request.body["batch"][0] for request in capture.requests)
    assert first["uuid"] == second["uuid"]
    assert first["timestamp"] == second["timestamp"]
    assert first["properties"]["summary"] == second["properties"]["summary"] == expected


def add_ci_pipelines(engine: Engine, count: int, created_on: datetime) -> None:
    """`count` CI pipelines of one new app, created at `created_on`: each Summary day its own."""
    with engine.begin() as connection:
        app_id = connection.scalar(
            text(
                "INSERT INTO public.app (app_name, active, team_id,"
                " created_on, created_by, updated_on, updated_by)"
                " VALUES (:name, true, 1, :at, 1, :at, 1) RETURNING id"
            ),
            {"name": f"app-{created_on:%Y%m%d%H%M}", "at": created_on},
        )
        connection.execute(
            text(
                "INSERT INTO public.ci_pipeline (app_id, name, active, deleted, ci_pipeline_type,"
                " created_on, created_by, updated_on, updated_by)"
                " VALUES (:app_id, :name, true, false, 'CI_BUILD', :at, 1, :at, 1)"
            ),
            [
                {"app_id": app_id, "name": f"ci-{created_on:%Y%m%d%H%M}-{n}", "at": created_on}
                for n in range(count)
            ],
        )


def test_a_summary_slot_missed_while_down_is_recorded_at_the_next_start(
    orchestrator_db_url: str, orchestrator_engine: Engine, capture: CaptureServer
) -> None:
    day_one = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    slots = [day_one + timedelta(days=n) for n in range(4)]
    with orchestrator_engine.begin() as connection:
        # Loaded long before: its stock counts hold on every day, its daily counts on none.
        stock = as_summary(load_sample_data(connection, day_one - timedelta(days=100)))
    for day, slot in enumerate(slots):
        add_ci_pipelines(orchestrator_engine, day + 1, slot - timedelta(hours=1))
    config = load(
        None,
        {
            "OT_DATABASE_URL": orchestrator_db_url,
            "OT_IDENTITY_UCID": "missedslot000000",
            "OT_POSTHOG_HOST": capture.url,
            "OT_POSTHOG_API_KEY": API_KEY,
        },
    )
    now = day_one + timedelta(hours=1)

    with application(config, lambda: now) as first:
        first.telemetry.prepare()
        recorded_first = first.telemetry.catch_up()
        first.telemetry.deliver()
    delivered_by_the_first = len(capture.events_named("Summary"))
    now = day_one + timedelta(days=3, hours=5)  # down while three Summary slots passed
    with application(config, lambda: now) as second:
        second.telemetry.prepare()
        recorded_second = second.telemetry.catch_up()
        second.telemetry.deliver()

    summary = EventName.SUMMARY
    assert [event.period for event in recorded_first if event.name == summary] == slots[:1]
    assert [event.period for event in recorded_second if event.name == summary] == slots[1:]
    assert delivered_by_the_first == 1
    summaries = capture.events_named("Summary")
    assert [datetime.fromisoformat(str(event["timestamp"])) for event in summaries] == slots
    assert [event["properties"]["summary"] for event in summaries] == [
        {**stock, "cdCountPerDay": 0, "ciCountPerDay": day + 1} for day in range(len(slots))
    ]
    assert len({event["uuid"] for event in summaries}) == len(slots)


def test_a_missing_orchestrator_table_costs_one_count_not_the_summary(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    expected: dict[str, int],
    capture: CaptureServer,
) -> None:
    with orchestrator_engine.begin() as connection:
        connection.execute(text("DROP TABLE ci_pipeline CASCADE"))

    result = run_cli("once", "--event", "summary", env=env_for(orchestrator_db_url, capture))

    assert result.returncode == 0, result.describe()
    [summary] = capture.events_named("Summary")
    assert summary["properties"]["summary"] == {**expected, "ciCountPerDay": -1}
    [failure] = [line for line in result.logs if line["msg"] == "metric failed; reported as -1"]
    assert failure["metric"] == "ciCountPerDay"


def test_a_least_privileged_role_is_enough(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    expected: dict[str, int],
    capture: CaptureServer,
) -> None:
    database = orchestrator_engine.url.database
    with orchestrator_engine.begin() as admin:
        admin.execute(text("DROP ROLE IF EXISTS telemetry_reader"))
        admin.execute(text("CREATE ROLE telemetry_reader LOGIN PASSWORD 'reader-pw'"))
        admin.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        admin.execute(text(f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC'))
        admin.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO telemetry_reader'))
        admin.execute(
            text(
                "GRANT SELECT ON users, cluster, environment, app, ci_pipeline, pipeline"
                " TO telemetry_reader"
            )
        )
        admin.execute(text("CREATE SCHEMA orchestrator_telemetry AUTHORIZATION telemetry_reader"))
    reader = orchestrator_engine.url.set(username="telemetry_reader", password="reader-pw")
    try:
        result = run_cli("once", env=env_for(reader.render_as_string(hide_password=False), capture))
        assert result.returncode == 0, result.describe()
        [summary] = capture.events_named("Summary")
        assert summary["properties"]["summary"] == expected
        assert "reader-pw" not in result.output
    finally:
        with orchestrator_engine.begin() as admin:
            admin.execute(text("DROP SCHEMA orchestrator_telemetry CASCADE"))
            admin.execute(text("DROP OWNED BY telemetry_reader"))
            admin.execute(text("DROP ROLE telemetry_reader"))


def test_no_secret_is_printed_by_a_failing_run(
    orchestrator_db_url: str, capture: CaptureServer
) -> None:
    """Failing commands keep the database password and the API key, or any piece of them, out.

    Two failures carry a secret in their own error text: PostHog's 401 echoing the key it refused,
    and libpq quoting a connection option's value (here the password's). Only the log redaction
    (`Redactor` in orchestrator_telemetry/logs.py) keeps those out: with `Redactor.mask` returning
    its text unchanged, the "401 echoing the key" and "option echoing the password" cases fail.
    A password with an unescaped "@" is refused as configuration, before libpq could print its
    tail as a host name no redaction knows.
    """
    core = "Zq8vN3kL0s"  # in every secret below: no output may hold even this much of one
    password, key = f"pw-{core}", f"phc_{core}KeyMaterial"
    closed = f"postgresql://devtron:{password}@127.0.0.1:{free_port()}/orchestrator"
    env = cli_env(OT_DATABASE_URL=closed, OT_POSTHOG_API_KEY=key, OT_POSTHOG_HOST=capture.url)
    working = make_url(plain_url(orchestrator_db_url)).set(password=password)  # trust: accepted
    working_env = env_for(working.render_as_string(hide_password=False), capture)
    working_env["OT_POSTHOG_API_KEY"] = key
    echoing = f"{closed}?sslmode={password}"  # libpq: invalid sslmode value: "<the password>"
    unescaped = f"postgresql://devtron:pw@{core}@127.0.0.1:{free_port()}/orchestrator"
    capture.respond_with(Reply.error(401, f"API key {key!r} is not valid"))

    results: dict[str, tuple[CliResult, int]] = {
        "once": (run_cli("once", env=env), 3),
        "status": (run_cli("status", env=env), 3),
        "preview": (run_cli("preview", env=env), 3),
        "migrate": (run_cli("migrate", env=env), 3),
        "check-config": (run_cli("check-config", env=env), 0),
        "bad cron": (run_cli("once", env={**env, "OT_SCHEDULE_SUMMARY": "bad cron"}), 2),
        "401 echoing the key": (run_cli("once", env=working_env), 1),
        "option echoing the password": (
            run_cli("once", env={**env, "OT_DATABASE_URL": echoing}),
            3,
        ),
        "unescaped @ in the password": (
            run_cli("once", env={**env, "OT_DATABASE_URL": unescaped}),
            2,
        ),
    }

    assert capture.pending_replies == 0  # the 401 was given: the key was echoed to the client
    for name, (result, code) in results.items():
        assert result.returncode == code, f"{name}: {result.describe()}"
        assert core not in result.output, f"{name}: {result.describe()}"
        assert "Traceback" not in result.output, f"{name}: {result.describe()}"


def test_a_rejected_api_key_is_logged_with_its_source_and_kept(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    expected: dict[str, int],
    capture: CaptureServer,
) -> None:
    capture.respond_with(Reply.error(401, "invalid API key"))

    rejected = run_cli("once", env=env_for(orchestrator_db_url, capture))

    assert rejected.returncode == 1
    errors = [line for line in rejected.logs if line["level"] == "error"]
    assert errors and all("OT_POSTHOG_API_KEY" in str(line["reason"]) for line in errors)
    assert API_KEY not in rejected.output
    assert [status for *_, status in outbox_rows(orchestrator_engine)] == ["pending", "pending"]


def test_the_daemon_survives_a_database_that_is_down_at_start(capture: CaptureServer) -> None:
    with server_of_its_own() as (server, url):
        server.halt()
        env = env_for(url + "?connect_timeout=2", capture, OT_DELIVERY_RETRY_INITIAL="1")
        with CliProcess("run", env=env) as daemon:
            daemon.wait_for_log(lambda line: line.get("outcome") == "failed", 30)
            server.resume()
            daemon.wait_for_log(
                lambda line: line["msg"] == "job finished" and line.get("outcome") == "ok", 30
            )
            assert daemon.stop() == 0

    assert sorted(str(event["event"]) for event in capture.events) == ["Heartbeat", "Summary"]
    assert not [line for line in log_lines("\n".join(daemon.stdout_lines)) if "exception" in line]


def test_the_state_can_live_in_a_database_of_its_own(
    pg_server: PgServer,
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    expected: dict[str, int],
    capture: CaptureServer,
) -> None:
    state_url = pg_server.new_database()
    env = env_for(orchestrator_db_url, capture, OT_STATE_URL=plain_url(state_url))

    result = run_cli("once", env=env)

    assert result.returncode == 0, result.describe()
    [summary] = capture.events_named("Summary")
    assert summary["properties"]["summary"] == expected
    state = create_engine(state_url, poolclass=NullPool)
    try:
        assert len(outbox_rows(state)) == 2
    finally:
        state.dispose()
    with orchestrator_engine.connect() as connection:
        schemas = connection.execute(text("SELECT nspname FROM pg_namespace")).scalars().all()
    assert "orchestrator_telemetry" not in schemas
