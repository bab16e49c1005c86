"""`collect` on a real orchestrator database: the six documented Summary counts, as Devtron counts.

Rows go in with plain SQL, shaped as Devtron's orchestrator writes them (reference §7); the counts
come out of `collect` through the engine the daemon itself builds (`database.orchestrator_engine`).
Every test starts from a fresh install: users `system` and `admin`, cluster `default_cluster`,
non-production environment `devtron-demo`, team `devtron-demo`.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg2.errors
import pytest
from sqlalchemy import Connection, Engine, event, make_url, text
from sqlalchemy.exc import DBAPIError

from orchestrator_telemetry.collect import FAILED, Window, collect
from orchestrator_telemetry.collect.catalogue import queried
from orchestrator_telemetry.collect.statements import statement
from orchestrator_telemetry.config import DatabaseSettings
from orchestrator_telemetry.database import orchestrator_engine as build_orchestrator_engine
from orchestrator_telemetry.errors import TransientCollectError, Unavailable
from orchestrator_telemetry.sandbox.demo import as_summary
from orchestrator_telemetry.sandbox.devtron import load_sample_data
from orchestrator_telemetry.sandbox.postgres import free_port

pytestmark = pytest.mark.integration

SLOT = datetime(2024, 5, 2, tzinfo=UTC)  # a past Summary slot: rows created today are after it
WINDOW_START = SLOT - timedelta(hours=24)
MICROSECOND = timedelta(microseconds=1)  # timestamptz resolution
LONG_AGO = SLOT - timedelta(days=90)  # outside the window; for rows whose age no count looks at

DEFAULT_CLUSTER = 1  # seeded `default_cluster`
DEVTRON_DEMO_ENVIRONMENT = 1  # seeded `devtron-demo`, non-production
DEVTRON_DEMO_TEAM = 1  # seeded `devtron-demo`

DOCUMENTED_KEYS = [
    "cdCountPerDay",
    "ciCountPerDay",
    "clusterCount",
    "environmentCount",
    "nonProdAppCount",
    "userCount",
]
FRESH_INSTALL = {
    "cdCountPerDay": 0,
    "ciCountPerDay": 0,
    "clusterCount": 1,
    "environmentCount": 1,
    "nonProdAppCount": 0,
    "userCount": 2,
}

# What a test reads of the session a statement runs in, from inside that very transaction.
SESSION_SETTINGS = (
    "SELECT current_setting('transaction_read_only'),"
    " current_setting('default_transaction_read_only'),"
    " current_setting('application_name'),"
    " (SELECT setting FROM pg_settings WHERE name = 'statement_timeout')"  # milliseconds
)


class Devtron:
    """Writes rows into the orchestrator's tables as Devtron does: plain SQL, one commit each."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._names = 0

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}-{self._names}"

    def _insert(self, statement: str, values: dict[str, object]) -> int:
        audit = {"at": LONG_AGO, "by": 2}
        with self._engine.begin() as conn:
            row_id = conn.execute(text(f"{statement} RETURNING id"), audit | values).scalar_one()
        return int(row_id)

    def user(self, *, active: bool = True, user_type: str | None = None) -> int:
        """A row of `users`: a person (user_type NULL) unless `user_type` says otherwise."""
        return self._insert(
            "INSERT INTO public.users (email_id, active, user_type,"
            " created_on, created_by, updated_on, updated_by)"
            " VALUES (:email, :active, :user_type, :naive_at, :by, :naive_at, :by)",
            {
                "email": f"{self._name('user')}@example.com",
                "active": active,
                "user_type": user_type,
                # users.created_on is timestamp without time zone, holding UTC.
                "naive_at": LONG_AGO.replace(tzinfo=None),
            },
        )

    def cluster(self, *, active: bool = True, virtual: bool = False) -> int:
        """A row of `cluster`."""
        return self._insert(
            "INSERT INTO public.cluster (cluster_name, active, is_virtual_cluster, server_url,"
            " config, created_on, created_by, updated_on, updated_by)"
            " VALUES (:name, :active, :virtual, :server_url, '{}', :at, :by, :at, :by)",
            {
                "name": self._name("cluster"),
                "active": active,
                "virtual": virtual,
                "server_url": None if virtual else "https://k8s.example.com",
            },
        )

    def environment(
        self, *, production: bool = False, active: bool = True, cluster_id: int = DEFAULT_CLUSTER
    ) -> int:
        """A row of `environment`; `production` is its `"default"` column."""
        name = self._name("env")
        return self._insert(
            'INSERT INTO public.environment (environment_name, cluster_id, active, "default",'
            " namespace, environment_identifier, is_virtual_environment,"
            " created_on, created_by, updated_on, updated_by)"
            " VALUES (:name, :cluster_id, :active, :production, :name, :identifier, false,"
            " :at, :by, :at, :by)",
            {
                "name": name,
                "cluster_id": cluster_id,
                "active": active,
                "production": production,
                "identifier": f"cluster-{cluster_id}__{name}",
            },
        )

    def app(self, *, active: bool = True) -> int:
        """A row of `app` (a Devtron CI/CD app) in the seeded team."""
        return self._insert(
            "INSERT INTO public.app (app_name, active, team_id,"
            " created_on, created_by, updated_on, updated_by)"
            " VALUES (:name, :active, :team_id, :at, :by, :at, :by)",
            {"name": self._name("app"), "active": active, "team_id": DEVTRON_DEMO_TEAM},
        )

    def ci_pipeline(
        self,
        app_id: int,
        *,
        created_on: datetime = LONG_AGO,
        active: bool = True,
        deleted: bool = False,
    ) -> int:
        """A row of `ci_pipeline`."""
        return self._insert(
            "INSERT INTO public.ci_pipeline (app_id, name, active, deleted, ci_pipeline_type,"
            " created_on, created_by, updated_on, updated_by)"
            " VALUES (:app_id, :name, :active, :deleted, 'CI_BUILD',"
            " :created_on, :by, :created_on, :by)",
            {
                "app_id": app_id,
                "name": self._name("ci"),
                "active": active,
                "deleted": deleted,
                "created_on": created_on,
            },
        )

    def cd_pipeline(
        self,
        app_id: int,
        environment_id: int = DEVTRON_DEMO_ENVIRONMENT,
        *,
        created_on: datetime = LONG_AGO,
        deleted: bool = False,
    ) -> int:
        """A row of `pipeline` (a CD pipeline)."""
        return self._insert(
            "INSERT INTO public.pipeline (app_id, environment_id, trigger_type, pipeline_name,"
            " deleted, deployment_app_type, created_on, created_by, updated_on, updated_by)"
            " VALUES (:app_id, :environment_id, 'AUTOMATIC', :name, :deleted, 'helm',"
            " :created_on, :by, :created_on, :by)",
            {
                "app_id": app_id,
                "environment_id": environment_id,
                "name": self._name("cd"),
                "deleted": deleted,
                "created_on": created_on,
            },
        )

    def pipeline_counted_by(self, metric: str, created_on: datetime) -> None:
        """A CD pipeline for cdCountPerDay, a CI pipeline for ciCountPerDay."""
        app_id = self.app()
        if metric == "cdCountPerDay":
            self.cd_pipeline(app_id, created_on=created_on)
        elif metric == "ciCountPerDay":
            self.ci_pipeline(app_id, created_on=created_on)
        else:
            raise ValueError(f"{metric} counts no pipelines")

    def sample_installation(self, now: datetime = SLOT) -> dict[str, int]:
        """Load the sandbox's demo installation; return the Summary it must produce at `now`."""
        with self._engine.begin() as conn:
            return as_summary(load_sample_data(conn, now))


