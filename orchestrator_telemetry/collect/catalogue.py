"""Every property a Summary or Heartbeat may carry, as data: one `Metric` entry per key.

Each entry holds its key, a one-line meaning, its JSON type, the events/formats/modes it belongs
to (`layouts`), whether Go's `omitempty` drops its zero value, its value on failure and how it
differs from today's Go orchestrator. A database metric holds a SQLAlchemy Core definition: either
a scalar expression of its own, or an aggregate over a `Scan` shared with its neighbours, so one
pass over a large table feeds every metric that reads it. The tables and columns a metric reads are
derived from its definition, never declared by hand. Everything else (the statements, the payload,
the JSON Schemas, the metric dictionary, the grants) is derived from these entries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Final, Literal

from sqlalchemy import (
    Column,
    ColumnElement,
    FromClause,
    ScalarSelect,
    Select,
    Table,
    and_,
    case,
    cast,
    distinct,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import visitors

from ..events import SUMMARY_KEYS, rfc3339
from . import devtron as t
from .window import Window

JsonType = Literal["int", "bool", "str", "list", "object"]
Layout = Literal["documented", "full", "ea", "heartbeat"]
LAYOUTS: Final[tuple[Layout, ...]] = ("documented", "full", "ea", "heartbeat")

FAILED: Final = -1  # a count that could not be computed
ZERO_TIME: Final = "0001-01-01T00:00:00Z"  # Go's zero time.Time, as it marshals it

_DOC: Final = frozenset[Layout]({"documented"})
_FULL: Final = frozenset[Layout]({"full"})
_BOTH: Final = frozenset[Layout]({"full", "ea"})
_DOC_FULL: Final = frozenset[Layout]({"documented", "full"})
_DOC_BOTH: Final = frozenset[Layout]({"documented", "full", "ea"})
_ALL: Final = frozenset[Layout]({"full", "ea", "heartbeat"})

Aggregate = Callable[[Window, FromClause], ColumnElement[Any]]
Scalar = Callable[[Window], ColumnElement[Any]]


@dataclass(frozen=True)
class Scan:
    """Rows several metrics aggregate over: one pass over them feeds all of those metrics.

    A scan is either `rows` (a FROM and a WHERE), or `parts`: selects of several tables read as
    one UNION ALL (one parallel pass), of which only the parts its metrics need are read, so a
    table an older orchestrator lacks costs only the metrics of its own part.
    """

    name: str
    rows: Callable[[Window], tuple[FromClause, ColumnElement[bool] | None]] | None = None
    parts: Mapping[str, Callable[[Window], Select[Any]]] | None = None

    def source(
        self, window: Window, metrics: Iterable[Metric]
    ) -> tuple[FromClause, ColumnElement[bool] | None]:
        """What `metrics` aggregate over: a FROM (one row source) and a WHERE."""
        if self.rows is not None:
            return self.rows(window)
        parts = self.parts or {}
        needed = sorted({metric.part for metric in metrics})
        selects = [parts[part](window) for part in needed]
        rows = union_all(*selects) if len(selects) > 1 else selects[0]
        return rows.subquery(self.name.replace(" ", "_")), None


@dataclass(frozen=True)
class Metric:
    """One property of an event: where its value comes from and how it is sent."""

    key: str
    type: JsonType
    meaning: str
    layouts: frozenset[Layout]
    omit: bool = True  # Go's omitempty: a zero value is left out
    scalar: Scalar | None = None  # a scalar expression of its own
    aggregate: Aggregate | None = None  # or an aggregate over `scan`
    scan: Scan | None = None
    source: str = ""  # not from the database: identity, slot, configuration or a constant
    window: Literal["", "24h", "30d", "slot"] = ""
    failure: Any = FAILED
    go: str = ""  # what today's Go orchestrator does differently
    heartbeat: Any = None  # its fixed value in the Heartbeat, for the two SQL keys sent there
    part: str = ""  # of a scan read in parts: the part this metric needs
    convert: Callable[[Any], Any] | None = None

    @property
    def from_database(self) -> bool:
        """Whether the value is read from the orchestrator's tables."""
        return self.scalar is not None or self.aggregate is not None

    def expression(self, window: Window, rows: FromClause | None = None) -> ColumnElement[Any]:
        """The SQL that computes the value (over `rows` for a scanned metric)."""
        if self.scalar is not None:
            return self.scalar(window)
        if self.aggregate is None or self.scan is None or rows is None:
            raise ValueError(f"{self.key} is not read from the database")
        return self.aggregate(window, rows)

    @cached_property
    def reads(self) -> Mapping[str, frozenset[str]]:
        """The tables this metric reads, each with the columns it names."""
        found: dict[str, set[str]] = {}
        if not self.from_database:
            return {}
        elements: list[Any] = []
        if self.scan is not None:
            rows, where = self.scan.source(_ANY_WINDOW, [self])
            elements += [rows, where, self.expression(_ANY_WINDOW, rows)]
        else:
            elements.append(self.expression(_ANY_WINDOW))
        for element in elements:
            if element is None:
                continue
            for node in visitors.iterate(element):
                if isinstance(node, Table):
                    found.setdefault(node.name, set())
                elif isinstance(node, Column) and isinstance(node.table, Table):
                    found.setdefault(node.table.name, set()).add(node.name)
        return {table: frozenset(columns) for table, columns in sorted(found.items())}

    def value(self, raw: Any) -> Any:
        """The database's answer as the payload carries it."""
        if self.convert is not None:
            return self.convert(raw)
        if self.type == "int":
            return int(raw) if raw is not None else 0
        if self.type == "bool":
            return bool(raw)
        if self.type == "list":
            return sorted({str(item) for item in raw or ()})  # code-point order
        return None if raw is None else str(raw)


_ANY_WINDOW = Window.ending_at(datetime.fromisoformat("2000-01-01T00:00:00+00:00"))


def _login_time(raw: Any) -> str:
    return rfc3339(raw) if isinstance(raw, datetime) else ZERO_TIME


# --- definitions -------------------------------------------------------------------------------


def _count(table: FromClause, *where: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).select_from(table).where(*where).scalar_subquery()


