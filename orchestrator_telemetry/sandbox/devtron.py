"""The Devtron orchestrator's tables (reference §7) and a small, believable installation in them.

`create_schema` builds the tables and the rows every fresh installation has. `load_sample_data`
adds a demo installation and returns what the six documented Summary metrics must report for it,
computed here from the rows themselves, so a test can hold the real queries against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.resources import files

from sqlalchemy import Connection, text

_DAY = timedelta(hours=24)


@dataclass(frozen=True)
class SampleCounts:
    """What each documented Summary metric must report for the sample installation."""

    cd_count_per_day: int
    ci_count_per_day: int
    cluster_count: int
    environment_count: int
    non_prod_app_count: int
    user_count: int


@dataclass(frozen=True)
class _User:
    email: str
    active: bool = True
    user_type: str | None = None


@dataclass(frozen=True)
class _Cluster:
    name: str
    active: bool = True
    virtual: bool = False


@dataclass(frozen=True)
class _Environment:
    name: str
    cluster: str
    production: bool
    active: bool = True


@dataclass(frozen=True)
class _App:
    name: str
    team: str
    active: bool = True


@dataclass(frozen=True)
class _CiPipeline:
    name: str
    app: str
    age: timedelta  # how long before `now` it was created; negative means after `now`
    active: bool = True
    deleted: bool = False


@dataclass(frozen=True)
class _CdPipeline:
    name: str
    app: str
    environment: str
    ci: str | None
    age: timedelta
    deleted: bool = False


# Rows devtron_schema.sql seeds: they count too.
_SEEDED_USERS = (_User("system"), _User("admin"))
_SEEDED_CLUSTERS = (_Cluster("default_cluster"),)
_SEEDED_ENVIRONMENTS = (_Environment("devtron-demo", "default_cluster", production=False),)

# Each metric's filter has at least one row on either side of it, and the window has rows
# exactly on and just past both of its edges.
_USERS = (
    _User("dev1@example.com"),
    _User("dev2@example.com"),
    _User("former.dev@example.com", active=False),
    _User("API-TOKEN:ci-bot", user_type="apiToken"),
    _User("API-TOKEN:revoked-bot", active=False, user_type="apiToken"),
)
_CLUSTERS = (
    _Cluster("prod-eks"),
    _Cluster("edge-virtual", virtual=True),
    _Cluster("legacy-gke", active=False),
)
_TEAMS = ("payments", "platform")
_ENVIRONMENTS = (
    _Environment("staging", "default_cluster", production=False),
    _Environment("production", "prod-eks", production=True),
    _Environment("edge", "edge-virtual", production=True),
    _Environment("qa-legacy", "legacy-gke", production=False, active=False),
)
_APPS = (
    _App("checkout", "payments"),
    _App("payments-api", "payments"),
    _App("web-frontend", "platform"),
    _App("inventory", "platform"),
    _App("legacy-batch", "platform", active=False),
    _App("docs-site", "devtron-demo"),
)
_CI_PIPELINES = (
    _CiPipeline("checkout-ci", "checkout", timedelta(hours=2)),
    _CiPipeline("checkout-hotfix-ci", "checkout", timedelta(0)),
    _CiPipeline("payments-api-ci", "payments-api", timedelta(days=3)),
    _CiPipeline("web-frontend-ci", "web-frontend", timedelta(hours=23), active=False, deleted=True),
    _CiPipeline("inventory-ci", "inventory", _DAY),
    _CiPipeline("legacy-batch-ci", "legacy-batch", timedelta(days=10), active=False),
    _CiPipeline("docs-site-ci", "docs-site", timedelta(minutes=30)),
    _CiPipeline("docs-site-preview-ci", "docs-site", timedelta(hours=-1)),
)
_CD_PIPELINES = (
    _CdPipeline("checkout-staging", "checkout", "staging", "checkout-ci", timedelta(hours=1)),
    _CdPipeline("checkout-prod", "checkout", "production", "checkout-ci", timedelta(days=5)),
    _CdPipeline("checkout-canary", "checkout", "production", "checkout-ci", timedelta(hours=-2)),
    _CdPipeline("payments-api-prod", "payments-api", "production", "payments-api-ci", _DAY),
    _CdPipeline("payments-api-edge", "payments-api", "edge", None, timedelta(days=2)),
    _CdPipeline(
        "web-frontend-demo",
        "web-frontend",
        "devtron-demo",
        "web-frontend-ci",
        timedelta(hours=20),
        deleted=True,
    ),
    _CdPipeline("inventory-qa", "inventory", "qa-legacy", "inventory-ci", timedelta(days=40)),
    _CdPipeline("legacy-batch-staging", "legacy-batch", "staging", None, timedelta(days=90)),
)


def create_schema(conn: Connection) -> None:
    """Create the orchestrator's tables and seed rows in schema `public`."""
    script = files("orchestrator_telemetry.sandbox") / "devtron_schema.sql"
    conn.exec_driver_sql(script.read_text(encoding="utf-8"))