def unique_application_name() -> str:
    """An application_name no other session on the server has."""
    return f"ot-test-{uuid.uuid4().hex[:12]}"


@contextmanager
def engine_under_test(url: str, settings: DatabaseSettings | None = None) -> Iterator[Engine]:
    """The daemon's own engine on the orchestrator database, disposed on exit."""
    engine = build_orchestrator_engine(
        url, settings or DatabaseSettings(application_name=unique_application_name())
    )
    try:
        yield engine
    finally:
        engine.dispose()


def summary_at(engine: Engine, slot: datetime = SLOT) -> dict[str, int]:
    """The counts of the Summary of `slot`."""
    return collect(engine, Window.ending_at(slot))


def sessions_named(engine: Engine, application_name: str) -> int:
    """How many client connections to the server carry `application_name`."""
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = :name AND backend_type = 'client backend'"
            ),
            {"name": application_name},
        ).scalar_one()
    return int(found)


def sessions_left_named(engine: Engine, application_name: str) -> int:
    """`sessions_named`, once closed connections have had time to leave pg_stat_activity."""
    # A closed connection's server process exits a moment after the client hangs up; give it
    # that moment, but a connection really held (a pool) stays and is returned as found.
    deadline = time.monotonic() + 10
    found = sessions_named(engine, application_name)
    while found and time.monotonic() < deadline:
        time.sleep(0.05)
        found = sessions_named(engine, application_name)
    return found