def _exists(table: FromClause, *where: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(select(literal(1)).select_from(table).where(*where))


def _active_devtron_apps() -> Any:
    """A0: the active Devtron apps (app_type 0)."""
    return select(t.app.c.id).where(t.app.c.active == true(), t.app.c.app_type == 0)


def _apps_with(table: Table, *where: ColumnElement[bool]) -> Scalar:
    def scalar(window: Window) -> ColumnElement[int]:
        # count(DISTINCT x.app_id) over the A0 apps, asked as a semi-join from `app`: each A0
        # app counted once, and no sort of every row of x for DISTINCT.
        having = select(table.c.app_id).where(*where)
        app = t.app.c
        return _count(t.app, app.active == true(), app.app_type == 0, app.id.in_(having))

    return scalar


def _apps_by_environment_kind(production: bool) -> Scalar:
    def scalar(window: Window) -> ColumnElement[int]:
        # Devtron's count(DISTINCT pipeline.app_id) over pipeline, environment and app, asked as
        # a semi-join from `app`: PostgreSQL hashes the matching pipelines instead of sorting
        # them all for DISTINCT (several times faster at millions of pipelines, BENCHMARKS.md).
        on_kind = (
            select(t.pipeline.c.app_id)
            .select_from(t.pipeline)
            .join(t.environment, t.environment.c.id == t.pipeline.c.environment_id)
            .where(t.environment.c.default == (true() if production else false()))
        )
        return _count(t.app, t.app.c.active == true(), t.app.c.id.in_(on_kind))

    return scalar


def _highest(
    counted: ColumnElement[Any], by: ColumnElement[Any], source: FromClause, *where: Any
) -> Scalar:
    def scalar(window: Window) -> ColumnElement[int]:
        per_group = (
            select(counted.label("n")).select_from(source).where(*where).group_by(by).subquery()
        )
        return select(func.coalesce(func.max(per_group.c.n), 0)).scalar_subquery()

    return scalar


def _languages(build_type: str) -> Scalar:
    def scalar(window: Window) -> ColumnElement[Any]:
        c, tpl, a = t.ci_build_config, t.ci_template, t.app
        language = func.coalesce(cast(c.c.build_metadata, JSONB)["language"].astext, "unknown")
        return (
            select(func.array_agg(distinct(language)))
            .select_from(
                c.join(tpl, tpl.c.ci_build_config_id == c.c.id).join(a, a.c.id == tpl.c.app_id)
            )
            .where(
                c.c.type == build_type,
                tpl.c.active == true(),
                a.c.active == true(),
                c.c.build_metadata.is_not(None),
            )
            .scalar_subquery()
        )

    return scalar


def _jsonb(value: Any) -> ColumnElement[Any]:
    """A JSON constant, written out in the statement."""
    return cast(literal(json.dumps(value)), JSONB)


def _has_map(maps: ColumnElement[Any], external: str) -> ColumnElement[bool]:
    """`maps` is an array holding a map whose `external` is `external`, as JSON or as a string."""
    flag = external == "true"
    # `maps` null, absent or not an array holds no maps (Go's statement fails on them).
    # Containment, not jsonb_array_elements: no set-returning function per row.
    return case(
        (
            func.jsonb_typeof(maps) == "array",
            or_(
                maps.contains(_jsonb([{"external": flag}])),
                maps.contains(_jsonb([{"external": external}])),
            ),
        ),
        else_=false(),
    )


def _config_map_rows(window: Window) -> tuple[FromClause, ColumnElement[bool] | None]:
    app_level, env_level, app, env = (
        t.config_map_app_level,
        t.config_map_env_level,
        t.app,
        t.environment,
    )
    rows = union_all(
        select(cast(app_level.c.config_map_data, JSONB)["maps"].label("maps"))
        .join(app, app.c.id == app_level.c.app_id)
        .where(app.c.active == true()),
        select(cast(env_level.c.config_map_data, JSONB)["maps"].label("maps"))
        .join(env, env.c.id == env_level.c.environment_id)
        .where(env_level.c.deleted == false(), env.c.active == true()),
    ).subquery("config_maps")
    return rows, None


def _config_maps(external: str) -> Aggregate:
    return lambda window, rows: func.count().filter(_has_map(rows.c.maps, external))


def _single_attribute(key: str) -> Aggregate:
    def aggregate(window: Window, rows: FromClause) -> ColumnElement[Any]:
        mine = t.attributes.c.key == key
        return case(
            (func.count().filter(mine) == 1, func.max(t.attributes.c.value).filter(mine)),
            else_=None,
        )

    return aggregate


def _modules(status: str) -> Aggregate:
    return lambda window, rows: func.array_agg(t.module.c.name).filter(t.module.c.status == status)


def _count_where(condition: Callable[[], ColumnElement[bool]]) -> Aggregate:
    return lambda window, rows: func.count().filter(condition())


def _runs_of(status: str, build_type: Callable[[], ColumnElement[bool]]) -> Aggregate:
    return _count_where(lambda: and_(t.ci_workflow.c.status == status, build_type()))


def _self_dockerfile() -> ColumnElement[bool]:
    build_type = t.ci_workflow.c.ci_build_type
    return or_(build_type.is_(None), build_type.in_(["", "self-dockerfile-build"]))


def _build_type(name: str) -> Callable[[], ColumnElement[bool]]:
    return lambda: t.ci_workflow.c.ci_build_type == name


# --- scans: rows read once for several metrics -------------------------------------------------


def _created_rows(table: Table) -> Callable[[Window], Select[Any]]:
    is_cd = table is t.pipeline

    def rows(window: Window) -> Select[Any]:
        kind = literal(is_cd).label("is_cd")
        return select(kind, table.c.deleted.label("deleted")).where(window.day(table.c.created_on))

    return rows


# Both windowed tables as one UNION ALL: a single parallel Append, one set of workers (tens of
# milliseconds at 2M + 2M pipelines, BENCHMARKS.md); each part only when a metric needs it.
CREATED = Scan(
    "pipelines created in the window",
    parts={"cd": _created_rows(t.pipeline), "ci": _created_rows(t.ci_pipeline)},
)
CI_RUNS = Scan(
    "CI runs started in the window",
    lambda w: (t.ci_workflow, w.day(t.ci_workflow.c.started_on)),
)


def _job_pipeline() -> ColumnElement[bool]:
    """J: the live job pipelines of active apps."""
    cp = t.ci_pipeline
    return and_(
        cp.c.active == true(),
        cp.c.deleted == false(),
        t.app.c.active == true(),
        cp.c.ci_pipeline_type == "CI_JOB",
    )


CONFIG_MAPS = Scan("ConfigMap rows of active apps and environments", _config_map_rows)
CLUSTERS = Scan("active clusters", lambda w: (t.cluster, t.cluster.c.active == true()))
ATTRIBUTES = Scan("active attributes", lambda w: (t.attributes, t.attributes.c.active == true()))
APPS = Scan("active apps", lambda w: (t.app, t.app.c.active == true()))
MODULES = Scan("modules", lambda w: (t.module, None))
LOGINS = Scan(
    "logins up to the slot",
    lambda w: (t.user_audit, t.user_audit.c.updated_on <= w.end),
)
BUILD_CONFIGS = Scan("build configurations", lambda w: (t.ci_build_config, None))
INSTALLED_APPS = Scan("installed apps", lambda w: (t.installed_apps, None))
POLICIES = Scan(
    "live global policies", lambda w: (t.global_policy, t.global_policy.c.deleted == false())
)
LIVE_PIPELINES = Scan("live CD pipelines", lambda w: (t.pipeline, t.pipeline.c.deleted == false()))
APP_LABELS = Scan(
    "labels of active apps",
    lambda w: (
        t.app_label.join(t.app, t.app.c.id == t.app_label.c.app_id),
        t.app.c.active == true(),
    ),
)
CHART_APPS = Scan(
    "active charts of active apps",
    lambda w: (
        t.charts.join(t.chart_ref, t.chart_ref.c.id == t.charts.c.chart_ref_id).join(
            t.app, t.app.c.id == t.charts.c.app_id
        ),
        and_(t.charts.c.active == true(), t.app.c.active == true(), t.chart_ref.c.active == true()),
    ),
)
OVERRIDES = Scan(
    "active environment overrides",
    lambda w: (
        t.chart_env_config_override.join(
            t.environment, t.environment.c.id == t.chart_env_config_override.c.target_environment
        ),
        and_(t.chart_env_config_override.c.active == true(), t.environment.c.active == true()),
    ),
)


def _created(*, cd: bool, deleted: bool = False) -> Aggregate:
    def aggregate(window: Window, rows: FromClause) -> ColumnElement[int]:
        kind = rows.c.is_cd if cd else not_(rows.c.is_cd)
        return func.count().filter(and_(kind, rows.c.deleted) if deleted else kind)

    return aggregate


def _job_pipelines_run(*, succeeded: bool) -> Aggregate:
    def aggregate(window: Window, rows: FromClause) -> ColumnElement[int]:
        # Over the window's runs (the CI_RUNS scan): the job pipelines among their pipelines.
        run = t.ci_workflow.c
        jobs = (
            select(t.ci_pipeline.c.id)
            .join(t.app, t.app.c.id == t.ci_pipeline.c.app_id)
            .where(_job_pipeline())
        )
        of_a_job: ColumnElement[bool] = run.ci_pipeline_id.in_(jobs)
        if succeeded:
            of_a_job = and_(of_a_job, run.status == "Succeeded")
        return func.count(distinct(run.ci_pipeline_id)).filter(of_a_job)

    return aggregate


def _distinct_where(
    column: Column[Any], condition: Callable[[], ColumnElement[bool]] | None = None
) -> Aggregate:
    def aggregate(window: Window, rows: FromClause) -> ColumnElement[int]:
        counted = func.count(distinct(column))
        return counted if condition is None else counted.filter(condition())

    return aggregate


def _chart_apps(*names: str) -> Aggregate:
    return _distinct_where(t.charts.c.app_id, lambda: t.chart_ref.c.name.in_(names))


def _strategy(name: str) -> Aggregate:
    override = t.chart_env_config_override
    return _distinct_where(override.c.target_environment, lambda: override.c.merge_strategy == name)


def _policies(kind: str) -> Aggregate:
    return _count_where(lambda: t.global_policy.c.policy_of == kind)


def _applied_policy_rows(window: Window) -> ColumnElement[int]:
    m, c, g = t.resource_qualifier_mapping, t.resource_qualifier_mapping_criteria, t.global_policy
    live = _count(g, g.c.deleted == false())
    # Go joins unrelated primary keys here; kept as it is, for dashboard continuity.
    mapped = (
        select(func.count(distinct(m.c.resource_id)))
        .select_from(m.join(c, m.c.id == c.c.id).join(g, c.c.id == g.c.id))
        .where(m.c.active == true(), g.c.deleted == false())
        .scalar_subquery()
    )
    return live + mapped


def _projects_without_apps(window: Window) -> ColumnElement[int]:
    team, app = t.team, t.app
    has_app = exists().where(app.c.team_id == team.c.id, app.c.active == true())
    return _count(team, team.c.active == true(), not_(has_app))


def _described(window: Window) -> ColumnElement[int]:
    app, installed = t.app, t.installed_apps
    ids = union(
        select(app.c.id).where(
            app.c.active == true(), func.trim(func.coalesce(app.c.description, "")) != ""
        ),
        select(installed.c.id).where(
            installed.c.active == true(), func.trim(func.coalesce(installed.c.notes, "")) != ""
        ),
    ).subquery("described")
    return select(func.count()).select_from(ids).scalar_subquery()


def _catalog_data(window: Window) -> ColumnElement[int]:
    ia, v, s = t.installed_apps, t.installed_app_versions, t.app_store_application_version
    return (
        select(func.count(distinct(ia.c.id)))
        .select_from(
            ia.join(v, v.c.installed_app_id == ia.c.id).join(
                s, s.c.id == v.c.app_store_application_version_id
            )
        )
        .where(ia.c.active == true(), v.c.active == true())
        .scalar_subquery()
    )


def _readme_data(window: Window) -> ColumnElement[int]:
    n, a = t.generic_note, t.app
    return (
        select(func.count(distinct(n.c.identifier)))
        .select_from(n.join(a, a.c.id == n.c.identifier))
        .where(n.c.identifier_type == 1, a.c.active == true(), func.trim(n.c.description) != "")
        .scalar_subquery()
    )


def _filtered_repos(window: Window) -> ColumnElement[int]:
    g, a = t.git_material, t.app
    pattern = g.c.filter_pattern
    # CASE: json_array_length must never see a non-array (JSON null, an object, a string).
    has_filter = case(
        (func.json_typeof(pattern) == "array", func.json_array_length(pattern) > 0),
        else_=false(),
    )
    return (
        select(func.count(distinct(g.c.app_id)))
        .select_from(g.join(a, a.c.id == g.c.app_id))
        .where(g.c.active == true(), a.c.active == true(), has_filter)
        .scalar_subquery()
    )


def _skipped_onboarding(window: Window) -> ColumnElement[bool]:
    ua = t.user_attributes
    flag = ua.c.user_data["SkippedOnboarding"]
    return _exists(
        ua,
        ua.c.email_id.ilike("admin"),
        func.json_typeof(flag) == "string",
        flag.astext == "true",
    )


def _workflow_environments() -> Scalar:
    m, p, f = t.app_workflow_mapping, t.pipeline, t.app_workflow
    return _highest(
        func.count(distinct(p.c.environment_id)),
        m.c.app_workflow_id,
        m.join(p, p.c.id == m.c.component_id).join(f, f.c.id == m.c.app_workflow_id),
        m.c.type == "CD_PIPELINE",
        m.c.active == true(),
        f.c.active == true(),
        p.c.deleted == false(),
    )


def _live_pipelines_of_active_apps() -> FromClause:
    return t.pipeline.join(t.app, t.app.c.id == t.pipeline.c.app_id)


def _envelope(
    key: str, type_: JsonType, meaning: str, layouts: frozenset[Layout], **kw: Any
) -> Metric:
    return Metric(key, type_, meaning, layouts, source=kw.pop("source", meaning), **kw)


# --- the catalogue, in Go's struct order (FULL Summary) ----------------------------------------

W24: Final = "24h"
_SUCCEEDED_RUNS = "CI runs that succeeded, started in the window"

CATALOGUE: Final[tuple[Metric, ...]] = (
    _envelope("ucid", "str", "the installation id", _ALL, omit=False, source="identity"),
    _envelope(
        "timestamp",
        "str",
        "the slot, RFC 3339 UTC",
        _ALL,
        omit=False,
        source="slot",
        go="send time",
    ),
    _envelope("eventType", "str", "the event's name", _ALL, omit=False, source="event name"),
    Metric(
        "cdCountPerDay",
        "int",
        "CD pipelines created in the window, deleted ones too",
        _DOC,
        omit=False,
        aggregate=_created(cd=True),
        scan=CREATED,
        part="cd",
        window=W24,
    ),
    Metric(
        "ciCountPerDay",
        "int",
        "CI pipelines created in the window, any type, inactive and deleted too",
        _DOC,
        omit=False,
        aggregate=_created(cd=False),
        scan=CREATED,
        part="ci",
        window=W24,
    ),
    Metric(
        "prodAppCount",
        "int",
        "active apps with a CD pipeline in a production environment",
        _FULL,
        scalar=_apps_by_environment_kind(production=True),
    ),
    Metric(
        "nonProdAppCount",
        "int",
        "active apps with a CD pipeline in a non-production environment",
        _DOC_FULL,
        scalar=_apps_by_environment_kind(production=False),
    ),
    Metric(
        "userCount",
        "int",
        "active users that are not API tokens (system and admin count)",
        _DOC_BOTH,
        scalar=lambda w: _count(
            t.users,
            t.users.c.active == true(),
            or_(t.users.c.user_type.is_(None), t.users.c.user_type != "apiToken"),
        ),
        go="fetches every row; 0 on failure",
    ),
    Metric(
        "environmentCount",
        "int",
        "active environments",
        _DOC_FULL,
        scalar=lambda w: _count(t.environment, t.environment.c.active == true()),
    ),
    Metric(
        "clusterCount",
        "int",
        "active clusters, virtual ones too",
        _DOC_BOTH,
        aggregate=lambda w, rows: func.count(),
        scan=CLUSTERS,
        go="fetches and decrypts every row; 0 on failure",
    ),
    Metric(
        "ciCreatedPerDay",
        "int",
        "CI pipelines created in the window",
        _FULL,
        omit=False,
        aggregate=_created(cd=False),
        scan=CREATED,
        part="ci",
        window=W24,
        go="window on the pod clock",
    ),
    Metric(
        "cdCreatedPerDay",
        "int",
        "CD pipelines created in the window",
        _FULL,
        omit=False,
        aggregate=_created(cd=True),
        scan=CREATED,
        part="cd",
        window=W24,
        go="window on the pod clock",
    ),
    Metric(
        "ciDeletedPerDay",
        "int",
        "CI pipelines created in the window and deleted now",
        _FULL,
        omit=False,
        aggregate=_created(cd=False, deleted=True),
        scan=CREATED,
        part="ci",
        window=W24,
        go="window on the pod clock",
    ),
    Metric(
        "cdDeletedPerDay",
        "int",
        "CD pipelines created in the window and deleted now",
        _FULL,
        omit=False,
        aggregate=_created(cd=True, deleted=True),
        scan=CREATED,
        part="cd",
        window=W24,
        go="window on the pod clock",
    ),
    Metric(
        "ciTriggeredPerDay",
        "int",
        "CI pipelines with a run started in the window",
        _FULL,
        omit=False,
        aggregate=_distinct_where(t.ci_workflow.c.ci_pipeline_id),
        scan=CI_RUNS,
        window=W24,
        go="window on the pod clock",
    ),
    Metric(
        "cdTriggeredPerDay",
        "int",
        "CD pipelines with a DEPLOY run started in the window",
        _FULL,
        omit=False,
        window=W24,
        go="window on the pod clock",
        scalar=lambda w: (
            select(func.count(distinct(t.cd_workflow.c.pipeline_id)))
            .select_from(
                t.cd_workflow.join(
                    t.cd_workflow_runner,
                    t.cd_workflow_runner.c.cd_workflow_id == t.cd_workflow.c.id,
                )
            )
            .where(
                t.cd_workflow_runner.c.workflow_type == "DEPLOY",
                w.day(t.cd_workflow_runner.c.started_on),
            )
            .scalar_subquery()
        ),
    ),
    Metric(
        "gitAccountsCount",
        "int",
        "git providers not deleted",
        _FULL,
        scalar=lambda w: _count(t.git_provider, t.git_provider.c.deleted == false()),
    ),
    Metric(
        "gitOpsCount",
        "int",
        "GitOps configurations, active or not",
        _FULL,
        scalar=lambda w: _count(t.gitops_config),
    ),
    Metric(
        "registryCount",
        "int",
        "active container registries",
        _FULL,
        scalar=lambda w: _count(
            t.docker_artifact_store, t.docker_artifact_store.c.active == true()
        ),
    ),
    Metric(
        "hostURL",
        "bool",
        "exactly one active `url` attribute",
        _BOTH,
        failure=False,
        aggregate=lambda w, rows: func.count().filter(t.attributes.c.key == "url") == 1,
        scan=ATTRIBUTES,
    ),
    Metric(
        "ssoLogin",
        "bool",
        "an SSO configuration exists, active or not",
        _BOTH,
        failure=False,
        scalar=lambda w: _exists(t.sso_login_config),
        go="fetches every row",
    ),
    Metric(
        "appCount",
        "int",
        "active Devtron apps",
        _FULL,
        aggregate=_count_where(lambda: t.app.c.app_type == 0),
        scan=APPS,
        go="fetches every row; a failure aborts the Summary",
    ),
    Metric(
        "appsWithGitRepoConfigured",
        "int",
        "active Devtron apps with an active git material",
        _FULL,
        scalar=_apps_with(t.git_material, t.git_material.c.active == true()),
        go="only below 50 apps, else 0; fails at 0 apps; 0 on failure",
    ),
    Metric(
        "appsWithDockerConfigured",
        "int",
        "active Devtron apps with a CI template",
        _FULL,
        scalar=_apps_with(t.ci_template),
        go="as appsWithGitRepoConfigured",
    ),
    Metric(
        "appsWithDeploymentTemplateConfigured",
        "int",
        "active Devtron apps with a chart",
        _FULL,
        scalar=_apps_with(t.charts),
        go="as appsWithGitRepoConfigured",
    ),
    Metric(
        "appsWithCiPipelineConfigured",
        "int",
        "active Devtron apps with a CI pipeline",
        _FULL,
        scalar=_apps_with(t.ci_pipeline),
        go="as appsWithGitRepoConfigured",
    ),
    Metric(
        "appsWithCdPipelineConfigured",
        "int",
        "active Devtron apps with a CD pipeline",
        _FULL,
        scalar=_apps_with(t.pipeline),
        go="as appsWithGitRepoConfigured",
    ),
    Metric(
        "build",
        "bool",
        "a CI run has ever succeeded",
        _FULL,
        failure=False,
        scalar=lambda w: _exists(t.ci_workflow, t.ci_workflow.c.status == "Succeeded"),
        go="fetches every Succeeded ci_workflow row",
    ),
    Metric(
        "deployment",
        "bool",
        "a deployment has ever been Healthy",
        _FULL,
        failure=False,
        scalar=lambda w: _exists(t.cd_workflow_runner, t.cd_workflow_runner.c.status == "Healthy"),
        go="fetches every Healthy cd_workflow_runner row",
    ),
    _envelope(
        "serverVersion",
        "str",
        'the Kubernetes server version, else "unknown"',
        _ALL,
        source="configuration or Kubernetes",
        go="a Kubernetes error: no event",
    ),
    _envelope(
        "devtronGitVersion",
        "str",
        "devtron.git_version; omitted when unset",
        _FULL,
        source="configuration",
        go="build-time commit",
    ),
    _envelope(
        "devtronVersion", "str", "devtron.version", _ALL, source="configuration", go='constant "v1"'
    ),
    _envelope(
        "devtronMode",
        "str",
        '"FULL" or "EA_ONLY", from devtron.mode',
        _ALL,
        source="configuration",
        go="build flag",
    ),
    Metric(
        "installedIntegrations",
        "list",
        "installed modules, sorted",
        _BOTH,
        failure=None,
        aggregate=_modules("installed"),
        scan=MODULES,
        go="heap order; a failure aborts the Summary",
    ),
    Metric(
        "installFailedIntegrations",
        "list",
        "modules whose install failed, sorted",
        _BOTH,
        failure=None,
        aggregate=_modules("installFailed"),
        scan=MODULES,
        go="heap order; a failure aborts the Summary",
    ),
    Metric(
        "installTimedOutIntegrations",
        "list",
        "modules whose install timed out, sorted",
        _BOTH,
        failure=None,
        aggregate=_modules("timeout"),
        scan=MODULES,
        go="heap order; a failure aborts the Summary",
    ),
    Metric(
        "installingIntegrations",
        "list",
        "modules being installed, sorted",
        _BOTH,
        failure=None,
        aggregate=_modules("installing"),
        scan=MODULES,
        go="heap order; a failure aborts the Summary",
    ),
    _envelope(
        "devtronReleaseVersion",
        "str",
        "devtron.release_version; omitted when unset",
        _BOTH,
        source="configuration",
        go="Helm values via kubelink",
    ),
    Metric(
        "LastLoginTime",
        "str",
        "the latest login or API-token use at or before the slot",
        _ALL,
        omit=False,
        aggregate=lambda w, rows: func.max(t.user_audit.c.updated_on),
        scan=LOGINS,
        window="slot",
        failure=ZERO_TIME,
        convert=_login_time,
        heartbeat=ZERO_TIME,
        go="no upper bound; in the DB session's offset",
    ),
    Metric(
        "selfDockerfileCount",
        "int",
        "build configurations of type self-dockerfile-build",
        _FULL,
        omit=False,
        aggregate=_count_where(lambda: t.ci_build_config.c.type == "self-dockerfile-build"),
        scan=BUILD_CONFIGS,
        go="0 on failure",
    ),
    Metric(
        "managedDockerfileCount",
        "int",
        "build configurations of type managed-dockerfile-build",
        _FULL,
        omit=False,
        aggregate=_count_where(lambda: t.ci_build_config.c.type == "managed-dockerfile-build"),
        scan=BUILD_CONFIGS,
        go="0 on failure",
    ),
    Metric(
        "buildPackCount",
        "int",
        "build configurations of type buildpack-build",
        _FULL,
        omit=False,
        aggregate=_count_where(lambda: t.ci_build_config.c.type == "buildpack-build"),
        scan=BUILD_CONFIGS,
        go="0 on failure",
    ),
    Metric(
        "selfDockerfileSuccessCount",
        "int",
        "self-Dockerfile builds (also no type) that succeeded, started in the window",
        _FULL,
        omit=False,
        window=W24,
        aggregate=_runs_of("Succeeded", _self_dockerfile),
        scan=CI_RUNS,
        go="its three groups overwrite each other; 0 on failure",
    ),
    Metric(
        "selfDockerfileFailureCount",
        "int",
        "self-Dockerfile builds (also no type) that failed, started in the window",
        _FULL,
        omit=False,
        window=W24,
        aggregate=_runs_of("Failed", _self_dockerfile),
        scan=CI_RUNS,
        go="its three groups overwrite each other; 0 on failure",
    ),
    Metric(
        "managedDockerfileSuccessCount",
        "int",
        "managed-Dockerfile builds that succeeded, started in the window",
        _FULL,
        omit=False,
        window=W24,
        aggregate=_runs_of("Succeeded", _build_type("managed-dockerfile-build")),
        scan=CI_RUNS,
        go="window on the pod clock; 0 on failure",
    ),
    Metric(
        "managedDockerfileFailureCount",
        "int",
        "managed-Dockerfile builds that failed, started in the window",
        _FULL,
        omit=False,
        window=W24,
        aggregate=_runs_of("Failed", _build_type("managed-dockerfile-build")),
        scan=CI_RUNS,
        go="window on the pod clock; 0 on failure",
    ),
    Metric(
        "buildPackSuccessCount",
        "int",
        "buildpack builds that succeeded, started in the window",
        _FULL,
        omit=False,
        window=W24,
        aggregate=_runs_of("Succeeded", _build_type("buildpack-build")),
        scan=CI_RUNS,
        go="window on the pod clock; 0 on failure",
    ),
    Metric(
        "buildPackFailureCount",
        "int",
        "buildpack builds that failed, started in the window",
        _FULL,
        omit=False,
        window=W24,
        aggregate=_runs_of("Failed", _build_type("buildpack-build")),
        scan=CI_RUNS,
        go="window on the pod clock; 0 on failure",
    ),
    Metric(
        "HelmAppAccessCounter",
        "str",
        "the only active HelmAppAccessCounter attribute",
        _BOTH,
        failure=None,
        aggregate=_single_attribute("HelmAppAccessCounter"),
        scan=ATTRIBUTES,
    ),
    Metric(
        "ChartStoreVisitCount",
        "str",
        "the only active ChartStoreVisitCount attribute",
        _BOTH,
        failure=None,
        aggregate=_single_attribute("ChartStoreVisitCount"),
        scan=ATTRIBUTES,
    ),
    Metric(
        "SkippedOnboarding",
        "bool",
        'admin\'s user data holds SkippedOnboarding as the JSON string "true"',
        _ALL,
        omit=False,
        failure=False,
        heartbeat=False,
        scalar=_skipped_onboarding,
        go="reads one arbitrary row among case variants",
    ),
    Metric(
        "HelmAppUpdateCounter",
        "str",
        "the only active HelmAppUpdateCounter attribute",
        _BOTH,
        failure=None,
        aggregate=_single_attribute("HelmAppUpdateCounter"),
        scan=ATTRIBUTES,
    ),
    Metric(
        "helmChartSuccessfulDeploymentCount",
        "int",
        "installed apps whose status is DEPLOY_SUCCESS (6), inactive ones too",
        _BOTH,
        aggregate=_count_where(lambda: t.installed_apps.c.status == 6),
        scan=INSTALLED_APPS,
        go="0 on failure",
    ),
    _envelope(
        "ExternalHelmAppClusterCount",
        "object",
        "always {}",
        _FULL,
        omit=False,
        source="constant",
        go="{} (never filled); null when users or clusters fail",
    ),
    _envelope(
        "clusterProvider",
        "str",
        'devtron.cluster_provider, else "unknown"',
        _BOTH,
        source="configuration",
        go='FULL: "unknown"; EA: file checks at start',
    ),
    Metric(
        "helmAppCount",
        "int",
        "active installed apps",
        _BOTH,
        aggregate=_count_where(lambda: t.installed_apps.c.active == true()),
        scan=INSTALLED_APPS,
    ),
    Metric(
        "devtronAppCount",
        "int",
        "active Devtron apps (as appCount)",
        _FULL,
        aggregate=_count_where(lambda: t.app.c.app_type == 0),
        scan=APPS,
    ),
    Metric(
        "jobCount",
        "int",
        "active jobs",
        _FULL,
        aggregate=_count_where(lambda: t.app.c.app_type == 2),
        scan=APPS,
    ),
    Metric(
        "jobPipelineCount",
        "int",
        "live job pipelines of active apps (J)",
        _FULL,
        scalar=lambda w: _count(
            t.ci_pipeline.join(t.app, t.app.c.id == t.ci_pipeline.c.app_id), _job_pipeline()
        ),
    ),
    Metric(
        "jobPipelineTriggeredLast24h",
        "int",
        "J pipelines with a run started in the window",
        _FULL,
        window=W24,
        aggregate=_job_pipelines_run(succeeded=False),
        scan=CI_RUNS,
        go="DB clock, started_on >= now() - 24 h",
    ),
    Metric(
        "jobPipelineSucceededLast24h",
        "int",
        "J pipelines with a run started in the window that has succeeded",
        _FULL,
        window=W24,
        aggregate=_job_pipelines_run(succeeded=True),
        scan=CI_RUNS,
        go="DB clock, started_on >= now() - 24 h",
    ),
    Metric(
        "userCreatedPluginCount",
        "int",
        "exposed shared plugins not deleted",
        _FULL,
        scalar=lambda w: _count(
            t.plugin_parent_metadata,
            t.plugin_parent_metadata.c.deleted == false(),
            t.plugin_parent_metadata.c.is_exposed == true(),
            t.plugin_parent_metadata.c.type == "SHARED",
        ),
        go="fetches every row",
    ),
    Metric(
        "deploymentWindowPolicyCount",
        "int",
        "live DEPLOYMENT_WINDOW policies",
        _FULL,
        aggregate=_policies("DEPLOYMENT_WINDOW"),
        scan=POLICIES,
        go="0 on failure",
    ),
    Metric(
        "approvalPolicyCount",
        "int",
        "live APPROVAL policies",
        _FULL,
        aggregate=_policies("APPROVAL"),
        scan=POLICIES,
        go="0 on failure",
    ),
    Metric(
        "pluginPolicyCount",
        "int",
        "live PLUGIN policies",
        _FULL,
        aggregate=_policies("PLUGIN"),
        scan=POLICIES,
        go="0 on failure",
    ),
    Metric(
        "tagsPolicyCount",
        "int",
        "plugin tags not deleted (not tag policies)",
        _FULL,
        scalar=lambda w: _count(t.plugin_tag, t.plugin_tag.c.deleted == false()),
        go="fetches every row",
    ),
    Metric(
        "filterConditionPolicyCount",
        "int",
        "resource filters not deleted",
        _FULL,
        scalar=lambda w: _count(t.resource_filter, t.resource_filter.c.deleted == false()),
        go="0 on failure",
    ),
    Metric(
        "lockDeploymentConfigurationPolicyCount",
        "int",
        "live LOCK_CONFIGURATION policies",
        _FULL,
        aggregate=_policies("LOCK_CONFIGURATION"),
        scan=POLICIES,
        go="0 on failure",
    ),
    Metric(
        "appliedPolicyRowCount",
        "int",
        "live global policies plus Go's join of qualifier mappings on unrelated keys",
        _FULL,
        scalar=_applied_policy_rows,
    ),
    Metric(
        "physicalClusterCount",
        "int",
        "active clusters that are not virtual (NULL counts)",
        _BOTH,
        aggregate=_count_where(lambda: t.cluster.c.is_virtual_cluster.is_not(true())),
        scan=CLUSTERS,
        go="fetches every row",
    ),
    Metric(
        "isolatedClusterCount",
        "int",
        "active virtual clusters",
        _BOTH,
        aggregate=_count_where(lambda: t.cluster.c.is_virtual_cluster == true()),
        scan=CLUSTERS,
        go="fetches every row",
    ),
    Metric(
        "activeUsersLast30Days",
        "int",
        "distinct users with a login or token use in the 30 days ending at the slot",
        _BOTH,
        window="30d",
        scan=LOGINS,
        aggregate=lambda w, rows: func.count(distinct(t.user_audit.c.user_id)).filter(
            t.user_audit.c.updated_on > w.month_start
        ),
        go="always 1 (a count of the distinct count's single row)",
    ),
    Metric(
        "gitOpsPipelineCount",
        "int",
        "live CD pipelines deployed with argo_cd",
        _FULL,
        aggregate=_count_where(lambda: t.pipeline.c.deployment_app_type == "argo_cd"),
        scan=LIVE_PIPELINES,
    ),
    Metric(
        "helmPipelineCount",
        "int",
        "live CD pipelines deployed with helm",
        _FULL,
        aggregate=_count_where(lambda: t.pipeline.c.deployment_app_type == "helm"),
        scan=LIVE_PIPELINES,
    ),
    Metric(
        "projectsWithZeroAppsCount",
        "int",
        "active projects without an active app",
        _FULL,
        scalar=_projects_without_apps,
    ),
    Metric(
        "appsWithPropagationTagsCount",
        "int",
        "active apps with a propagated label",
        _FULL,
        aggregate=_distinct_where(t.app_label.c.app_id, lambda: t.app_label.c.propagate == true()),
        scan=APP_LABELS,
    ),
    Metric(
        "appsWithNonPropagationTagsCount",
        "int",
        "active apps with a label not propagated",
        _FULL,
        scan=APP_LABELS,
        aggregate=_distinct_where(t.app_label.c.app_id, lambda: t.app_label.c.propagate == false()),
    ),
    Metric(
        "appsWithDescriptionCount",
        "int",
        "active apps and installed apps with a description (a UNION of two id spaces)",
        _FULL,
        scalar=_described,
    ),
    Metric(
        "appsWithCatalogDataCount",
        "int",
        "active installed apps with an active version of a chart-store application",
        _FULL,
        scalar=_catalog_data,
    ),
    Metric(
        "appsWithReadmeDataCount",
        "int",
        "active apps with a non-blank note",
        _FULL,
        scalar=_readme_data,
    ),
    Metric(
        "highestEnvironmentCountInApp",
        "int",
        "the most environments one active app deploys to",
        _FULL,
        scalar=_highest(
            func.count(distinct(t.pipeline.c.environment_id)),
            t.pipeline.c.app_id,
            _live_pipelines_of_active_apps(),
            t.pipeline.c.deleted == false(),
            t.app.c.active == true(),
        ),
    ),
    Metric(
        "highestAppCountInEnvironment",
        "int",
        "the most active apps deployed to one environment",
        _FULL,
        scalar=_highest(
            func.count(distinct(t.pipeline.c.app_id)),
            t.pipeline.c.environment_id,
            _live_pipelines_of_active_apps(),
            t.pipeline.c.deleted == false(),
            t.app.c.active == true(),
        ),
    ),
    Metric(
        "highestWorkflowCountInApp",
        "int",
        "the most active workflows in one active app",
        _FULL,
        scalar=_highest(
            func.count(),
            t.app_workflow.c.app_id,
            t.app_workflow.join(t.app, t.app.c.id == t.app_workflow.c.app_id),
            t.app_workflow.c.active == true(),
            t.app.c.active == true(),
        ),
    ),
    Metric(
        "highestEnvironmentCountInWorkflow",
        "int",
        "the most environments one active workflow deploys to",
        _FULL,
        scalar=_workflow_environments(),
    ),
    Metric(
        "highestGitRepoCountInApp",
        "int",
        "the most active git materials in one active app",
        _FULL,
        scalar=_highest(
            func.count(),
            t.git_material.c.app_id,
            t.git_material.join(t.app, t.app.c.id == t.git_material.c.app_id),
            t.git_material.c.active == true(),
            t.app.c.active == true(),
        ),
    ),
    Metric(
        "appsWithIncludeExcludeFilesCount",
        "int",
        "active apps with a git material whose filter pattern is a non-empty JSON array",
        _FULL,
        scalar=_filtered_repos,
        go="a JSON null or non-array pattern fails the statement",
    ),
    Metric(
        "dockerfileLanguagesList",
        "list",
        "languages of active managed-Dockerfile builds, sorted",
        _FULL,
        failure=None,
        scalar=_languages("managed-dockerfile-build"),
        go="compares with a type name never stored: always empty",
    ),
    Metric(
        "buildpackLanguagesList",
        "list",
        "languages of active buildpack builds, sorted",
        _FULL,
        failure=None,
        scalar=_languages("buildpack-build"),
        go="compares with a type name never stored: always empty",
    ),
    Metric(
        "appsWithDeploymentChartCount",
        "int",
        "active apps on the Deployment chart",
        _FULL,
        aggregate=_chart_apps("Deployment"),
        scan=CHART_APPS,
    ),
    Metric(
        "appsWithRolloutChartCount",
        "int",
        "active apps on the Rollout Deployment chart",
        _FULL,
        aggregate=_chart_apps("Rollout Deployment"),
        scan=CHART_APPS,
    ),
    Metric(
        "appsWithStatefulsetCount",
        "int",
        "active apps on the StatefulSet chart",
        _FULL,
        aggregate=_chart_apps("StatefulSet"),
        scan=CHART_APPS,
    ),
    Metric(
        "appsWithJobsCronjobsCount",
        "int",
        "active apps on the Job & CronJob chart (any of its three names)",
        _FULL,
        scan=CHART_APPS,
        aggregate=_chart_apps("Job & CronJob", "CronJob & Job", "Cron Job & Job"),
        go="matches 'Cron Job & Job' only: always 0",
    ),
    Metric(
        "environmentsWithPatchStrategyCount",
        "int",
        "active environments with an active patch override",
        _FULL,
        aggregate=_strategy("patch"),
        scan=OVERRIDES,
    ),
    Metric(
        "environmentsWithReplaceStrategyCount",
        "int",
        "active environments with an active replace override",
        _FULL,
        aggregate=_strategy("replace"),
        scan=OVERRIDES,
    ),
    Metric(
        "externalConfigMapCount",
        "int",
        "ConfigMap rows holding an external map",
        _FULL,
        aggregate=_config_maps("true"),
        scan=CONFIG_MAPS,
        go='{"maps":null} fails the statement: usually -1',
    ),
    Metric(
        "internalConfigMapCount",
        "int",
        "ConfigMap rows holding an internal map",
        _FULL,
        aggregate=_config_maps("false"),
        scan=CONFIG_MAPS,
        go='{"maps":null} fails the statement: usually -1',
    ),
)

# The EA struct's own order (reference §5); the FULL order is the catalogue's.
EA_ORDER: Final = (
    "ucid",
    "timestamp",
    "eventType",
    "serverVersion",
    "userCount",
    "clusterCount",
    "hostURL",
    "ssoLogin",
    "devtronVersion",
    "devtronMode",
    "installedIntegrations",
    "installFailedIntegrations",
    "installTimedOutIntegrations",
    "LastLoginTime",
    "installingIntegrations",
    "devtronReleaseVersion",
    "HelmAppAccessCounter",
    "HelmAppUpdateCounter",
    "ChartStoreVisitCount",
    "SkippedOnboarding",
    "helmChartSuccessfulDeploymentCount",
    "clusterProvider",
    "helmAppCount",
    "physicalClusterCount",
    "isolatedClusterCount",
    "activeUsersLast30Days",
)
HEARTBEAT_ORDER: Final = (
    "ucid",
    "timestamp",
    "eventType",
    "serverVersion",
    "devtronVersion",
    "devtronMode",
    "LastLoginTime",
    "SkippedOnboarding",
)
_BY_KEY: Final = {metric.key: metric for metric in CATALOGUE}


def by_key(key: str) -> Metric:
    """The entry for `key`."""
    return _BY_KEY[key]


def layout(name: Layout) -> tuple[Metric, ...]:
    """The entries of one event layout, in the order Go's struct (or Devtron's guide) has them."""
    if name == "documented":
        return tuple(_BY_KEY[key] for key in SUMMARY_KEYS)
    if name == "ea":
        return tuple(_BY_KEY[key] for key in EA_ORDER)
    if name == "heartbeat":
        return tuple(_BY_KEY[key] for key in HEARTBEAT_ORDER)
    return tuple(metric for metric in CATALOGUE if name in metric.layouts)


def summary_layout(payload_format: str, mode: str) -> Layout:
    """The layout of the Summary in `payload_format` ("documented", "extended") and `mode`."""
    if payload_format == "documented":
        return "documented"
    return "full" if mode == "full" else "ea"


def queried(name: Layout) -> tuple[Metric, ...]:
    """The entries of a Summary layout that are read from the database."""
    return tuple(metric for metric in layout(name) if metric.from_database)


def tables_read(name: Layout) -> list[str]:
    """Every table the layout's metrics read, sorted."""
    return sorted({table for metric in queried(name) for table in metric.reads})


def scans(metrics: tuple[Metric, ...]) -> Iterator[tuple[Scan | None, tuple[Metric, ...]]]:
    """The metrics grouped as they are read: one group per scan, one per standalone metric."""
    grouped: dict[str, list[Metric]] = {}
    scan_of: dict[str, Scan] = {}
    for metric in metrics:
        if metric.scan is not None:
            grouped.setdefault(metric.scan.name, []).append(metric)
            scan_of[metric.scan.name] = metric.scan
        else:
            yield None, (metric,)
    for name, members in grouped.items():
        yield scan_of[name], tuple(members)


def _check() -> None:
    keys = [metric.key for metric in CATALOGUE]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise ValueError(f"catalogue: duplicate keys {duplicated}")
    for key in EA_ORDER:
        if "ea" not in _BY_KEY[key].layouts:
            raise ValueError(f"catalogue: {key} is ordered for EA but not in its layout")
    if len(EA_ORDER) != sum("ea" in metric.layouts for metric in CATALOGUE):
        raise ValueError("catalogue: EA_ORDER must name every EA key")


_check()
