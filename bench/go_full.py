"""The Go orchestrator's strategy for the FULL Summary (devtron-extended-format.md §10).

One statement per metric, in Go's order, each on its own outside any transaction (go-pg's pool):
68 statements with 50 or more apps (73 below, when the five `appsWith*Configured` counts run).
Rows the ORM loads are fetched whole and counted here, as Go counts them; the statements Go gets
wrong are reproduced with their faults (they are what it costs), and a statement that fails on
the data (Go's ConfigMap and filter-pattern statements on `{"maps":null}` or a JSON `null`)
costs what it costs until it fails, and gives -1, as in Go. Windows are `now - 1 day` at the
anchor (the pod clock), with no upper bound.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from .generate import ANCHOR

_USERS = (
    "SELECT id, email_id, active, user_type, access_token, fname, lname, password,"
    " timeout_window_configuration_id, request_email_id FROM users WHERE active = true"
    " AND (user_type IS NULL OR user_type != 'apiToken') ORDER BY updated_on DESC"
)
_CLUSTERS = "SELECT * FROM cluster WHERE active = true"
_COUNTS_7 = {
    "environmentCount": "SELECT count(*) FROM environment WHERE active = true",
    "prodAppCount": "SELECT count(DISTINCT pipeline.app_id) FROM pipeline"
    " JOIN environment ON environment.id = pipeline.environment_id"
    ' JOIN app ON app.id = pipeline.app_id WHERE environment."default" = true'
    " AND app.active = true",
    "nonProdAppCount": "SELECT count(DISTINCT pipeline.app_id) FROM pipeline"
    " JOIN environment ON environment.id = pipeline.environment_id"
    ' JOIN app ON app.id = pipeline.app_id WHERE environment."default" = false'
    " AND app.active = true",
    "ciCreatedPerDay": "SELECT count(*) FROM ci_pipeline WHERE created_on > :since",
    "ciDeletedPerDay": "SELECT count(*) FROM ci_pipeline WHERE created_on > :since"
    " AND deleted = true",
    "ciTriggeredPerDay": "WITH _count_wrapper AS (SELECT DISTINCT ci_pipeline_id FROM ci_workflow"
    " WHERE started_on > :since) SELECT count(*) FROM _count_wrapper",
    "cdCreatedPerDay": "SELECT count(*) FROM pipeline WHERE created_on > :since",
    "cdDeletedPerDay": "SELECT count(*) FROM pipeline WHERE created_on > :since AND deleted = true",
    "cdTriggeredPerDay": "WITH _count_wrapper AS (SELECT DISTINCT cd_workflow.pipeline_id"
    " FROM cd_workflow JOIN cd_workflow_runner ON cd_workflow_runner.cd_workflow_id ="
    " cd_workflow.id WHERE cd_workflow_runner.workflow_type = 'DEPLOY'"
    " AND cd_workflow_runner.started_on > :since) SELECT count(*) FROM _count_wrapper",
    "gitAccountsCount": "SELECT count(*) FROM git_provider WHERE deleted = false",
    "gitOpsCount": "SELECT count(*) FROM gitops_config",
    "registryCount": "SELECT count(*) FROM docker_artifact_store WHERE active = true",
}
_APPS = (
    "SELECT id, app_name, active, team_id, app_type, app_store, app_offering_mode, description,"
    " display_name, created_on, created_by, updated_on FROM app"
    " WHERE active = true AND app_type = 0"
)
_CONFIGURED = {
    "appsWithGitRepoConfigured": "git_material WHERE active = true AND",
    "appsWithDockerConfigured": "ci_template WHERE",
    "appsWithDeploymentTemplateConfigured": "charts WHERE",
    "appsWithCiPipelineConfigured": "ci_pipeline WHERE",
    "appsWithCdPipelineConfigured": "pipeline WHERE",
}
_JOB_PIPELINES = (
    "FROM ci_pipeline cp JOIN app a ON a.id = cp.app_id WHERE cp.active = true"
    " AND cp.deleted = false AND a.active = true AND cp.ci_pipeline_type = 'CI_JOB'"
)
_POLICIES = "SELECT count(*) FROM global_policy WHERE policy_of = '{}' AND deleted = false"
_STEP_13 = {
    "helmAppCount": "SELECT count(*) FROM installed_apps WHERE active = true",
    "devtronAppCount": "SELECT count(*) FROM app WHERE active = true AND app_type = 0",
    "jobCount": "SELECT count(*) FROM app WHERE active = true AND app_type = 2",
    "jobPipelineCount": f"SELECT count(*) {_JOB_PIPELINES}",
    "jobPipelineTriggeredLast24h": "SELECT count(DISTINCT cp.id) FROM ci_pipeline cp"
    " JOIN app a ON a.id = cp.app_id JOIN ci_workflow w ON w.ci_pipeline_id = cp.id"
    " WHERE cp.active = true AND cp.deleted = false AND a.active = true"
    " AND cp.ci_pipeline_type = 'CI_JOB' AND w.started_on >= :since",
    "jobPipelineSucceededLast24h": "SELECT count(DISTINCT cp.id) FROM ci_pipeline cp"
    " JOIN app a ON a.id = cp.app_id JOIN ci_workflow w ON w.ci_pipeline_id = cp.id"
    " WHERE cp.active = true AND cp.deleted = false AND a.active = true"
    " AND cp.ci_pipeline_type = 'CI_JOB' AND w.started_on >= :since AND w.status = 'Succeeded'",
}
_ROWS_13 = {
    "userCreatedPluginCount": "SELECT id, name, identifier, type, deleted"
    " FROM plugin_parent_metadata WHERE deleted = false AND is_exposed = true AND type = 'SHARED'",
}
_POLICIES_13 = {
    "deploymentWindowPolicyCount": _POLICIES.format("DEPLOYMENT_WINDOW"),
    "approvalPolicyCount": _POLICIES.format("APPROVAL"),
    "pluginPolicyCount": _POLICIES.format("PLUGIN"),
}
_AFTER_TAGS = {
    "filterConditionPolicyCount": "SELECT count(*) FROM resource_filter WHERE deleted = false",
    "lockDeploymentConfigurationPolicyCount": _POLICIES.format("LOCK_CONFIGURATION"),
    "appliedPolicyRowCount": "WITH policies AS (SELECT count(*) AS n FROM global_policy"
    " WHERE deleted = false), mapped AS (SELECT count(DISTINCT m.resource_id) AS n"
    " FROM resource_qualifier_mapping m JOIN resource_qualifier_mapping_criteria c"
    " ON m.id = c.id JOIN global_policy g ON c.id = g.id WHERE m.active = true"
    " AND g.deleted = false) SELECT policies.n + mapped.n FROM policies, mapped",
}
_CHARTS = (
    "SELECT count(DISTINCT c.app_id) FROM charts c JOIN chart_ref r ON r.id = c.chart_ref_id"
    " JOIN app a ON a.id = c.app_id WHERE c.active = true AND a.active = true"
    " AND r.active = true AND r.name = '{}'"
)
_LANGUAGES = (
    "SELECT DISTINCT coalesce(c.build_metadata::jsonb ->> 'language', 'unknown')"
    " FROM ci_build_config c JOIN ci_template t ON t.ci_build_config_id = c.id"
    " JOIN app a ON a.id = t.app_id WHERE c.type = '{}' AND t.active = true AND a.active = true"
    " AND c.build_metadata IS NOT NULL ORDER BY 1"
)
_CONFIG_MAPS = (
    "SELECT (SELECT count(*) FROM config_map_app_level c JOIN app a ON a.id = c.app_id"
    " WHERE a.active = true AND EXISTS (SELECT 1 FROM jsonb_array_elements("
    "c.config_map_data::jsonb -> 'maps') e WHERE e ->> 'external' = '{0}'))"
    " + (SELECT count(*) FROM config_map_env_level c JOIN environment e ON e.id = c.environment_id"
    " WHERE c.deleted = false AND e.active = true AND EXISTS (SELECT 1 FROM jsonb_array_elements("
    "c.config_map_data::jsonb -> 'maps') m WHERE m ->> 'external' = '{0}'))"
)
_HIGHEST = "SELECT coalesce(max(n), 0) FROM (SELECT {} AS n FROM {} GROUP BY {}) AS per_group"
_LIVE_PIPELINES = (
    "pipeline p JOIN app a ON a.id = p.app_id WHERE p.deleted = false AND a.active = true"
)
_74_TO_97 = {
    "gitOpsPipelineCount": "SELECT count(*) FROM pipeline WHERE deleted = false"
    " AND deployment_app_type = 'argo_cd'",
    "helmPipelineCount": "SELECT count(*) FROM pipeline WHERE deleted = false"
    " AND deployment_app_type = 'helm'",
    "projectsWithZeroAppsCount": "SELECT count(*) FROM team t WHERE t.active = true"
    " AND NOT EXISTS (SELECT 1 FROM app a WHERE a.team_id = t.id AND a.active = true)",
    "appsWithPropagationTagsCount": "SELECT count(DISTINCT l.app_id) FROM app_label l"
    " JOIN app a ON a.id = l.app_id WHERE l.propagate = true AND a.active = true",
    "appsWithNonPropagationTagsCount": "SELECT count(DISTINCT l.app_id) FROM app_label l"
    " JOIN app a ON a.id = l.app_id WHERE l.propagate = false AND a.active = true",
    "appsWithDescriptionCount": "SELECT count(*) FROM (SELECT id FROM app WHERE active = true"
    " AND trim(coalesce(description, '')) <> '' UNION SELECT id FROM installed_apps"
    " WHERE active = true AND trim(coalesce(notes, '')) <> '') AS described",
    "appsWithCatalogDataCount": "SELECT count(DISTINCT ia.id) FROM installed_apps ia"
    " JOIN installed_app_versions v ON v.installed_app_id = ia.id"
    " JOIN app_store_application_version s ON s.id = v.app_store_application_version_id"
    " WHERE ia.active = true AND v.active = true",
    "appsWithReadmeDataCount": "SELECT count(DISTINCT n.identifier) FROM generic_note n"
    " JOIN app a ON a.id = n.identifier WHERE n.identifier_type = 1 AND a.active = true"
    " AND trim(n.description) <> ''",
    "highestEnvironmentCountInApp": _HIGHEST.format(
        "count(DISTINCT p.environment_id)", _LIVE_PIPELINES, "p.app_id"
    ),
    "highestAppCountInEnvironment": _HIGHEST.format(
        "count(DISTINCT p.app_id)", _LIVE_PIPELINES, "p.environment_id"
    ),
    "highestWorkflowCountInApp": _HIGHEST.format(
        "count(*)",
        "app_workflow f JOIN app a ON a.id = f.app_id WHERE f.active = true AND a.active = true",
        "f.app_id",
    ),
    "highestEnvironmentCountInWorkflow": _HIGHEST.format(
        "count(DISTINCT p.environment_id)",
        "app_workflow_mapping m JOIN pipeline p ON p.id = m.component_id JOIN app_workflow f"
        " ON f.id = m.app_workflow_id WHERE m.type = 'CD_PIPELINE' AND m.active = true"
        " AND f.active = true AND p.deleted = false",
        "m.app_workflow_id",
    ),
    "highestGitRepoCountInApp": _HIGHEST.format(
        "count(*)",
        "git_material g JOIN app a ON a.id = g.app_id WHERE g.active = true AND a.active = true",
        "g.app_id",
    ),
    "appsWithIncludeExcludeFilesCount": "SELECT count(DISTINCT g.app_id) FROM git_material g"
    " JOIN app a ON a.id = g.app_id WHERE g.active = true AND a.active = true"
    " AND json_array_length(g.filter_pattern) > 0",
    "dockerfileLanguagesList": _LANGUAGES.format("MANAGED_DOCKERFILE_BUILD_TYPE"),
    "buildpackLanguagesList": _LANGUAGES.format("BUILDPACK_BUILD_TYPE"),
    "appsWithDeploymentChartCount": _CHARTS.format("Deployment"),
    "appsWithRolloutChartCount": _CHARTS.format("Rollout Deployment"),
    "appsWithStatefulsetCount": _CHARTS.format("StatefulSet"),
    "appsWithJobsCronjobsCount": _CHARTS.format("Cron Job & Job"),
    "environmentsWithPatchStrategyCount": "SELECT count(DISTINCT o.target_environment)"
    " FROM chart_env_config_override o JOIN environment e ON e.id = o.target_environment"
    " WHERE o.active = true AND e.active = true AND o.merge_strategy = 'patch'",
    "environmentsWithReplaceStrategyCount": "SELECT count(DISTINCT o.target_environment)"
    " FROM chart_env_config_override o JOIN environment e ON e.id = o.target_environment"
    " WHERE o.active = true AND e.active = true AND o.merge_strategy = 'replace'",
    "externalConfigMapCount": _CONFIG_MAPS.format("true"),
    "internalConfigMapCount": _CONFIG_MAPS.format("false"),
}
_LISTS = {"dockerfileLanguagesList", "buildpackLanguagesList"}
_LAST_LOGIN = (
    "SELECT id, user_id, client_ip, created_on, updated_on FROM user_audit"
    " WHERE updated_on IS NOT NULL ORDER BY updated_on DESC LIMIT 1"
)


class _Go:
    """One Summary, statement by statement, on autocommit connections as go-pg's pool gives."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.values: dict[str, Any] = {}

    def rows(self, sql: str) -> list[Any]:
        return list(self._conn.execute(text(sql), {"since": _SINCE}).all())

    def scalar(self, key: str, sql: str) -> None:
        try:
            self.values[key] = self._conn.execute(text(sql), {"since": _SINCE}).scalar_one()
        except DBAPIError:
            self.values[key] = -1  # Go logs the error and sends -1

    def summary(self) -> dict[str, Any]:
        self.values["userCount"] = len(self.rows(_USERS))
        self.values["clusterCount"] = len(self.rows(_CLUSTERS))  # then decrypted, in Go
        for key in ("url", "HelmAppAccessCounter", "ChartStoreVisitCount", "HelmAppUpdateCounter"):
            found = self.rows(f"SELECT * FROM attributes WHERE key = '{key}' AND active = true")
            self.values[key] = found[0].value if len(found) == 1 else None
        self.scalar(
            "helmChartSuccessfulDeploymentCount",
            "select count(id) from installed_apps where status = 6",
        )
        self.values["SkippedOnboarding"] = bool(
            self.rows("SELECT * FROM user_attributes WHERE email_id ILIKE 'admin' LIMIT 1")
        )
        self.values["ssoLogin"] = bool(
            self.rows("SELECT * FROM sso_login_config ORDER BY updated_on DESC")
        )
        for key, sql in _COUNTS_7.items():
            self.scalar(key, sql)
        apps = self.rows(_APPS)
        self.values["appCount"] = len(apps)
        if len(apps) < 50:
            ids = ", ".join(str(row.id) for row in apps) or "NULL"
            for key, where in _CONFIGURED.items():
                self.scalar(
                    key,
                    "WITH _count_wrapper AS (SELECT DISTINCT app_id FROM"
                    f" {where} app_id IN ({ids})) SELECT count(*) FROM _count_wrapper",
                )
        self.values["build"] = bool(
            self.rows("SELECT * FROM ci_workflow WHERE status = 'Succeeded'")
        )
        self.values["deployment"] = bool(
            self.rows("SELECT * FROM cd_workflow_runner WHERE status = 'Healthy'")
        )
        modules = self.rows("SELECT id, name, version, status, updated_on, 1, 2 FROM module")
        self.values["installedIntegrations"] = [m.name for m in modules if m.status == "installed"]
        self.rows("SELECT type, count(*) FROM ci_build_config GROUP BY type")
        self.rows(
            "SELECT status, ci_build_type, count(*) FROM ci_workflow"
            " WHERE status IN ('Succeeded', 'Failed') AND started_on > :since"
            " GROUP BY ci_build_type, status"
        )
        for key, sql in _STEP_13.items():
            self.scalar(key, sql)
        for key, sql in _ROWS_13.items():
            self.values[key] = len(self.rows(sql))
        for key, sql in _POLICIES_13.items():
            self.scalar(key, sql)
        self.values["tagsPolicyCount"] = len(
            self.rows("SELECT * FROM plugin_tag WHERE deleted = false")
        )
        for key, sql in _AFTER_TAGS.items():
            self.scalar(key, sql)
        clusters = self.rows(_CLUSTERS)  # cluster again, for physical and isolated
        self.values["physicalClusterCount"] = sum(not c.is_virtual_cluster for c in clusters)
        self.scalar(
            "activeUsersLast30Days",
            "WITH _count_wrapper AS (SELECT COUNT(DISTINCT user_id) FROM user_audit"
            " WHERE updated_on >= :since - interval '29 days') SELECT count(*) FROM _count_wrapper",
        )
        for key, sql in _74_TO_97.items():
            if key in _LISTS:
                self.values[key] = [row[0] for row in self.rows(sql)]
            else:
                self.scalar(key, sql)
        latest = self.rows(_LAST_LOGIN)
        self.values["LastLoginTime"] = latest[0].updated_on if latest else None
        return self.values


_SINCE = ANCHOR - timedelta(days=1)  # Go: now - 1 day, at the anchor


# The statements that are the same SQL in both strategies and cost the most: with no index on
# the join keys they read the pipelines and workflow mappings whole, whoever asks.
SHARED = (
    "highestEnvironmentCountInApp",
    "highestAppCountInEnvironment",
    "highestEnvironmentCountInWorkflow",
)


def shared(engine: Engine) -> dict[str, Any]:
    """Only the metrics whose statement is the same in both strategies (SHARED)."""
    with engine.connect() as conn:
        go = _Go(conn)
        for key in SHARED:
            go.scalar(key, _74_TO_97[key])
        return go.values


def go_full(engine: Engine) -> dict[str, Any]:
    """The FULL Summary as today's Go orchestrator reads it."""
    with engine.connect() as conn:
        return _Go(conn).summary()