@dataclass(frozen=True)
class SessionState:
    """Settings of the session and transaction a statement ran in."""

    transaction_read_only: str
    default_transaction_read_only: str
    application_name: str
    statement_timeout_ms: str


def before_each_statement(engine: Engine, callback: Callable[[Connection, str], None]) -> None:
    """Call `callback(connection, statement)` before each statement the engine sends."""

    @event.listens_for(engine, "before_cursor_execute", named=True)
    def before_cursor_execute(**event_args: Any) -> None:
        callback(event_args["conn"], event_args["statement"])


def record_sessions(engine: Engine) -> list[SessionState]:
    """Before each SELECT the engine sends, read its session's settings in the same transaction."""
    seen: list[SessionState] = []

    def read_settings(conn: Connection, statement: str) -> None:
        if not statement.lstrip().upper().startswith("SELECT"):
            return  # SAVEPOINT and ROLLBACK TO SAVEPOINT, sent while the transaction may be aborted
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None
        probe = dbapi_connection.cursor()  # same connection, same (already begun) transaction
        try:
            probe.execute(SESSION_SETTINGS)
            row = probe.fetchone()
        finally:
            probe.close()
        assert row is not None
        seen.append(SessionState(*row))

    before_each_statement(engine, read_settings)
    return seen


@pytest.fixture
def devtron(orchestrator_engine: Engine) -> Devtron:
    """Writes rows into this test's orchestrator database."""
    return Devtron(orchestrator_engine)


@pytest.fixture
def engine(orchestrator_db_url: str) -> Iterator[Engine]:
    """The engine under test on this test's orchestrator database, default settings."""
    with engine_under_test(orchestrator_db_url) as built:
        yield built


# --- 1. A fresh install ---------------------------------------------------------------------


def test_a_fresh_install_reports_its_seed_rows_only(engine: Engine) -> None:
    assert summary_at(engine) == FRESH_INSTALL


def test_the_summary_has_the_six_documented_keys_in_documented_order(engine: Engine) -> None:
    assert list(summary_at(engine)) == DOCUMENTED_KEYS
    assert [metric.key for metric in queried("documented")] == DOCUMENTED_KEYS


# --- 2. The window: (slot - 24h, slot] --------------------------------------------------------

windowed_counts = pytest.mark.parametrize("metric", ["cdCountPerDay", "ciCountPerDay"])


@windowed_counts
def test_a_pipeline_created_exactly_24_hours_before_the_slot_is_not_counted(
    engine: Engine, devtron: Devtron, metric: str
) -> None:
    devtron.pipeline_counted_by(metric, WINDOW_START)
    devtron.pipeline_counted_by(metric, SLOT - timedelta(hours=12))  # control: inside
    assert summary_at(engine)[metric] == 1


@windowed_counts
def test_a_pipeline_created_a_microsecond_into_the_window_is_counted(
    engine: Engine, devtron: Devtron, metric: str
) -> None:
    devtron.pipeline_counted_by(metric, WINDOW_START + MICROSECOND)
    assert summary_at(engine)[metric] == 1


@windowed_counts
def test_a_pipeline_created_exactly_at_the_slot_is_counted(
    engine: Engine, devtron: Devtron, metric: str
) -> None:
    devtron.pipeline_counted_by(metric, SLOT)
    assert summary_at(engine)[metric] == 1


@windowed_counts
def test_a_pipeline_created_a_microsecond_after_the_slot_is_not_counted(
    engine: Engine, devtron: Devtron, metric: str
) -> None:
    devtron.pipeline_counted_by(metric, SLOT + MICROSECOND)
    devtron.pipeline_counted_by(metric, SLOT - timedelta(hours=12))  # control: inside
    assert summary_at(engine)[metric] == 1