def load_sample_data(conn: Connection, now: datetime) -> SampleCounts:
    """Insert a demo installation; return the Summary counts for the 24 hours ending at `now`."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    _insert(conn, now)
    return _expected_counts()


def _in_window(age: timedelta) -> bool:
    """Whether a row created `age` before `now` falls in `(now - 24h, now]`."""
    return timedelta(0) <= age < _DAY


def _expected_counts() -> SampleCounts:
    """Apply the reference §2 definitions to the rows above, seeds included."""
    production = {e.name: e.production for e in _SEEDED_ENVIRONMENTS + _ENVIRONMENTS}
    active_app = {a.name: a.active for a in _APPS}
    users = _SEEDED_USERS + _USERS
    return SampleCounts(
        cd_count_per_day=sum(_in_window(p.age) for p in _CD_PIPELINES),
        ci_count_per_day=sum(_in_window(p.age) for p in _CI_PIPELINES),
        cluster_count=sum(c.active for c in _SEEDED_CLUSTERS + _CLUSTERS),
        environment_count=sum(e.active for e in _SEEDED_ENVIRONMENTS + _ENVIRONMENTS),
        non_prod_app_count=len(
            {p.app for p in _CD_PIPELINES if not production[p.environment] and active_app[p.app]}
        ),
        user_count=sum(u.active and u.user_type != "apiToken" for u in users),
    )


def _ids(conn: Connection, table: str, name_column: str) -> dict[str, int]:
    """Map names to ids in one of the tables above (names are unique in the sample)."""
    # Both names are constants of this module, never outside input.
    rows = conn.exec_driver_sql(f"SELECT {name_column}, id FROM public.{table}")  # noqa: S608
    return {row[0]: row[1] for row in rows}


def _insert(conn: Connection, now: datetime) -> None:
    """Insert the sample rows, parents first."""
    created = now - timedelta(days=60)  # for rows whose age no metric looks at
    audit = {"created_on": created, "updated_on": created, "by": 2}
    conn.execute(
        text(
            "INSERT INTO public.users (email_id, active, user_type,"
            " created_on, created_by, updated_on, updated_by)"
            " VALUES (:email, :active, :user_type, :created_on, :by, :created_on, :by)"
        ),
        [
            {
                "email": u.email,
                "active": u.active,
                "user_type": u.user_type,
                # users.created_on is timestamp without time zone, holding UTC.
                "created_on": created.astimezone(UTC).replace(tzinfo=None),
                "by": 2,
            }
            for u in _USERS
        ],
    )
    conn.execute(
        text(
            "INSERT INTO public.cluster (cluster_name, active, is_virtual_cluster, server_url,"
            " config, created_on, created_by, updated_on, updated_by)"
            " VALUES (:name, :active, :virtual, :server_url, '{}',"
            " :created_on, :by, :updated_on, :by)"
        ),
        [
            {
                "name": c.name,
                "active": c.active,
                "virtual": c.virtual,
                "server_url": None if c.virtual else f"https://{c.name}.k8s.example.com",
                **audit,
            }
            for c in _CLUSTERS
        ],
    )
    conn.execute(
        text(
            "INSERT INTO public.team (name, active, created_on, created_by, updated_on, updated_by)"
            " VALUES (:name, true, :created_on, :by, :updated_on, :by)"
        ),
        [{"name": name, **audit} for name in _TEAMS],
    )
    cluster_ids = _ids(conn, "cluster", "cluster_name")
    virtual_cluster = {c.name: c.virtual for c in _SEEDED_CLUSTERS + _CLUSTERS}
    conn.execute(
        text(
            'INSERT INTO public.environment (environment_name, cluster_id, active, "default",'
            " namespace, environment_identifier, is_virtual_environment,"
            " created_on, created_by, updated_on, updated_by)"
            " VALUES (:name, :cluster_id, :active, :production, :name, :identifier, :virtual,"
            " :created_on, :by, :updated_on, :by)"
        ),
        [
            {
                "name": e.name,
                "cluster_id": cluster_ids[e.cluster],
                "active": e.active,
                "production": e.production,
                "identifier": f"{e.cluster}__{e.name}",
                "virtual": virtual_cluster[e.cluster],
                **audit,
            }
            for e in _ENVIRONMENTS
        ],
    )
    team_ids = _ids(conn, "team", "name")
    conn.execute(
        text(
            "INSERT INTO public.app (app_name, active, team_id,"
            " created_on, created_by, updated_on, updated_by)"
            " VALUES (:name, :active, :team_id, :created_on, :by, :updated_on, :by)"
        ),
        [{"name": a.name, "active": a.active, "team_id": team_ids[a.team], **audit} for a in _APPS],
    )
    app_ids = _ids(conn, "app", "app_name")
    conn.execute(
        text(
            "INSERT INTO public.ci_pipeline (app_id, name, active, deleted, ci_pipeline_type,"
            " created_on, created_by, updated_on, updated_by)"
            " VALUES (:app_id, :name, :active, :deleted, 'CI_BUILD',"
            " :created_on, :by, :created_on, :by)"
        ),
        [
            {
                "app_id": app_ids[p.app],
                "name": p.name,
                "active": p.active,
                "deleted": p.deleted,
                "created_on": now - p.age,
                "by": 2,
            }
            for p in _CI_PIPELINES
        ],
    )
    ci_ids = _ids(conn, "ci_pipeline", "name")
    environment_ids = _ids(conn, "environment", "environment_name")
    conn.execute(
        text(
            "INSERT INTO public.pipeline (app_id, ci_pipeline_id, environment_id, trigger_type,"
            " pipeline_name, deleted, deployment_app_type, created_on, created_by, updated_on,"
            " updated_by)"
            " VALUES (:app_id, :ci_id, :environment_id, 'AUTOMATIC', :name, :deleted, 'helm',"
            " :created_on, :by, :created_on, :by)"
        ),
        [
            {
                "app_id": app_ids[p.app],
                "ci_id": None if p.ci is None else ci_ids[p.ci],
                "environment_id": environment_ids[p.environment],
                "name": p.name,
                "deleted": p.deleted,
                "created_on": now - p.age,
                "by": 2,
            }
            for p in _CD_PIPELINES
        ],
    )
