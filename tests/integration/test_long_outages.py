"""Through the installed command line: days of refusals, a wrong host, installations side by side.

Each test is a way the promise "never lose a Summary, never send two" used to break, replayed
with the real `once` command against real PostgreSQL and the local capture server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.capture import CaptureServer, Reply
from tests.support.cli import API_KEY, CliResult, cli_env, plain_url, run_cli
from tests.support.database import PgServer
from tests.support.slots import settled_schedules

pytestmark = pytest.mark.integration

FIRST, SECOND = "firstinstall0000", "secondinstall000"


def env_for(
    orchestrator_url: str, capture: CaptureServer, *, ucid: str = FIRST, state_url: str = ""
) -> dict[str, str]:
    variables = {
        "OT_DATABASE_URL": plain_url(orchestrator_url),
        "OT_POSTHOG_HOST": capture.url,
        "OT_POSTHOG_API_KEY": API_KEY,
        "OT_POSTHOG_TIMEOUT": "2",
        "OT_IDENTITY_UCID": ucid,
        **settled_schedules().env(),
    }
    if state_url:
        variables["OT_STATE_URL"] = plain_url(state_url)
    return cli_env(**variables)


def statuses(state: Engine) -> Counter[tuple[str, str, str]]:
    with state.connect() as connection:
        rows = connection.execute(
            text("SELECT event, distinct_id, status FROM orchestrator_telemetry.outbox")
        )
        return Counter((row.event, row.distinct_id, row.status) for row in rows)


def test_forty_five_refused_runs_then_one_accepted_deliver_the_summary_exactly_once(
    orchestrator_db_url: str, capture: CaptureServer
) -> None:
    """Past 41 failures the backoff used to overflow and every later run crashed."""
    env = env_for(orchestrator_db_url, capture)
    capture.answer_by(lambda: Reply.error(503))

    refused = [run_cli("once", "--event", "summary", env=env) for _ in range(45)]
    capture.answer_by(Reply.ok)
    accepted = run_cli("once", "--event", "summary", env=env)

    assert {result.returncode for result in refused} == {1}, refused[-1].describe()
    assert all("Traceback" not in result.output for result in refused)
    assert accepted.returncode == 0, accepted.describe()
    assert len(capture.events_named("Summary")) == 1
    assert len(capture.requests) == 46


def test_a_mistyped_host_answering_404_keeps_the_summary_for_the_fixed_host(
    orchestrator_db_url: str, orchestrator_engine: Engine, capture: CaptureServer
) -> None:
    env = env_for(orchestrator_db_url, capture)
    capture.answer_by(lambda: Reply.error(404, "Not Found"))

    wrong_host = run_cli("once", "--event", "summary", env=env)
    capture.answer_by(Reply.ok)
    fixed = run_cli("once", "--event", "summary", env=env)

    assert wrong_host.returncode == 1
    [failure] = [line for line in wrong_host.logs if line["msg"] == "delivery failed; will retry"]
    assert (failure["level"], failure["kind"]) == ("error", "configuration")
    assert "posthog.host" in str(failure["reason"])
    assert fixed.returncode == 0, fixed.describe()
    assert len(capture.events_named("Summary")) == 1
    assert statuses(orchestrator_engine)[("Summary", FIRST, "sent")] == 1


@pytest.fixture
def shared_state(pg_server: PgServer) -> Iterator[tuple[str, Engine]]:
    """A state database two installations are configured to share."""
    url = pg_server.new_database()
    engine = create_engine(url, poolclass=NullPool)
    yield url, engine
    engine.dispose()


def test_two_installations_sharing_a_state_database_each_deliver_their_summary(
    pg_server: PgServer,
    devtron_template: str,
    shared_state: tuple[str, Engine],
    capture: CaptureServer,
) -> None:
    state_url, state = shared_state
    first = env_for(pg_server.new_database(devtron_template), capture, state_url=state_url)
    second = env_for(
        pg_server.new_database(devtron_template), capture, ucid=SECOND, state_url=state_url
    )

    results = [run_cli("once", env=first), run_cli("once", env=second)]

    assert [result.returncode for result in results] == [0, 0], results[1].describe()
    assert Counter(str(event["distinct_id"]) for event in capture.events_named("Summary")) == {
        FIRST: 1,
        SECOND: 1,
    }
    assert statuses(state) == {
        ("Summary", FIRST, "sent"): 1,
        ("Heartbeat", FIRST, "sent"): 1,
        ("Summary", SECOND, "sent"): 1,
        ("Heartbeat", SECOND, "sent"): 1,
    }
    # The second start named the other installation's id loudly: a shared state is a mistake.
    [changed] = [line for line in results[1].logs if line["level"] == "error"]
    assert (changed["stored_ucid"], changed["resolved_ucid"]) == (FIRST, SECOND)


def test_five_concurrent_runs_of_each_of_two_installations_send_one_summary_each(
    pg_server: PgServer,
    devtron_template: str,
    shared_state: tuple[str, Engine],
    capture: CaptureServer,
) -> None:
    state_url, state = shared_state
    installations = [
        env_for(pg_server.new_database(devtron_template), capture, ucid=ucid, state_url=state_url)
        for ucid in (FIRST, SECOND)
    ]
    run_cli("migrate", env=installations[0])  # ten first starts racing Alembic is another test

    def once(env: dict[str, str]) -> CliResult:
        return run_cli("once", env=env, timeout=60)

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(once, [env for env in installations for _ in range(5)]))
    # A run that lost every race to a replica still sending exits 1; a later run settles it.
    settle = [run_cli("once", env=env) for env in installations]

    assert all(result.returncode in (0, 1) for result in results), [r.describe() for r in results]
    assert [result.returncode for result in settle] == [0, 0]
    assert Counter(str(event["distinct_id"]) for event in capture.events_named("Summary")) == {
        FIRST: 1,
        SECOND: 1,
    }
    heartbeats = capture.events_named("Heartbeat")
    assert Counter(str(event["distinct_id"]) for event in heartbeats) == {FIRST: 1, SECOND: 1}
    assert sum(statuses(state).values()) == 4


def test_a_summary_whose_counts_wait_on_a_lock_is_counted_later_not_sent_as_minus_one(
    orchestrator_db_url: str, orchestrator_engine: Engine, capture: CaptureServer
) -> None:
    """A Devtron migration holding a lock used to make that count -1 for the period, for good."""
    env = {**env_for(orchestrator_db_url, capture), "OT_DATABASE_STATEMENT_TIMEOUT": "0.5"}
    with orchestrator_engine.connect() as migration:
        migration.execute(text("LOCK TABLE public.cluster IN ACCESS EXCLUSIVE MODE"))
        locked = run_cli("once", env=env)
        migration.rollback()
    unlocked = run_cli("once", env=env)

    assert locked.returncode == 3, locked.describe()
    [error] = [line for line in locked.logs if line["level"] == "error"]
    assert "statement timeout" in str(error["error"])
    assert [event["event"] for event in capture.events[:1]] == ["Heartbeat"]
    assert unlocked.returncode == 0, unlocked.describe()
    [summary] = capture.events_named("Summary")
    counts = summary["properties"]["summary"]
    assert -1 not in counts.values()