@windowed_counts
def test_the_summary_of_a_past_slot_does_not_count_pipelines_created_since(
    engine: Engine, devtron: Devtron, metric: str
) -> None:
    devtron.pipeline_counted_by(metric, datetime.now(UTC))  # a Summary computed late, e.g. today
    devtron.pipeline_counted_by(metric, SLOT + timedelta(hours=1))
    devtron.pipeline_counted_by(metric, SLOT - timedelta(hours=1))  # control: inside
    assert summary_at(engine)[metric] == 1


@windowed_counts
def test_pipelines_older_than_the_window_are_not_counted(
    engine: Engine, devtron: Devtron, metric: str
) -> None:
    devtron.pipeline_counted_by(metric, WINDOW_START - timedelta(days=3))
    devtron.pipeline_counted_by(metric, SLOT - timedelta(hours=23))  # control: inside
    assert summary_at(engine)[metric] == 1


@windowed_counts
def test_the_window_is_the_same_instants_whatever_the_server_and_slot_time_zones(
    orchestrator_db_url: str, orchestrator_engine: Engine, devtron: Devtron, metric: str
) -> None:
    database = make_url(orchestrator_db_url).database
    with orchestrator_engine.connect() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE \"{database}\" SET TimeZone = 'Pacific/Kiritimati'")
        conn.commit()
    inside = (WINDOW_START + MICROSECOND, SLOT - timedelta(hours=1), SLOT)
    outside = (WINDOW_START, SLOT + MICROSECOND)
    for created_on in inside + outside:
        devtron.pipeline_counted_by(metric, created_on)
    slot_in_india = SLOT.astimezone(timezone(timedelta(hours=5, minutes=30)))

    with engine_under_test(orchestrator_db_url) as engine, engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW TimeZone").scalar_one() == "Pacific/Kiritimati"
        counted = summary_at(engine, slot_in_india)[metric]

    assert counted == len(inside)  # read as local time in either zone, it would be 2


# --- 3. Soft-deleted pipelines ----------------------------------------------------------------


def test_deleted_cd_pipelines_still_count(engine: Engine, devtron: Devtron) -> None:
    app_id = devtron.app()
    devtron.cd_pipeline(app_id, created_on=SLOT - timedelta(hours=1), deleted=True)
    devtron.cd_pipeline(app_id, created_on=SLOT - timedelta(hours=2))
    assert summary_at(engine)["cdCountPerDay"] == 2


def test_deleted_and_inactive_ci_pipelines_still_count(engine: Engine, devtron: Devtron) -> None:
    app_id = devtron.app()
    in_window = SLOT - timedelta(hours=1)
    devtron.ci_pipeline(app_id, created_on=in_window, active=False, deleted=True)
    devtron.ci_pipeline(app_id, created_on=in_window, active=False)
    devtron.ci_pipeline(app_id, created_on=in_window, deleted=True)
    devtron.ci_pipeline(app_id, created_on=in_window)
    assert summary_at(engine)["ciCountPerDay"] == 4


# --- 4. Clusters and environments -----------------------------------------------------------


def test_inactive_clusters_are_not_counted(engine: Engine, devtron: Devtron) -> None:
    devtron.cluster(active=False)
    devtron.cluster()
    assert summary_at(engine)["clusterCount"] == 2  # default_cluster and the active one


def test_virtual_clusters_count(engine: Engine, devtron: Devtron) -> None:
    devtron.cluster(virtual=True)
    devtron.cluster(virtual=True, active=False)
    assert summary_at(engine)["clusterCount"] == 2  # default_cluster and the active virtual one


def test_inactive_environments_are_not_counted(engine: Engine, devtron: Devtron) -> None:
    devtron.environment(active=False)
    devtron.environment(production=True)
    devtron.environment(production=False)
    assert summary_at(engine)["environmentCount"] == 3  # devtron-demo and the two active ones


def test_clusters_and_environments_count_whatever_their_age(
    engine: Engine, devtron: Devtron
) -> None:
    cluster_id = devtron.cluster()  # created LONG_AGO, far outside the window
    devtron.environment(cluster_id=cluster_id)
    counts = summary_at(engine)
    assert (counts["clusterCount"], counts["environmentCount"]) == (2, 2)


# --- 5. nonProdAppCount -----------------------------------------------------------------------


