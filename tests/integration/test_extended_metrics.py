"""Each extended metric against a real orchestrator database: its edge cases and every deliberate
deviation from today's Go orchestrator (devtron-extended-format.md §7), and older orchestrators
that lack a table or column (§9): only the metrics that read it fail.

Every test starts from a fresh install (the sandbox's seeds); rows go in with plain SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from orchestrator_telemetry.collect import FAILED, Window, collect
from orchestrator_telemetry.collect.catalogue import ZERO_TIME
from orchestrator_telemetry.config import DatabaseSettings
from orchestrator_telemetry.database import orchestrator_engine
from orchestrator_telemetry.sandbox.devtron import load_sample_data
from orchestrator_telemetry.sandbox.extended import load_extended_sample

pytestmark = pytest.mark.integration

SLOT = datetime(2024, 5, 2, tzinfo=UTC)

# Row makers: plain SQL with Devtron's NOT NULL audit columns filled in.
AUDIT = "now(), 1, now(), 1"


def app(name: str, *, app_type: int = 0, active: bool = True, description: str = "") -> str:
    return (
        "INSERT INTO app (app_name, active, team_id, app_type, description, created_on,"
        f" created_by, updated_on, updated_by) VALUES ('{name}', {active}, 1, {app_type},"
        f" '{description}', {AUDIT})"
    )


def app_id(name: str) -> str:
    return f"(SELECT id FROM app WHERE app_name = '{name}')"


def ci_pipeline(name: str, app_name: str, *, kind: str = "CI_BUILD", live: bool = True) -> str:
    return (
        "INSERT INTO ci_pipeline (app_id, name, active, deleted, ci_pipeline_type, created_on,"
        f" created_by, updated_on, updated_by) VALUES ({app_id(app_name)}, '{name}', {live},"
        f" {not live}, '{kind}', :slot - interval '90 days', 1, now(), 1)"
    )


def ci_run(pipeline: str, status: str, started: str, build_type: str | None = None) -> str:
    kind = "NULL" if build_type is None else f"'{build_type}'"
    return (
        "INSERT INTO ci_workflow (ci_pipeline_id, status, started_on, ci_build_type) VALUES"
        f" ((SELECT id FROM ci_pipeline WHERE name = '{pipeline}'), '{status}', {started}, {kind})"
    )


def cd_pipeline(name: str, app_name: str) -> str:
    return (
        "INSERT INTO pipeline (app_id, environment_id, trigger_type, pipeline_name, deleted,"
        f" created_on, created_by, updated_on, updated_by) VALUES ({app_id(app_name)}, 1,"
        f" 'MANUAL', '{name}', false, :slot - interval '90 days', 1, now(), 1)"
    )


def collect_full(engine: Engine) -> dict[str, Any]:
    return collect(engine, Window.ending_at(SLOT), layout="full")


@pytest.fixture
def engine(orchestrator_db_url: str) -> Any:
    built = orchestrator_engine(orchestrator_db_url, DatabaseSettings())
    yield built
    built.dispose()


def given(orchestrator_engine: Engine, *statements: str) -> None:
    with orchestrator_engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), {"slot": SLOT})


# Each case: rows to insert, then what some metrics must be (the others are not looked at).
CASES: dict[str, tuple[list[str], dict[str, Any]]] = {
    "a fresh install reports its seeds": (
        [],
        {
            "userCount": 2,
            "clusterCount": 1,
            "physicalClusterCount": 1,
            "environmentCount": 1,
            "gitAccountsCount": 1,
            "tagsPolicyCount": 15,
            "appliedPolicyRowCount": 3,
            "projectsWithZeroAppsCount": 1,
            "LastLoginTime": ZERO_TIME,
            "SkippedOnboarding": False,
            "hostURL": False,
            "installedIntegrations": [],
            "HelmAppAccessCounter": None,
        },
    ),
    "activeUsersLast30Days counts distinct users in (slot - 720 h, slot] (Go: always 1)": (
        [
            "INSERT INTO user_audit (user_id, updated_on) VALUES"
            " (1, :slot - interval '1 day'), (1, :slot - interval '2 days'),"
            " (2, :slot), (2, :slot - interval '720 hours'), (2, :slot + interval '1 second')",
        ],
        {"activeUsersLast30Days": 2},
    ),
    "a user seen only on the 30-day edge or after the slot is not active": (
        [
            "INSERT INTO user_audit (user_id, updated_on) VALUES"
            " (1, :slot - interval '720 hours'), (2, :slot + interval '1 second')",
        ],
        {"activeUsersLast30Days": 0, "LastLoginTime": "2024-04-02T00:00:00Z"},
    ),
    "LastLoginTime is the latest login at or before the slot, microseconds trimmed": (
        [
            "INSERT INTO user_audit (user_id, updated_on) VALUES"
            " (1, :slot - interval '90 minutes' + interval '120 microseconds'),"
            " (2, :slot + interval '1 minute')",
        ],
        {"LastLoginTime": "2024-05-01T22:30:00.00012Z"},
    ),
    "languages are distinct, 'unknown' when missing, sorted by code point (Go: always empty)": (
        [
            app("a"),
            app("b"),
            app("c"),
            app("d"),
            app("gone", active=False),
            "INSERT INTO ci_build_config (id, type, build_metadata) VALUES"
            " (1, 'managed-dockerfile-build', '{\"language\": \"go\"}'),"
            " (2, 'managed-dockerfile-build', '{\"language\": \"Java\"}'),"
            " (3, 'managed-dockerfile-build', '{}'),"
            " (4, 'buildpack-build', '{\"language\": \"go\"}'),"
            " (5, 'managed-dockerfile-build', '{\"language\": \"Rust\"}')",
            "INSERT INTO ci_template (app_id, active, ci_build_config_id) VALUES"
            f" ({app_id('a')}, true, 1), ({app_id('b')}, true, 2), ({app_id('c')}, true, 3),"
            f" ({app_id('d')}, true, 4), ({app_id('gone')}, true, 5)",
        ],
        {
            "dockerfileLanguagesList": ["Java", "go", "unknown"],
            "buildpackLanguagesList": ["go"],
            "managedDockerfileCount": 4,
        },
    ),
    "a build configuration whose metadata is not JSON omits the list and nothing else": (
        [
            app("a"),
            "INSERT INTO ci_build_config (id, type, build_metadata) VALUES"
            " (1, 'managed-dockerfile-build', 'not json')",
            f"INSERT INTO ci_template (app_id, active, ci_build_config_id) VALUES ({app_id('a')},"
            " true, 1)",
        ],
        {"dockerfileLanguagesList": None, "buildpackLanguagesList": [], "appCount": 1},
    ),
    "the Job & CronJob chart counts under any of its three names (Go: always 0)": (
        [
            app("a"),
            app("b"),
            app("c"),
            "INSERT INTO chart_ref (id, name, active) VALUES (101, 'Cron Job & Job', true),"
            " (102, 'CronJob & Job', true), (103, 'Job & CronJob', true)",
            "INSERT INTO charts (app_id, chart_ref_id, active) VALUES"
            f" ({app_id('a')}, 101, true), ({app_id('b')}, 102, true), ({app_id('c')}, 103, true)",
        ],
        {"appsWithJobsCronjobsCount": 3, "appsWithDeploymentTemplateConfigured": 3},
    ),
    "ConfigMaps: maps null, absent or not an array are no maps (Go: the statement fails)": (
        [
            app("a"),
            app("b"),
            app("c"),
            app("d"),
            app("e"),
            "INSERT INTO config_map_app_level (app_id, config_map_data) VALUES"
            f" ({app_id('a')}, '{{\"maps\": null}}'), ({app_id('b')}, '{{}}'),"
            f' ({app_id("c")}, \'{{"maps": {{"x": 1}}}}\'), ({app_id("d")}, NULL),'
            f' ({app_id("e")}, \'{{"maps": [{{"external": true}}, {{"name": "n"}},'
            ' {"external": "false"}]}\')',
            "INSERT INTO config_map_env_level (app_id, environment_id, config_map_data, deleted)"
            f' VALUES ({app_id("a")}, 1, \'{{"maps": [{{"external": "true"}}]}}\', false),'
            f' ({app_id("b")}, 1, \'{{"maps": [{{"external": true}}]}}\', NULL)',
        ],
        {"externalConfigMapCount": 2, "internalConfigMapCount": 1},
    ),
    "include/exclude filters: only a non-empty JSON array is a filter": (
        [
            app("a"),
            app("b"),
            app("c"),
            app("d"),
            app("e"),
            "INSERT INTO git_material (app_id, active, filter_pattern) VALUES"
            f" ({app_id('a')}, true, 'null'), ({app_id('b')}, true, '{{\"x\": 1}}'),"
            f" ({app_id('c')}, true, '[]'), ({app_id('d')}, true, NULL),"
            f" ({app_id('e')}, true, '[\"src/**\"]'), ({app_id('e')}, true, '[\"docs\"]')",
        ],
        {
            "appsWithIncludeExcludeFilesCount": 1,
            "highestGitRepoCountInApp": 2,
            "appsWithGitRepoConfigured": 5,
        },
    ),
    "self-Dockerfile builds sum NULL, '' and the type (Go: the groups overwrite each other)": (
        [
            app("a"),
            ci_pipeline("p", "a"),
            ci_run("p", "Succeeded", ":slot - interval '1 hour'"),
            ci_run("p", "Succeeded", ":slot - interval '2 hours'", ""),
            ci_run("p", "Succeeded", ":slot - interval '3 hours'", "self-dockerfile-build"),
            ci_run("p", "Failed", ":slot - interval '3 hours'", "buildpack-build"),
            ci_run("p", "Succeeded", ":slot - interval '25 hours'", "self-dockerfile-build"),
        ],
        {
            "selfDockerfileSuccessCount": 3,
            "selfDockerfileFailureCount": 0,
            "buildPackFailureCount": 1,
            "ciTriggeredPerDay": 1,
            "build": True,
        },
    ),
    "the window is (slot - 24 h, slot]: its start and what follows the slot are out": (
        [
            app("a"),
            ci_pipeline("p", "a"),
            ci_pipeline("q", "a"),
            ci_pipeline("r", "a"),
            ci_run("p", "Failed", ":slot - interval '24 hours'", "managed-dockerfile-build"),
            ci_run("q", "Failed", ":slot + interval '1 microsecond'", "managed-dockerfile-build"),
            ci_run("r", "Failed", ":slot", "managed-dockerfile-build"),
        ],
        {"ciTriggeredPerDay": 1, "managedDockerfileFailureCount": 1, "build": False},
    ),
    "build and deployment: ever, whatever the window": (
        [
            app("a"),
            ci_pipeline("p", "a"),
            ci_run("p", "Succeeded", ":slot - interval '400 days'"),
            cd_pipeline("d", "a"),
            "INSERT INTO cd_workflow (id, pipeline_id) VALUES"
            " (1, (SELECT id FROM pipeline WHERE pipeline_name = 'd'))",
            "INSERT INTO cd_workflow_runner (cd_workflow_id, workflow_type, status, started_on)"
            " VALUES (1, 'DEPLOY', 'Healthy', :slot - interval '400 days'),"
            " (1, 'PRE', 'Succeeded', :slot - interval '1 hour'),"
            " (1, 'POST', 'Succeeded', :slot - interval '1 hour'),"
            " (1, 'DEPLOY', 'Failed', :slot - interval '2 hours'),"
            " (1, 'DEPLOY', 'Healthy', :slot - interval '3 hours')",
        ],
        {"build": True, "deployment": True, "ciTriggeredPerDay": 0, "cdTriggeredPerDay": 1},
    ),
    "appsWith*Configured at 0 apps are 0 (Go: an SQL error)": (
        [],
        {
            "appCount": 0,
            "appsWithGitRepoConfigured": 0,
            "appsWithDockerConfigured": 0,
            "appsWithDeploymentTemplateConfigured": 0,
            "appsWithCiPipelineConfigured": 0,
            "appsWithCdPipelineConfigured": 0,
        },
    ),
    "appsWith*Configured are computed above 50 apps (Go: 0)": (
        [
            "INSERT INTO app (app_name, active, team_id, app_type, created_on, created_by,"
            " updated_on, updated_by)"
            " SELECT 'app-' || i, true, 1, 0, now(), 1, now(), 1 FROM generate_series(1, 60) i",
            "INSERT INTO ci_pipeline (app_id, name, active, deleted, created_on, created_by,"
            " updated_on, updated_by) SELECT id, 'ci-' || id, false, true, now(), 1, now(), 1"
            " FROM app",
        ],
        {"appCount": 60, "devtronAppCount": 60, "appsWithCiPipelineConfigured": 60},
    ),
    "jobs and job pipelines: live CI_JOB pipelines of active apps": (
        [
            app("job", app_type=2),
            app("old-job", app_type=2, active=False),
            app("helm", app_type=1),
            ci_pipeline("j1", "job", kind="CI_JOB"),
            ci_pipeline("j2", "job", kind="CI_JOB"),
            ci_pipeline("j3", "job", kind="CI_JOB", live=False),
            ci_pipeline("j4", "old-job", kind="CI_JOB"),
            ci_run("j1", "Succeeded", ":slot - interval '1 hour'"),
            ci_run("j1", "Failed", ":slot - interval '2 hours'"),
            ci_run("j2", "Running", ":slot - interval '1 hour'"),
            ci_run("j3", "Succeeded", ":slot - interval '1 hour'"),
            ci_run("j4", "Succeeded", ":slot - interval '1 hour'"),
        ],
        {
            "jobCount": 1,
            "appCount": 0,
            "jobPipelineCount": 2,
            "jobPipelineTriggeredLast24h": 2,
            "jobPipelineSucceededLast24h": 1,
            "ciTriggeredPerDay": 4,
        },
    ),
    "integration lists are sorted by code point; notInstalled is in none": (
        [
            "INSERT INTO module (name, status) VALUES ('security.trivy', 'installed'),"
            " ('Argo', 'installed'), ('cicd', 'installed'), ('x', 'notInstalled'),"
            " ('y', 'timeout'), ('z', 'installing'), ('w', 'installFailed')",
        ],
        {
            "installedIntegrations": ["Argo", "cicd", "security.trivy"],
            "installTimedOutIntegrations": ["y"],
            "installingIntegrations": ["z"],
            "installFailedIntegrations": ["w"],
        },
    ),
    'SkippedOnboarding: only the JSON string "true", for admin in any case': (
        [
            "INSERT INTO user_attributes (email_id, user_data) VALUES"
            " ('ADMIN', '{\"SkippedOnboarding\": \"true\"}'),"
            " ('admin', '{\"SkippedOnboarding\": true}')",
        ],
        {"SkippedOnboarding": True},
    ),
    "SkippedOnboarding: a JSON boolean does not count": (
        [
            "INSERT INTO user_attributes (email_id, user_data) VALUES"
            " ('admin', '{\"SkippedOnboarding\": true}'),"
            " ('dev@example.com', '{\"SkippedOnboarding\": \"true\"}')",
        ],
        {"SkippedOnboarding": False},
    ),
    "single-row attributes: two url rows are no hostURL; counters need exactly one row": (
        [
            "INSERT INTO attributes (key, value, active) VALUES ('url', 'a', true),"
            " ('url', 'b', true), ('HelmAppAccessCounter', '12', true),"
            " ('HelmAppUpdateCounter', '1', true), ('HelmAppUpdateCounter', '2', true),"
            " ('ChartStoreVisitCount', '5', false)",
        ],
        {
            "hostURL": False,
            "HelmAppAccessCounter": "12",
            "HelmAppUpdateCounter": None,
            "ChartStoreVisitCount": None,
        },
    ),
    "clusters: a NULL is_virtual_cluster is physical": (
        [
            "INSERT INTO cluster (cluster_name, active, is_virtual_cluster, created_on,"
            f" created_by, updated_on, updated_by) VALUES ('n', true, NULL, {AUDIT}),"
            f" ('v', true, true, {AUDIT}), ('off', false, true, {AUDIT})",
        ],
        {"clusterCount": 3, "physicalClusterCount": 2, "isolatedClusterCount": 1},
    ),
    "descriptions: a UNION of app and installed-app ids, so equal ids count once (Go's)": (
        [
            app("a", description="Payments"),
            app("b", description="  "),
            "INSERT INTO installed_apps (id, active, notes) VALUES"
            f" ({app_id('a')}, true, 'Grafana'), (999, true, 'Loki'), (998, false, 'Old')",
        ],
        {"appsWithDescriptionCount": 2, "helmAppCount": 2},
    ),
    "policies: deleted NULL is not live; tags are plugin tags; the applied-policy join is Go's": (
        [
            "INSERT INTO global_policy (id, name, policy_of, deleted) VALUES"
            " (100, 'a', 'APPROVAL', false), (101, 'b', 'APPROVAL', NULL),"
            " (102, 'c', 'PLUGIN', true), (103, 'd', 'DEPLOYMENT_WINDOW', false)",
            "INSERT INTO resource_qualifier_mapping_criteria (id) VALUES (100), (103)",
            "INSERT INTO resource_qualifier_mapping (id, resource_id, active) VALUES"
            " (100, 7, true), (103, 7, true), (1, 8, true)",
            "INSERT INTO plugin_tag (name, deleted) VALUES ('t', NULL), ('u', false)",
            "INSERT INTO resource_filter (name, deleted) VALUES ('f', false), ('g', true)",
        ],
        {
            "approvalPolicyCount": 1,
            "pluginPolicyCount": 0,
            "deploymentWindowPolicyCount": 1,
            "appliedPolicyRowCount": 5 + 1,
            "tagsPolicyCount": 16,
            "filterConditionPolicyCount": 1,
        },
    ),
    "ciDeletedPerDay counts pipelines created in the window that are deleted now": (
        [
            app("a"),
            "INSERT INTO ci_pipeline (app_id, name, active, deleted, created_on, created_by,"
            f" updated_on, updated_by) VALUES ({app_id('a')}, 'x', false, true,"
            " :slot - interval '1 hour', 1, now(), 1),"
            f" ({app_id('a')}, 'y', false, true, :slot - interval '3 days', 1, now(), 1)",
        ],
        {"ciCreatedPerDay": 1, "ciDeletedPerDay": 1, "cdDeletedPerDay": 0},
    ),
}


@pytest.mark.parametrize(("rows", "expected"), list(CASES.values()), ids=list(CASES))
def test_each_metric_follows_the_reference(
    engine: Engine, orchestrator_engine: Engine, rows: list[str], expected: dict[str, Any]
) -> None:
    given(orchestrator_engine, *rows)

    values = collect_full(engine)

    assert {key: values[key] for key in expected} == expected


# --- Older orchestrators (§9) ------------------------------------------------------------------

OLDER: dict[str, tuple[list[str], set[str]]] = {
    "21 app_label": (
        ["DROP TABLE app_label"],
        {"appsWithPropagationTagsCount", "appsWithNonPropagationTagsCount"},
    ),
    "28 chart_ref.name": (
        ["ALTER TABLE chart_ref DROP COLUMN name"],
        {
            "appsWithDeploymentChartCount",
            "appsWithRolloutChartCount",
            "appsWithStatefulsetCount",
            "appsWithJobsCronjobsCount",
        },
    ),
    "34 git_provider.deleted": (
        ["ALTER TABLE git_provider DROP COLUMN deleted"],
        {"gitAccountsCount"},
    ),
    "46 module": (
        ["DROP TABLE module"],
        {
            "installedIntegrations",
            "installFailedIntegrations",
            "installTimedOutIntegrations",
            "installingIntegrations",
        },
    ),
    "49 plugin_tag": (["DROP TABLE plugin_tag"], {"tagsPolicyCount"}),
    "55 users.user_type": (["ALTER TABLE users DROP COLUMN user_type"], {"userCount"}),
    "55 user_audit": (["DROP TABLE user_audit"], {"LastLoginTime", "activeUsersLast30Days"}),
    "56 pipeline.deployment_app_type": (
        ["ALTER TABLE pipeline DROP COLUMN deployment_app_type"],
        {"gitOpsPipelineCount", "helmPipelineCount"},
    ),
    "73 user_attributes": (["DROP TABLE user_attributes"], {"SkippedOnboarding"}),
    "87 user_audit.updated_on": (
        ["ALTER TABLE user_audit DROP COLUMN updated_on"],
        {"LastLoginTime", "activeUsersLast30Days"},
    ),
    "90 build configurations": (
        [
            "DROP TABLE ci_build_config CASCADE",
            "ALTER TABLE ci_workflow DROP COLUMN ci_build_type",
            "ALTER TABLE ci_template DROP COLUMN ci_build_config_id",
        ],
        {
            "selfDockerfileCount",
            "managedDockerfileCount",
            "buildPackCount",
            "selfDockerfileSuccessCount",
            "selfDockerfileFailureCount",
            "managedDockerfileSuccessCount",
            "managedDockerfileFailureCount",
            "buildPackSuccessCount",
            "buildPackFailureCount",
            "dockerfileLanguagesList",
            "buildpackLanguagesList",
        },
    ),
    "113 app_label.propagate": (
        ["ALTER TABLE app_label DROP COLUMN propagate"],
        {"appsWithPropagationTagsCount", "appsWithNonPropagationTagsCount"},
    ),
    "122 app.app_type": (
        ["ALTER TABLE app DROP COLUMN app_type"],
        {
            "appCount",
            "appsWithGitRepoConfigured",
            "appsWithDockerConfigured",
            "appsWithDeploymentTemplateConfigured",
            "appsWithCiPipelineConfigured",
            "appsWithCdPipelineConfigured",
            "devtronAppCount",
            "jobCount",
        },
    ),
    "122 app.description": (
        ["ALTER TABLE app DROP COLUMN description"],
        {"appsWithDescriptionCount"},
    ),
    "123 installed_apps.notes": (
        ["ALTER TABLE installed_apps DROP COLUMN notes"],
        {"appsWithDescriptionCount"},
    ),
    "140 git_material.filter_pattern": (
        ["ALTER TABLE git_material DROP COLUMN filter_pattern"],
        {"appsWithIncludeExcludeFilesCount"},
    ),
    "144 cluster.is_virtual_cluster": (
        ["ALTER TABLE cluster DROP COLUMN is_virtual_cluster"],
        {"physicalClusterCount", "isolatedClusterCount"},
    ),
    "149 global_policy": (
        ["DROP TABLE global_policy"],
        {
            "deploymentWindowPolicyCount",
            "approvalPolicyCount",
            "pluginPolicyCount",
            "lockDeploymentConfigurationPolicyCount",
            "appliedPolicyRowCount",
        },
    ),
    "158 config_map_env_level.deleted": (
        ["ALTER TABLE config_map_env_level DROP COLUMN deleted"],
        {"externalConfigMapCount", "internalConfigMapCount"},
    ),
    "161 generic_note": (["DROP TABLE generic_note"], {"appsWithReadmeDataCount"}),
    "172 ci_pipeline.ci_pipeline_type": (
        ["ALTER TABLE ci_pipeline DROP COLUMN ci_pipeline_type"],
        {"jobPipelineCount", "jobPipelineTriggeredLast24h", "jobPipelineSucceededLast24h"},
    ),
    "175 resource_filter": (["DROP TABLE resource_filter"], {"filterConditionPolicyCount"}),
    "175 resource_qualifier_mapping": (
        ["DROP TABLE resource_qualifier_mapping"],
        {"appliedPolicyRowCount"},
    ),
    "271 plugin_parent_metadata": (
        ["DROP TABLE plugin_parent_metadata"],
        {"userCreatedPluginCount"},
    ),
    "275 resource_qualifier_mapping_criteria": (
        ["DROP TABLE resource_qualifier_mapping_criteria"],
        {"appliedPolicyRowCount"},
    ),
    "30702500 chart_env_config_override.merge_strategy": (
        ["ALTER TABLE chart_env_config_override DROP COLUMN merge_strategy"],
        {"environmentsWithPatchStrategyCount", "environmentsWithReplaceStrategyCount"},
    ),
    "31802800 plugin_parent_metadata.is_exposed": (
        ["ALTER TABLE plugin_parent_metadata DROP COLUMN is_exposed"],
        {"userCreatedPluginCount"},
    ),
}
FAILURE: dict[str, Any] = {"LastLoginTime": ZERO_TIME, "SkippedOnboarding": False}
LISTS = {
    "installedIntegrations",
    "installFailedIntegrations",
    "installTimedOutIntegrations",
    "installingIntegrations",
    "dockerfileLanguagesList",
    "buildpackLanguagesList",
}


@pytest.mark.parametrize(("breakage", "failing"), list(OLDER.values()), ids=list(OLDER))
def test_an_older_orchestrator_fails_only_the_metrics_that_read_what_it_lacks(
    engine: Engine, orchestrator_engine: Engine, breakage: list[str], failing: set[str]
) -> None:
    with orchestrator_engine.begin() as conn:
        load_sample_data(conn, SLOT)
        load_extended_sample(conn, SLOT)
    complete = collect_full(engine)
    given(orchestrator_engine, *breakage)

    older = collect_full(engine)

    expected = {key: None if key in LISTS else FAILURE.get(key, FAILED) for key in failing}
    assert older == complete | expected
    assert all(complete[key] != older[key] for key in failing)  # the sample exercises each one


def test_the_sample_installation_gives_every_hand_worked_value(
    engine: Engine, orchestrator_engine: Engine
) -> None:
    with orchestrator_engine.begin() as conn:
        load_sample_data(conn, SLOT)
        expected = load_extended_sample(conn, SLOT)

    values = collect_full(engine)

    assert {key: values[key] for key in expected} == expected
    others = {key: value for key, value in values.items() if key not in expected}
    assert others == {
        "installTimedOutIntegrations": [],
        "ChartStoreVisitCount": None,
        "HelmAppUpdateCounter": None,
        "pluginPolicyCount": 0,
        "appsWithStatefulsetCount": 0,
    }


def test_the_window_is_the_same_whenever_the_summary_is_computed(
    engine: Engine, orchestrator_engine: Engine
) -> None:
    given(
        orchestrator_engine,
        app("a"),
        ci_pipeline("p", "a"),
        ci_run("p", "Succeeded", ":slot - interval '1 hour'"),
    )
    before = collect_full(engine)
    given(orchestrator_engine, ci_run("p", "Succeeded", "now()"))  # a run after the slot

    assert collect_full(engine) == before
    assert before["ciTriggeredPerDay"] == 1