def test_an_app_with_several_non_prod_pipelines_counts_once(
    engine: Engine, devtron: Devtron
) -> None:
    app_id = devtron.app()
    devtron.cd_pipeline(app_id, DEVTRON_DEMO_ENVIRONMENT)
    devtron.cd_pipeline(app_id, DEVTRON_DEMO_ENVIRONMENT)
    devtron.cd_pipeline(app_id, devtron.environment(production=False))
    assert summary_at(engine)["nonProdAppCount"] == 1


def test_apps_deployed_only_to_production_are_not_counted(engine: Engine, devtron: Devtron) -> None:
    production = devtron.environment(production=True)
    devtron.cd_pipeline(devtron.app(), production)
    devtron.cd_pipeline(devtron.app(), DEVTRON_DEMO_ENVIRONMENT)  # control: non-prod
    assert summary_at(engine)["nonProdAppCount"] == 1


def test_an_app_on_both_production_and_non_prod_counts(engine: Engine, devtron: Devtron) -> None:
    app_id = devtron.app()
    devtron.cd_pipeline(app_id, devtron.environment(production=True))
    devtron.cd_pipeline(app_id, DEVTRON_DEMO_ENVIRONMENT)
    assert summary_at(engine)["nonProdAppCount"] == 1


def test_inactive_apps_are_not_counted(engine: Engine, devtron: Devtron) -> None:
    devtron.cd_pipeline(devtron.app(active=False), DEVTRON_DEMO_ENVIRONMENT)
    devtron.cd_pipeline(devtron.app(), DEVTRON_DEMO_ENVIRONMENT)  # control: active
    assert summary_at(engine)["nonProdAppCount"] == 1


def test_deleted_cd_pipelines_still_make_their_app_count(engine: Engine, devtron: Devtron) -> None:
    devtron.cd_pipeline(devtron.app(), DEVTRON_DEMO_ENVIRONMENT, deleted=True)
    assert summary_at(engine)["nonProdAppCount"] == 1


def test_apps_without_cd_pipelines_are_not_counted(engine: Engine, devtron: Devtron) -> None:
    devtron.ci_pipeline(devtron.app())  # built, never deployed
    devtron.cd_pipeline(devtron.app(), DEVTRON_DEMO_ENVIRONMENT)  # control: deployed
    assert summary_at(engine)["nonProdAppCount"] == 1


def test_an_inactive_non_prod_environment_still_makes_its_apps_count(
    engine: Engine, devtron: Devtron
) -> None:
    # Devtron's query filters app.active only, not environment.active.
    devtron.cd_pipeline(devtron.app(), devtron.environment(active=False))
    assert summary_at(engine)["nonProdAppCount"] == 1


def test_non_prod_apps_count_whatever_the_age_of_their_pipelines(
    engine: Engine, devtron: Devtron
) -> None:
    devtron.cd_pipeline(devtron.app(), created_on=SLOT - timedelta(days=400))
    counts = summary_at(engine)
    assert (counts["nonProdAppCount"], counts["cdCountPerDay"]) == (1, 0)


# --- 6. userCount -----------------------------------------------------------------------------


def test_inactive_users_are_not_counted(engine: Engine, devtron: Devtron) -> None:
    devtron.user(active=False)
    devtron.user()
    assert summary_at(engine)["userCount"] == 3  # system, admin and the active one


def test_api_tokens_are_not_counted_as_users(engine: Engine, devtron: Devtron) -> None:
    devtron.user(user_type="apiToken")
    devtron.user(user_type="apiToken", active=False)
    devtron.user()
    assert summary_at(engine)["userCount"] == 3  # system, admin and the person


def test_users_of_any_other_or_no_user_type_are_counted(engine: Engine, devtron: Devtron) -> None:
    devtron.user(user_type=None)
    devtron.user(user_type="")
    devtron.user(user_type="someFutureType")
    assert summary_at(engine)["userCount"] == 5


# --- 7. One statement -------------------------------------------------------------------------


def test_collect_sends_a_single_statement(orchestrator_db_url: str) -> None:
    # What goes over the wire, observed once through a proxy: on an engine's first connection,
    # SQLAlchemy looks up hstore's OIDs and initialises its dialect (version(), current_schema(),
    # SHOW transaction isolation level, SHOW standard_conforming_strings) on the raw DBAPI
    # connection, with Connection events off, so before_cursor_execute does not see it and it
    # need not be excluded; psycopg2 sends BEGIN READ ONLY and ROLLBACK by itself, also unseen.
    # What the hook records is exactly what `collect` asks the database for.
    window = Window.ending_at(SLOT)
    statements: list[str] = []
    with engine_under_test(orchestrator_db_url) as engine:
        before_each_statement(engine, lambda _, statement: statements.append(statement))

        collect(engine, window)  # the engine's first connection
        on_first_connection = list(statements)
        statements.clear()
        collect(engine, window)
        summary_sql = str(statement(queried("documented"), window).compile(dialect=engine.dialect))

    assert on_first_connection == [summary_sql]
    assert statements == [summary_sql]


# --- 8. Read-only, identified, bounded, and holding nothing -----------------------------------


def test_collect_runs_in_a_read_only_transaction_with_the_configured_identity_and_timeout(
    orchestrator_db_url: str,
) -> None:
    name = unique_application_name()
    settings = DatabaseSettings(application_name=name, statement_timeout=2.5)
    with engine_under_test(orchestrator_db_url, settings) as engine:
        sessions = record_sessions(engine)
        collect(engine, Window.ending_at(SLOT))

    assert sessions == [SessionState("on", "on", name, "2500")]


def test_counts_retried_one_by_one_also_run_read_only_and_identified(
    orchestrator_db_url: str, orchestrator_engine: Engine
) -> None:
    with orchestrator_engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE public.ci_pipeline CASCADE")
    name = unique_application_name()
    settings = DatabaseSettings(application_name=name, statement_timeout=2.5)
    with engine_under_test(orchestrator_db_url, settings) as engine:
        sessions = record_sessions(engine)
        collect(engine, Window.ending_at(SLOT))

    # The failed summary, the look-up of what is missing, then the other five together.
    assert sessions == [SessionState("on", "on", name, "2500")] * 3


def test_the_orchestrator_database_cannot_be_written_through_the_engine(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(DBAPIError) as raised:
        conn.exec_driver_sql(
            "INSERT INTO public.team (name, active, created_on, created_by, updated_on, updated_by)"
            " VALUES ('intruder', true, now(), 1, now(), 1)"
        )
    assert isinstance(raised.value.orig, psycopg2.errors.ReadOnlySqlTransaction)


def test_collect_holds_no_connection_once_it_returns(
    orchestrator_db_url: str, orchestrator_engine: Engine
) -> None:
    name = unique_application_name()
    while_collecting: list[int] = []
    with engine_under_test(orchestrator_db_url, DatabaseSettings(application_name=name)) as engine:

        def count_sessions(conn: Connection, statement: str) -> None:
            while_collecting.append(sessions_named(orchestrator_engine, name))

        before_each_statement(engine, count_sessions)

        collect(engine, Window.ending_at(SLOT))
        collect(engine, Window.ending_at(SLOT))
        after_collecting = sessions_left_named(orchestrator_engine, name)

    assert while_collecting == [1, 1]  # the name is really on the session, and only one
    assert after_collecting == 0  # before the engine is disposed


# --- 9. A count that cannot be computed is -1, alone ------------------------------------------


@pytest.mark.parametrize(
    ("breakage", "failing"),
    [
        pytest.param(
            "DROP TABLE public.ci_pipeline CASCADE", {"ciCountPerDay"}, id="ci_pipeline-missing"
        ),
        pytest.param(
            "ALTER TABLE public.users DROP COLUMN user_type",
            {"userCount"},
            id="users.user_type-missing",
        ),
        pytest.param(
            "ALTER TABLE public.pipeline DROP COLUMN created_on",
            {"cdCountPerDay"},
            id="pipeline.created_on-missing",
        ),
        pytest.param(
            "ALTER TABLE public.cluster DROP COLUMN active", {"clusterCount"}, id="cluster.active"
        ),
        pytest.param(
            "DROP TABLE public.environment CASCADE",
            {"environmentCount", "nonProdAppCount"},
            id="environment-missing",
        ),
        pytest.param("DROP TABLE public.app CASCADE", {"nonProdAppCount"}, id="app-missing"),
    ],
)
def test_a_count_the_schema_cannot_answer_is_minus_one_and_the_others_are_correct(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    devtron: Devtron,
    breakage: str,
    failing: set[str],
) -> None:
    expected = devtron.sample_installation()
    with orchestrator_engine.begin() as conn:
        conn.exec_driver_sql(breakage)

    with engine_under_test(orchestrator_db_url) as engine:
        counts = summary_at(engine)

    assert counts == expected | dict.fromkeys(failing, FAILED)


def test_a_count_that_times_out_fails_the_collection_for_now_instead_of_reporting_minus_one(
    orchestrator_db_url: str, orchestrator_engine: Engine, devtron: Devtron
) -> None:
    """A lock held by a Devtron migration passes: a -1 recorded for it would stay forever."""
    expected = devtron.sample_installation()
    settings = DatabaseSettings(application_name=unique_application_name(), statement_timeout=0.5)
    with engine_under_test(orchestrator_db_url, settings) as engine:
        with orchestrator_engine.connect() as locker:
            # Held until rollback: every read of `cluster` waits for it, until its timeout.
            locker.exec_driver_sql("LOCK TABLE public.cluster IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(TransientCollectError) as failed:
                summary_at(engine)
            locker.rollback()
        unlocked = summary_at(engine)

    assert "statement timeout" in str(failed.value)
    assert unlocked == expected


def test_past_its_deadline_a_count_that_still_times_out_is_minus_one_and_the_others_correct(
    orchestrator_db_url: str, orchestrator_engine: Engine, devtron: Devtron
) -> None:
    expected = devtron.sample_installation()
    settings = DatabaseSettings(application_name=unique_application_name(), statement_timeout=0.5)
    with (
        engine_under_test(orchestrator_db_url, settings) as engine,
        orchestrator_engine.connect() as locker,
    ):
        locker.exec_driver_sql("LOCK TABLE public.cluster IN ACCESS EXCLUSIVE MODE")
        counts = collect(engine, Window.ending_at(SLOT), give_up=True)
        locker.rollback()

    assert counts == expected | {"clusterCount": FAILED}


@pytest.fixture
def reader_who_may_not_read_users(
    orchestrator_db_url: str, orchestrator_engine: Engine
) -> Iterator[str]:
    """URL of a login role that may read every orchestrator table but `users`."""
    role = f"ot_reader_{uuid.uuid4().hex[:12]}"
    password = uuid.uuid4().hex
    with orchestrator_engine.begin() as conn:
        # psycopg2 interpolates :password on the client: a utility statement takes no bind.
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD :password"), {"password": password})
    try:
        with orchestrator_engine.begin() as conn:
            conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
            conn.exec_driver_sql(f"REVOKE SELECT ON public.users FROM {role}")
        url = make_url(orchestrator_db_url).set(username=role, password=password)
        yield url.render_as_string(hide_password=False)
    finally:
        with orchestrator_engine.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")  # its grants in this database
            conn.exec_driver_sql(f"DROP ROLE {role}")


def test_a_count_the_role_may_not_read_is_minus_one_and_the_others_are_correct(
    devtron: Devtron, reader_who_may_not_read_users: str
) -> None:
    expected = devtron.sample_installation()
    with engine_under_test(reader_who_may_not_read_users) as engine:
        counts = summary_at(engine)
    assert counts == expected | {"userCount": FAILED}


# --- 10. An unreachable database --------------------------------------------------------------


def test_an_unreachable_database_raises_unavailable_without_revealing_the_password() -> None:
    password = f"pw-{uuid.uuid4().hex}"
    url = f"postgresql+psycopg2://telemetry:{password}@127.0.0.1:{free_port()}/orchestrator"
    settings = DatabaseSettings(application_name=unique_application_name(), connect_timeout=3)
    with engine_under_test(url, settings) as engine, pytest.raises(Unavailable) as raised:
        summary_at(engine)  # nothing listens: refused at once, else bounded by connect_timeout

    message = str(raised.value)
    assert message.startswith("orchestrator database:")
    assert password not in message
    assert password not in "".join(traceback.format_exception(raised.value))


# --- 11. The demo installation ----------------------------------------------------------------


def test_collect_reports_what_the_sample_installation_should(
    engine: Engine, devtron: Devtron
) -> None:
    expected = devtron.sample_installation(SLOT)
    assert expected != FRESH_INSTALL  # the sample adds rows to every count
    assert summary_at(engine) == expected


def test_the_sample_counts_hold_at_a_slot_with_microseconds(
    engine: Engine, devtron: Devtron
) -> None:
    slot = SLOT + timedelta(hours=7, microseconds=123_457)
    expected = devtron.sample_installation(slot)
    assert summary_at(engine, slot) == expected
